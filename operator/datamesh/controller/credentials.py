"""Where the operator's API credentials come from, and when to read them again (the rules client-go follows).

Credentials expire: a pod's bound service-account token is rotated by the kubelet, an exec plugin (cloud
logins, `kubectl oidc-login`) hands out tokens that live minutes, certificates are renewed on disk. An
operator that read them once stops working an hour later. So every credential is a `Lease`: what was read,
when, and when it is due again:

- a token file (the in-cluster service account, or a kubeconfig `tokenFile`) is re-read every minute, as
  client-go's cached file token source does, and at once after a 401 (while it cannot be read, the last token
  stays in use);
- an exec plugin's ExecCredential is kept until shortly before its `status.expirationTimestamp` (10 s, or half
  the lifetime of a shorter one), and the plugin is run again then, or at once after a 401; one without an
  expiry is kept until a 401;
- a static token or certificate from the kubeconfig never changes, so a 401 is final;
- client certificate files are the transport's business (`kube.Kube` re-reads them when they change on disk).

The decisions (`parse_kubeconfig`, `parse_exec_credential`, `due`) are pure; `Authenticator` adds the I/O
(files, the plugin's process) and an injectable clock, and makes concurrent requests share one refresh.
What cannot be honoured is refused with the field that asked for it (impersonation, basic auth, removed
auth-providers, interactive plugins), never ignored: ignoring it would act as someone else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

#: client-go's file token source: a token file is read again after a minute.
TOKEN_FILE_PERIOD = 60.0
#: An ExecCredential is renewed this long before it expires (or at half its life, when that is shorter).
EXEC_LEEWAY = 10.0
#: A plugin that has not answered by then is broken; the request fails rather than hangs.
EXEC_TIMEOUT = 60.0
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

LOG = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds (an ExecCredential's expiry is a wall-clock time)."""


class CredentialError(Exception):
    """The configuration asks for something we cannot do safely, or a credential could not be read."""


@dataclass(frozen=True)
class ExecConfig:
    """A kubeconfig `users[].user.exec` stanza."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = EXEC_API_VERSIONS[0]
    provide_cluster_info: bool = False


@dataclass(frozen=True)
class Config:
    """Everything needed to reach and authenticate to one API server."""

    server: str
    ca_file: str | None = None
    ca_data: str | None = None
    verify: bool = True
    token: str | None = None
    token_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    exec: ExecConfig | None = None


@dataclass(frozen=True)
class Lease:
    """A credential as read at `read_at`, due again at `refresh_at` (None: only when the server refuses it)."""

    token: str | None
    read_at: float
    refresh_at: float | None = None
    cert_file: str | None = None
    key_file: str | None = None
    #: The certificate files were written for this Lease (a plugin's), and go when it is replaced.
    owns_files: bool = False


def due(lease: Lease | None, now: float) -> bool:
    return lease is None or (lease.refresh_at is not None and now >= lease.refresh_at)


# ---------------------------------------------------------------------------------------------- kubeconfig


def parse_kubeconfig(files: Sequence[tuple[Path, Mapping[str, Any]]], context: str | None = None) -> Config:
    """The Config of the current (or the named) context of one or more kubeconfig files, merged as kubectl
    merges KUBECONFIG: the first file that names a cluster, user or context wins, and relative paths are
    relative to the file that holds them."""
    clusters: dict[str, tuple[Path, Mapping[str, Any]]] = {}
    users: dict[str, tuple[Path, Mapping[str, Any]]] = {}
    contexts: dict[str, Mapping[str, Any]] = {}
    current = context
    for path, document in files:
        for key, into in (("clusters", clusters), ("users", users)):
            for entry in document.get(key) or []:
                into.setdefault(str(entry.get("name")), (path.parent, entry.get(key[:-1]) or {}))
        for entry in document.get("contexts") or []:
            contexts.setdefault(str(entry.get("name")), entry.get("context") or {})
        current = current or document.get("current-context") or None
    if not current:
        raise CredentialError("kubeconfig: no current-context, and none was named")
    if current not in contexts:
        raise CredentialError(f"kubeconfig: context {current!r} is not defined")
    chosen = contexts[current]
    cluster_name, user_name = str(chosen.get("cluster")), chosen.get("user")
    if cluster_name not in clusters:
        raise CredentialError(f"kubeconfig: context {current!r} names cluster {cluster_name!r}, which is not defined")
    base, cluster = clusters[cluster_name]
    for unsupported in ("proxy-url", "tls-server-name"):
        if cluster.get(unsupported):
            raise CredentialError(f"kubeconfig: clusters[{cluster_name}].{unsupported} is not supported")
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise CredentialError(f"kubeconfig: clusters[{cluster_name}].server is empty")
    config = Config(
        server=server,
        ca_file=_path(base, cluster.get("certificate-authority")),
        ca_data=_decoded(cluster.get("certificate-authority-data"), f"clusters[{cluster_name}]"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
    )
    if user_name is None:
        return config
    if str(user_name) not in users:
        raise CredentialError(f"kubeconfig: context {current!r} names user {user_name!r}, which is not defined")
    return _with_user(config, str(user_name), *users[str(user_name)])


def _with_user(config: Config, name: str, base: Path, user: Mapping[str, Any]) -> Config:
    where = f"users[{name}]"
    refusals = {
        "username": "basic authentication is not supported",
        "password": "basic authentication is not supported",
        "auth-provider": "auth-providers were removed from Kubernetes clients; use an exec plugin",
        "as": "impersonation is not supported",
        "as-uid": "impersonation is not supported",
        "as-groups": "impersonation is not supported",
        "as-user-extra": "impersonation is not supported",
    }
    for key, reason in refusals.items():
        if user.get(key):
            raise CredentialError(f"kubeconfig: {where}.{key}: {reason}")
    cert_file = _path(base, user.get("client-certificate"))
    key_file = _path(base, user.get("client-key"))
    cert_data = _decoded(user.get("client-certificate-data"), where)
    key_data = _decoded(user.get("client-key-data"), where)
    if cert_data or key_data:
        if not (cert_data and key_data):
            raise CredentialError(f"kubeconfig: {where} has only one of client-certificate-data and client-key-data")
        cert_file, key_file = write_private_pair(cert_data, key_data)
    if bool(cert_file) != bool(key_file):
        raise CredentialError(f"kubeconfig: {where} needs both a client certificate and its key")
    return Config(
        server=config.server,
        ca_file=config.ca_file,
        ca_data=config.ca_data,
        verify=config.verify,
        token=user.get("token") or None,
        token_file=_path(base, user.get("tokenFile")),
        cert_file=cert_file,
        key_file=key_file,
        exec=_exec_config(base, user.get("exec"), where),
    )


def _exec_config(base: Path, raw: Mapping[str, Any] | None, where: str) -> ExecConfig | None:
    if not raw:
        return None
    api_version = str(raw.get("apiVersion") or "")
    if api_version not in EXEC_API_VERSIONS:
        raise CredentialError(f"kubeconfig: {where}.exec.apiVersion {api_version!r} is not one of {EXEC_API_VERSIONS}")
    if raw.get("interactiveMode") == "Always":
        raise CredentialError(f"kubeconfig: {where}.exec.interactiveMode Always: an operator has no terminal")
    command = str(raw.get("command") or "")
    if not command:
        raise CredentialError(f"kubeconfig: {where}.exec.command is empty")
    # As kubectl: a relative command with a path separator is relative to the kubeconfig; a bare name is on PATH.
    if os.sep in command and not os.path.isabs(command):
        command = str(base / command)
    return ExecConfig(
        command=command,
        args=tuple(str(arg) for arg in raw.get("args") or ()),
        env=tuple((str(item["name"]), str(item["value"])) for item in raw.get("env") or ()),
        api_version=api_version,
        provide_cluster_info=bool(raw.get("provideClusterInfo")),
    )


def _path(base: Path, value: Any) -> str | None:
    if not value:
        return None
    return str(base / Path(str(value)).expanduser())


def _decoded(value: Any, where: str) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise CredentialError(f"kubeconfig: {where} holds *-data that is not base64 PEM: {error}") from error


def write_private_pair(cert: str, key: str) -> tuple[str, str]:
    """A certificate and key given inline, as files only this user can read (TLS libraries load files)."""
    directory = Path(tempfile.mkdtemp(prefix="datamesh-client-cert-"))
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    for path, text in ((cert_path, cert), (key_path, key)):
        path.touch(mode=0o600)
        path.write_text(text)
    return str(cert_path), str(key_path)


def load_config(kubeconfig: str | None = None, environ: Mapping[str, str] = os.environ) -> Config:
    """The explicit kubeconfig, else KUBECONFIG or ~/.kube/config when present, else the in-cluster account."""
    paths = [kubeconfig] if kubeconfig else [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if not paths and (Path.home() / ".kube" / "config").exists():
        paths = [str(Path.home() / ".kube" / "config")]
    if paths:
        files = []
        for path in paths:
            try:
                document = yaml.safe_load(Path(path).read_text()) or {}
            except FileNotFoundError:
                if kubeconfig:
                    raise
                continue  # kubectl skips KUBECONFIG entries that do not exist
            files.append((Path(path).resolve(), document))
        if files:
            return parse_kubeconfig(files)
    in_cluster = in_cluster_config(environ)
    if in_cluster is None:
        raise CredentialError("no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod (KUBERNETES_SERVICE_HOST)")
    return in_cluster


def in_cluster_config(
    environ: Mapping[str, str] = os.environ, directory: Path = Path(SERVICE_ACCOUNT_DIR)
) -> Config | None:
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (directory / "token").exists():
        return None
    host = f"[{host}]" if ":" in host else host
    return Config(
        server=f"https://{host}:{port}", ca_file=str(directory / "ca.crt"), token_file=str(directory / "token")
    )


# ------------------------------------------------------------------------------------------ exec plugins


def exec_info(config: Config) -> str:
    """KUBERNETES_EXEC_INFO for the plugin: never interactive; the cluster only when it asked for it."""
    assert config.exec is not None
    spec: dict[str, Any] = {"interactive": False}
    if config.exec.provide_cluster_info:
        cluster: dict[str, Any] = {"server": config.server, "insecure-skip-tls-verify": not config.verify}
        ca = config.ca_data or (Path(config.ca_file).read_text() if config.ca_file else None)
        if ca:
            cluster["certificate-authority-data"] = base64.b64encode(ca.encode()).decode()
        spec["cluster"] = cluster
    return json.dumps({"apiVersion": config.exec.api_version, "kind": "ExecCredential", "spec": spec})


def parse_exec_credential(output: str, api_version: str, now: float) -> Lease:
    """The Lease in a plugin's ExecCredential; refused unless it is one of the version asked for, with a token
    or a certificate and key."""
    try:
        document = json.loads(output)
    except ValueError as error:
        raise CredentialError(f"exec plugin: output is not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
        raise CredentialError("exec plugin: output is not an ExecCredential")
    if document.get("apiVersion") != api_version:
        raise CredentialError(f"exec plugin: apiVersion {document.get('apiVersion')!r}, expected {api_version!r}")
    status = document.get("status") or {}
    token = status.get("token") or None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if bool(cert) != bool(key):
        raise CredentialError("exec plugin: status has only one of clientCertificateData and clientKeyData")
    if not token and not cert:
        raise CredentialError("exec plugin: status has neither a token nor a client certificate")
    refresh_at = None
    expiry = status.get("expirationTimestamp")
    if expiry:
        try:
            expires_at = datetime.fromisoformat(str(expiry).replace("Z", "+00:00")).timestamp()
        except ValueError as error:
            raise CredentialError(f"exec plugin: status.expirationTimestamp {expiry!r}: {error}") from error
        refresh_at = expires_at - min(EXEC_LEEWAY, max(expires_at - now, 0.0) / 2)
    cert_file, key_file = write_private_pair(str(cert), str(key)) if cert else (None, None)
    return Lease(token, now, refresh_at, cert_file, key_file, owns_files=bool(cert))


async def run_plugin(config: Config, environ: Mapping[str, str] = os.environ) -> str:
    assert config.exec is not None
    env = {**environ, **dict(config.exec.env), "KUBERNETES_EXEC_INFO": exec_info(config)}
    try:
        process = await asyncio.create_subprocess_exec(
            config.exec.command,
            *config.exec.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        raise CredentialError(f"exec plugin {config.exec.command!r} cannot be started: {error}") from error
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT)
    except TimeoutError as error:
        process.kill()
        await process.wait()
        raise CredentialError(f"exec plugin {config.exec.command!r} did not answer in {EXEC_TIMEOUT:.0f} s") from error
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()[-500:]
        raise CredentialError(f"exec plugin {config.exec.command!r} exited {process.returncode}: {message}")
    return stdout.decode()


# -------------------------------------------------------------------------------------------- the source


class Reader(Protocol):
    async def __call__(self, config: Config, now: float) -> Lease: ...


async def read_lease(config: Config, now: float) -> Lease:
    """Read the credential the Config names: exec plugin first (kubectl's order), then a token file, then
    static material (which is never due again)."""
    if config.exec is not None:
        lease = parse_exec_credential(await run_plugin(config), config.exec.api_version, now)
        if lease.cert_file is None:  # a plugin that only gives a token leaves the kubeconfig's certificate in place
            lease = Lease(lease.token, lease.read_at, lease.refresh_at, config.cert_file, config.key_file)
        return lease
    if config.token_file:
        try:
            token = Path(config.token_file).read_text().strip()
        except OSError as error:
            raise CredentialError(f"token file {config.token_file}: {error}") from error
        return Lease(token or config.token, now, now + TOKEN_FILE_PERIOD, config.cert_file, config.key_file)
    return Lease(config.token, now, None, config.cert_file, config.key_file)


@dataclass
class Authenticator:
    """The current Lease of one Config, renewed when due or refused, one renewal at a time."""

    config: Config
    clock: Clock = time.time
    reader: Reader = read_lease
    _lease: Lease | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    @property
    def refreshable(self) -> bool:
        return self.config.exec is not None or self.config.token_file is not None

    async def current(self) -> Lease:
        lease = self._lease
        if lease is not None and not due(lease, self.clock()):
            return lease
        async with self._lock:
            if self._lease is lease or due(self._lease, self.clock()):  # nobody renewed it while we waited
                try:
                    await self._renew()
                except CredentialError as error:
                    # As client-go's cached token source: a token file that cannot be read just now (mid
                    # rotation) leaves the last token in use, and the next request tries again. A plugin's
                    # failure is not hidden: its credential is about to expire.
                    if self._lease is None or self.config.exec is not None:
                        raise
                    LOG.warning("keeping the current API token: %s", error)
            assert self._lease is not None
            return self._lease

    async def refused(self, used: Lease) -> Lease | None:
        """The server answered 401 to `used`: a new Lease to retry with once, or None when there is no other."""
        if not self.refreshable:
            return None
        async with self._lock:
            if self._lease is used or self._lease is None:
                await self._renew()
            fresh = self._lease
            assert fresh is not None
        same = (fresh.token, fresh.cert_file) == (used.token, used.cert_file)
        return None if same else fresh

    async def _renew(self) -> None:
        old, self._lease = self._lease, await self.reader(self.config, self.clock())
        if old is not None and old.owns_files:
            # The transport loaded them into its TLS context already; a plugin renewing often must not fill /tmp.
            for path in (old.cert_file, old.key_file):
                Path(path or "").unlink(missing_ok=True)
            if old.cert_file:
                Path(old.cert_file).parent.rmdir()
