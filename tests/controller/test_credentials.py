"""Credentials are renewed as client-go renews them: the rules alone, then against the real API server.

The cluster tests authenticate to the API server with a real exec plugin (a Python script that counts its
runs), a real token file, and real client certificates signed by the control plane's CA; the identity the
server saw is read back from a SelfSubjectReview.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.controller import credentials
from datamesh.controller.credentials import (
    Authenticator,
    Config,
    CredentialError,
    ExecConfig,
    Lease,
    parse_exec_credential,
    parse_kubeconfig,
)
from datamesh.controller.kube import ApiError, Kube

V1 = "client.authentication.k8s.io/v1"
NOW = 1_800_000_000.0


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def credential(status: dict[str, Any], api_version: str = V1) -> str:
    return json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "status": status})


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------------ kubeconfig


def kubeconfig(user: dict[str, Any], cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "clusters": [
            {"name": "c", "cluster": cluster or {"server": "https://k:6443/", "certificate-authority": "ca.crt"}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def test_kubeconfig_paths_are_relative_to_their_file_and_the_first_file_wins() -> None:
    first = kubeconfig({"tokenFile": "token"})
    second = kubeconfig({"token": "ignored"}, {"server": "https://other:1"})
    second["current-context"] = "ignored-too"
    config = parse_kubeconfig([(Path("/etc/a/config"), first), (Path("/etc/b/config"), second)])
    assert config.server == "https://k:6443"
    assert config.ca_file == "/etc/a/ca.crt"
    assert config.token_file == "/etc/a/token"
    assert config.token is None


def test_exec_stanza_is_read_with_a_relative_command_resolved_like_kubectl() -> None:
    raw = {"apiVersion": V1, "command": "./bin/login", "args": ["--x"], "env": [{"name": "A", "value": "1"}]}
    config = parse_kubeconfig([(Path("/home/me/.kube/config"), kubeconfig({"exec": raw}))])
    assert config.exec == ExecConfig("/home/me/.kube/bin/login", ("--x",), (("A", "1"),), V1)
    bare = parse_kubeconfig([(Path("/k/config"), kubeconfig({"exec": {"apiVersion": V1, "command": "gke-auth"}}))])
    assert bare.exec is not None and bare.exec.command == "gke-auth"


def test_inline_certificates_become_private_files() -> None:
    cert, key = "-----BEGIN CERTIFICATE-----\nx\n", "-----BEGIN PRIVATE KEY-----\ny\n"
    user = {"client-certificate-data": base64.b64encode(cert.encode()).decode(),
            "client-key-data": base64.b64encode(key.encode()).decode()}  # fmt: skip
    config = parse_kubeconfig([(Path("/k/config"), kubeconfig(user))])
    assert config.cert_file and config.key_file
    assert Path(config.cert_file).read_text() == cert
    assert Path(config.key_file).stat().st_mode & 0o077 == 0
    shutil.rmtree(Path(config.cert_file).parent)


@pytest.mark.parametrize(
    ("user", "stanza", "named"),
    [
        ({"token": "t", "as": "admin"}, None, "users[u].as: impersonation"),
        ({"username": "a", "password": "b"}, None, "users[u].username: basic"),
        ({"auth-provider": {"name": "gcp"}}, None, "users[u].auth-provider"),
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}}, None, "exec.apiVersion"),
        ({"exec": {"apiVersion": V1, "command": "x", "interactiveMode": "Always"}}, None, "interactiveMode"),
        ({"client-certificate": "c.crt"}, None, "both a client certificate and its key"),
        ({"token": "t"}, {"server": "https://k", "tls-server-name": "n"}, "clusters[c].tls-server-name"),
        ({"token": "t"}, {"server": ""}, "clusters[c].server is empty"),
        ({"token": "t"}, {"server": "https://k", "certificate-authority-data": "%%%"}, "not base64"),
    ],
)
def test_what_cannot_be_honoured_is_refused_with_its_field(
    user: dict[str, Any], stanza: dict[str, Any] | None, named: str
) -> None:
    # (`stanza`, not `cluster`: the session conftest marks tests with a `cluster` argument as cluster tests.)
    with pytest.raises(CredentialError, match=re.escape(named)):
        parse_kubeconfig([(Path("/k/config"), kubeconfig(user, stanza))])


def test_a_missing_context_is_refused() -> None:
    with pytest.raises(CredentialError, match="context 'y' is not defined"):
        parse_kubeconfig([(Path("/k/config"), kubeconfig({"token": "t"}))], context="y")


def test_in_cluster_reads_the_token_file_not_a_copy(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    config = credentials.in_cluster_config(environ, tmp_path)
    assert config == Config(
        "https://[fd00::1]:443", ca_file=str(tmp_path / "ca.crt"), token_file=str(tmp_path / "token")
    )
    assert credentials.in_cluster_config({**environ, "KUBERNETES_SERVICE_HOST": ""}, tmp_path) is None


# -------------------------------------------------------------------------------------- ExecCredential


def test_an_exec_credential_is_renewed_ten_seconds_before_it_expires() -> None:
    lease = parse_exec_credential(credential({"token": "t", "expirationTimestamp": iso(NOW + 3600)}), V1, NOW)
    assert (lease.token, lease.refresh_at) == ("t", NOW + 3590)
    assert not credentials.due(lease, NOW + 3589)
    assert credentials.due(lease, NOW + 3590)


def test_a_short_lived_exec_credential_is_renewed_at_half_its_life() -> None:
    lease = parse_exec_credential(credential({"token": "t", "expirationTimestamp": iso(NOW + 8)}), V1, NOW)
    assert lease.refresh_at == NOW + 4


def test_an_exec_credential_without_expiry_is_kept_until_refused() -> None:
    lease = parse_exec_credential(credential({"token": "t"}), V1, NOW)
    assert lease.refresh_at is None and not credentials.due(lease, NOW + 10**9)


@pytest.mark.parametrize(
    ("output", "named"),
    [
        ("not json", "not JSON"),
        (json.dumps({"kind": "Other"}), "not an ExecCredential"),
        (credential({"token": "t"}, "client.authentication.k8s.io/v1beta1"), "apiVersion"),
        (credential({}), "neither a token nor a client certificate"),
        (credential({"clientCertificateData": "c"}), "only one of"),
        (credential({"token": "t", "expirationTimestamp": "soon"}), "expirationTimestamp"),
    ],
)
def test_a_bad_exec_credential_is_refused(output: str, named: str) -> None:
    with pytest.raises(CredentialError, match=named):
        parse_exec_credential(output, V1, NOW)


def test_cluster_info_is_given_to_the_plugin_only_when_it_asks() -> None:
    plain = Config("https://k", ca_data="PEM", exec=ExecConfig("x", api_version=V1))
    assert json.loads(credentials.exec_info(plain))["spec"] == {"interactive": False}
    asking = Config("https://k", ca_data="PEM", exec=ExecConfig("x", api_version=V1, provide_cluster_info=True))
    cluster = json.loads(credentials.exec_info(asking))["spec"]["cluster"]
    assert cluster["server"] == "https://k" and base64.b64decode(cluster["certificate-authority-data"]) == b"PEM"


# -------------------------------------------------------------------------------------------- Authenticator


class CountingReader:
    """Hands out token-1, token-2, ... with the refresh time a token file gets, counting reads."""

    def __init__(self, period: float | None = credentials.TOKEN_FILE_PERIOD, tokens: list[str] | None = None) -> None:
        self.period, self.tokens, self.reads = period, tokens, 0

    async def __call__(self, config: Config, now: float) -> Lease:
        self.reads += 1
        await asyncio.sleep(0)  # let concurrent callers pile up behind the lock
        token = self.tokens[self.reads - 1] if self.tokens else f"token-{self.reads}"
        return Lease(token, now, None if self.period is None else now + self.period)


def test_a_token_file_is_read_again_after_a_minute_and_concurrent_requests_share_one_read() -> None:
    clock, reader = FakeClock(NOW), CountingReader()
    auth = Authenticator(Config("https://k", token_file="/t"), clock, reader)

    async def scenario() -> list[str | None]:
        first = await asyncio.gather(*(auth.current() for _ in range(8)))
        clock.now += 59
        same = await auth.current()
        clock.now += 1
        later = await asyncio.gather(*(auth.current() for _ in range(8)))
        return [lease.token for lease in (*first, same, *later)]

    tokens = asyncio.run(scenario())
    assert tokens == ["token-1"] * 9 + ["token-2"] * 8
    assert reader.reads == 2


def test_a_refused_credential_is_renewed_once_and_a_static_one_is_final() -> None:
    reader = CountingReader(period=None)
    auth = Authenticator(Config("https://k", exec=ExecConfig("x")), FakeClock(NOW), reader)

    async def scenario() -> tuple[Lease, Lease | None, Lease | None]:
        used = await auth.current()
        # Two requests refused with the same credential: one renewal, both retry with it.
        fresh, again = await asyncio.gather(auth.refused(used), auth.refused(used))
        return used, fresh, again

    used, fresh, again = asyncio.run(scenario())
    assert used.token == "token-1"
    assert fresh is not None and again is not None and fresh.token == again.token == "token-2"
    assert reader.reads == 2

    static = Authenticator(Config("https://k", token="t"), FakeClock(NOW))
    assert asyncio.run(static.refused(asyncio.run(static.current()))) is None


def test_a_renewal_that_gives_the_same_token_is_not_retried() -> None:
    auth = Authenticator(Config("https://k", token_file="/t"), FakeClock(NOW), CountingReader(tokens=["same", "same"]))

    async def scenario() -> Lease | None:
        return await auth.refused(await auth.current())

    assert asyncio.run(scenario()) is None


# ---------------------------------------------------------------------------------- the real API server

PLUGIN = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime
    from pathlib import Path

    state = Path(sys.argv[1])
    runs = int((state / "runs").read_text() or 0) + 1 if (state / "runs").exists() else 1
    (state / "runs").write_text(str(runs))
    tokens = (state / "tokens").read_text().split()
    spec = json.loads(__import__("os").environ["KUBERNETES_EXEC_INFO"])["spec"]
    assert spec["interactive"] is False
    expiry = datetime.fromtimestamp(time.time() + float((state / "lifetime").read_text()), UTC)
    print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                      "status": {"token": tokens[min(runs, len(tokens)) - 1],
                                 "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
    """
)


@pytest.fixture
def api(cluster: Any) -> dict[str, Any]:
    """The API server's address, CA and admin token, from the session's kubeconfig."""
    document = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config = parse_kubeconfig([(Path(cluster.kubeconfig).resolve(), document)])
    assert config.token, "these tests need a token-authenticated kubeconfig"
    admin = Kube(Config(config.server, ca_file=config.ca_file, ca_data=config.ca_data, token=config.token))

    async def admin_user() -> str:
        try:
            return await whoami(admin)
        finally:
            await admin.close()

    return {"server": config.server, "ca_file": config.ca_file, "ca_data": config.ca_data, "token": config.token,
            "user": asyncio.run(admin_user())}  # fmt: skip


@pytest.fixture
def service_account(cluster: Any, namespace: str) -> Iterator[tuple[str, str]]:
    cluster.kubectl("create", "serviceaccount", "probe", "-n", namespace)
    token = cluster.kubectl("create", "token", "probe", "-n", namespace, "--duration=10m").stdout.strip()
    yield token, f"system:serviceaccount:{namespace}:probe"


async def whoami(kube: Kube) -> str:
    review = await kube.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(review["status"]["userInfo"]["username"])


def plugin_config(api: dict[str, Any], state: Path) -> Config:
    (state / "plugin.py").write_text(PLUGIN)
    raw = {
        "clusters": [{"name": "c", "cluster": {"server": api["server"], "certificate-authority": api["ca_file"]}}],
        "users": [{"name": "u", "user": {"exec": {"apiVersion": V1, "command": sys.executable,
                                                  "args": [str(state / "plugin.py"), str(state)]}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }  # fmt: skip
    (state / "kubeconfig").write_text(yaml.safe_dump(raw))
    return credentials.load_config(str(state / "kubeconfig"))


def test_an_exec_plugin_is_run_again_before_its_credential_expires(
    api: dict[str, Any], service_account: tuple[str, str], tmp_path: Path
) -> None:
    sa_token, sa_user = service_account
    (tmp_path / "tokens").write_text(f"{api['token']} {sa_token}")
    (tmp_path / "lifetime").write_text("3600")
    clock = FakeClock(datetime.now(UTC).timestamp())
    kube = Kube(plugin_config(api, tmp_path), clock=clock)

    async def scenario() -> list[tuple[str, str]]:
        seen = []
        for advance in (0, 60, 3535):  # the credential lives an hour: renewed 10 s before, not earlier
            clock.now += advance
            seen.append((await whoami(kube), (tmp_path / "runs").read_text()))
        await kube.close()
        return seen

    first, cached, renewed = asyncio.run(scenario())
    assert first == (api["user"], "1")
    assert cached == (first[0], "1")
    assert renewed == (sa_user, "2")


def test_a_refused_exec_credential_runs_the_plugin_again_and_the_request_is_retried_once(
    api: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "tokens").write_text(f"expired-{uuid.uuid4().hex} {api['token']}")
    (tmp_path / "lifetime").write_text("3600")
    kube = Kube(plugin_config(api, tmp_path))

    async def scenario() -> str:
        try:
            return await whoami(kube)
        finally:
            await kube.close()

    assert asyncio.run(scenario())  # the first token was refused; the plugin's second one got through
    assert (tmp_path / "runs").read_text() == "2"

    # A plugin that only has bad tokens: one retry, then the 401 surfaces (no loop).
    (tmp_path / "tokens").write_text("bad-1 bad-2 bad-3")
    (tmp_path / "runs").unlink()
    kube = Kube(plugin_config(api, tmp_path))
    with pytest.raises(ApiError) as refused:
        asyncio.run(scenario())
    assert refused.value.status == 401
    assert (tmp_path / "runs").read_text() == "2"


def test_the_in_cluster_token_file_is_read_again_every_minute_and_after_a_401(
    api: dict[str, Any], service_account: tuple[str, str], tmp_path: Path
) -> None:
    sa_token, sa_user = service_account
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "ca.crt").write_text(Path(api["ca_file"]).read_text() if api["ca_file"] else api["ca_data"])
    (account / "token").write_text("rotated-away")
    host, port = api["server"].removeprefix("https://").rsplit(":", 1)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    config = credentials.in_cluster_config(environ, account)
    assert config is not None
    clock = FakeClock(datetime.now(UTC).timestamp())
    kube = Kube(config, clock=clock)

    async def scenario() -> list[str]:
        seen = []
        with pytest.raises(ApiError) as refused:  # the file holds a dead token: re-read, still dead: 401
            await whoami(kube)
        seen.append(str(refused.value.status))
        (account / "token").write_text(sa_token + "\n")  # the kubelet rotated it: the next 401 re-reads it
        seen.append(await whoami(kube))
        (account / "token").write_text(api["token"])  # rotated again: picked up within the minute, no 401
        clock.now += 30
        seen.append(await whoami(kube))
        clock.now += 31
        seen.append(await whoami(kube))
        await kube.close()
        return seen

    assert asyncio.run(scenario()) == ["401", sa_user, sa_user, api["user"]]


def client_cert(pki: Path, into: Path, user: str) -> tuple[Path, Path]:
    """A client certificate for `user`, signed by the control plane's CA (which the API server trusts)."""
    key, csr, crt, ext = (into / f"{user}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("genrsa", "-out", str(key), "2048")
    run("req", "-new", "-key", str(key), "-subj", f"/CN={user}", "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-set_serial", str(uuid.uuid4().int), "-out", str(crt), "-days", "1", "-extfile", str(ext))  # fmt: skip
    return crt, key


def test_client_certificate_files_are_read_again_when_they_change(
    cluster: Any, api: dict[str, Any], tmp_path: Path
) -> None:
    assert cluster.plane is not None, "signing client certificates needs the local control plane's CA"
    issued = tmp_path / "issued"
    issued.mkdir()
    alice, bob = client_cert(cluster.plane.pki, issued, "alice"), client_cert(cluster.plane.pki, issued, "bob")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(alice[0], cert), shutil.copy(alice[1], key)
    kube = Kube(Config(api["server"], ca_file=api["ca_file"], ca_data=api["ca_data"], cert_file=str(cert),
                       key_file=str(key)))  # fmt: skip

    async def scenario() -> list[str]:
        seen = [await whoami(kube)]
        # Renewed on disk the way cert-manager or kubeadm do it: new files moved into place.
        for source, target in ((bob[0], cert), (bob[1], key)):
            shutil.copy(source, target.with_suffix(".new"))
            target.with_suffix(".new").replace(target)
        seen.append(await whoami(kube))
        await kube.close()
        return seen

    assert asyncio.run(scenario()) == ["alice", "bob"]


def test_an_unreadable_token_file_keeps_the_last_token_and_is_tried_again(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first")
    clock = FakeClock(NOW)
    auth = Authenticator(Config("https://k", token_file=str(token)), clock)

    async def scenario() -> list[str | None]:
        seen = [(await auth.current()).token]
        token.unlink()  # mid rotation
        clock.now += 61
        seen.append((await auth.current()).token)
        token.write_text("second")
        seen.append((await auth.current()).token)
        return seen

    assert asyncio.run(scenario()) == ["first", "first", "second"]
