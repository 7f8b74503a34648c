"""Certificates and keys for the local control plane, made with the openssl command line.

One CA signs the API server's serving certificate (and, later, the operator's webhook certificate);
one RSA key signs and verifies service-account tokens.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def ensure_ca(directory: Path) -> tuple[Path, Path]:
    """A CA certificate and key in `directory` (made once)."""
    directory.mkdir(parents=True, exist_ok=True)
    crt, key = directory / "ca.crt", directory / "ca.key"
    if not crt.exists() or not key.exists():
        _openssl("genrsa", "-out", key.name, "2048", cwd=directory)
        _openssl(
            "req", "-x509", "-new", "-nodes", "-key", key.name, "-sha256", "-days", "3650",
            "-subj", "/CN=datamesh-devcluster-ca", "-out", crt.name, cwd=directory,
        )  # fmt: skip
    return crt, key


def issue_serving_cert(directory: Path, name: str, hosts: list[str], ips: list[str]) -> tuple[Path, Path]:
    """A serving certificate `name.crt`/`name.key` signed by the CA in `directory`, for the given SANs."""
    ca_crt, ca_key = ensure_ca(directory)
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    sans = ",".join([f"DNS:{h}" for h in hosts] + [f"IP:{i}" for i in ips])
    ext = directory / f"{name}.ext"
    # Reissued when the names change (a folder made before the node moved the API server to its bridge).
    if crt.exists() and key.exists() and ext.exists() and f"subjectAltName={sans}\n" in ext.read_text():
        return crt, key
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n"
    )
    _openssl("genrsa", "-out", key.name, "2048", cwd=directory)
    _openssl("req", "-new", "-key", key.name, "-subj", f"/CN={hosts[0]}", "-out", f"{name}.csr", cwd=directory)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", ca_crt.name, "-CAkey", ca_key.name, "-CAcreateserial",
        "-out", crt.name, "-days", "3650", "-sha256", "-extfile", ext.name, cwd=directory,
    )  # fmt: skip
    return crt, key


def ensure_service_account_key(directory: Path) -> tuple[Path, Path]:
    """The key pair that signs service-account tokens."""
    key, pub = directory / "sa.key", directory / "sa.pub"
    if not key.exists() or not pub.exists():
        _openssl("genrsa", "-out", key.name, "2048", cwd=directory)
        _openssl("rsa", "-in", key.name, "-pubout", "-out", pub.name, cwd=directory)
    return key, pub
