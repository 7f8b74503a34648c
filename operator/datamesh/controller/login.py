"""What kopf's watches log in with: the operator's own credentials (controller/credentials.py), renewed by the same
rules as its other requests.

Without a login handler of ours, kopf logs in through the official `kubernetes` client's kubeconfig loader, which
the operator would import for that alone (~34 MB resident for its whole life). kopf asks again when the server
refuses a credential (a 401), and then a refreshable one (exec plugin, token file) is renewed at once.

kopf closes every watch stream of a credential when it expires, and each stream starts again with a full LIST
(10,000 products at a time). So kopf is told an expiry only for an exec plugin's credential, which the server
refuses after that moment anyway; a token file, which our own requests read again every minute, is kept until the
server refuses it, as kopf's default login did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from datamesh.controller.credentials import Authenticator, Config, Lease


def connection_fields(config: Config, lease: Lease) -> dict[str, Any]:
    """kopf.ConnectionInfo's fields for this configuration and credential."""
    return {
        "server": config.server,
        "ca_path": config.ca_file,
        "ca_data": None if config.ca_file else config.ca_data,
        "insecure": True if not config.verify else None,
        "token": lease.token,
        "certificate_path": lease.cert_file,
        "private_key_path": lease.key_file,
        "expiration": (
            datetime.fromtimestamp(lease.refresh_at, UTC)
            if config.exec is not None and lease.refresh_at is not None
            else None
        ),
    }


class Login:
    """The credential handed to kopf, renewed when due or when kopf comes back before it was due (refused)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        self._handed: Lease | None = None

    async def fields(self) -> dict[str, Any]:
        lease = await self.authenticator.current()
        if lease is self._handed:
            # kopf asks again for the credential it has: the API server answered 401 to it.
            lease = await self.authenticator.refused(lease) or lease
        self._handed = lease
        return connection_fields(self.authenticator.config, lease)
