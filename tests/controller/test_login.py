"""kopf's watches log in with the operator's own credentials (controller/login.py): told when a credential expires,
renewed at once when kopf asks again before that (the server refused it), and a static one handed back unchanged
(kopf then stops, as it must: a refused certificate does not get better)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import kopf

from datamesh.controller.credentials import Authenticator, Config, ExecConfig
from datamesh.controller.login import Login, connection_fields
from tests.controller.test_credentials import NOW, CountingReader, FakeClock


def test_a_token_file_credential_has_no_expiry_and_is_read_again_when_refused() -> None:
    """kopf closes a credential's watches at its expiry and lists everything again: a token file read every minute
    must not expire for kopf every minute."""
    clock = FakeClock(NOW)
    login = Login(Authenticator(Config("https://k:6443", ca_file="/ca.crt", token_file="/t"), clock, CountingReader()))
    fields = asyncio.run(login.fields())
    assert fields["token"] == "token-1" and fields["ca_path"] == "/ca.crt" and fields["ca_data"] is None
    assert fields["expiration"] is None
    kopf.ConnectionInfo(**fields)  # kopf accepts exactly these fields
    clock.now += 30  # kopf asks again well before a minute: refused, the file is read again
    assert asyncio.run(login.fields())["token"] == "token-2"


def test_an_exec_credential_expires_for_kopf_when_it_is_due() -> None:
    clock = FakeClock(NOW)
    login = Login(Authenticator(Config("https://k", exec=ExecConfig("plugin")), clock, CountingReader(period=600)))
    fields = asyncio.run(login.fields())
    assert fields["expiration"] == datetime.fromtimestamp(NOW + 600, UTC)
    clock.now += 600  # kopf asks again at the expiry: the plugin runs again
    assert asyncio.run(login.fields())["token"] == "token-2"


def test_asked_again_before_it_expired_means_refused_and_renews_at_once() -> None:
    reader = CountingReader(period=None)
    login = Login(Authenticator(Config("https://k", exec=ExecConfig("plugin")), FakeClock(NOW), reader))

    async def scenario() -> list[str | None]:
        return [(await login.fields())["token"] for _ in range(3)]

    assert asyncio.run(scenario()) == ["token-1", "token-2", "token-3"]
    assert reader.reads == 3


def test_a_static_credential_is_handed_back_unchanged() -> None:
    pem = "-----BEGIN CERTIFICATE-----\n..."
    config = Config("https://k", ca_data=pem, verify=False, cert_file="/c", key_file="/k")
    login = Login(Authenticator(config, FakeClock(NOW)))

    async def scenario() -> list[dict[str, object]]:
        return [await login.fields(), await login.fields()]

    first, again = asyncio.run(scenario())
    assert first == again
    assert first["certificate_path"] == "/c" and first["private_key_path"] == "/k" and first["expiration"] is None
    assert first["insecure"] is True and str(first["ca_data"]).startswith("-----BEGIN")


def test_fields_follow_the_configuration() -> None:
    from datamesh.controller.credentials import Lease

    fields = connection_fields(Config("https://k", token="t"), Lease("t", NOW))
    assert fields["insecure"] is None and fields["token"] == "t" and fields["certificate_path"] is None
