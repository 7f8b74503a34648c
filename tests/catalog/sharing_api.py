"""The catalog API serving Delta Sharing in this process, over a given catalog database: the sharing tests' server
(tests/catalog/test_sharing.py) and the end-to-end read of a product the real node built (tests/operator)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from datamesh.catalog.db import create_catalog_engine, session_factory
from datamesh.catalog.sharing.profiles import ProfileRefused, issue_profile
from datamesh.catalog.sharing.tokens import issue
from devcluster.cluster import free_port

SIGNING_KEY = bytes(range(32))


@dataclass
class SharingApi:
    url: str
    catalog_url: str

    @property
    def endpoint(self) -> str:
        return f"{self.url}/delta-sharing"

    def _write(self, path: Path, body: dict[str, object]) -> Path:
        path.write_text(json.dumps(body))
        return path

    def try_profile(self, recipient: str, product: str, tmp: Path, *, refuse: bool = False) -> Path | None:
        """The recipient's profile file for `product`, or None while it may not read it (ProfileRefused if
        `refuse`): a catalog kept by the operator learns of a product a moment after it is published."""
        engine = create_catalog_engine(self.catalog_url)
        try:
            with session_factory(engine).begin() as session:
                issued = issue_profile(session, recipient=recipient, product=product, endpoint=self.endpoint,
                                       now=datetime.now(UTC), lifetime=timedelta(hours=1), rotate=False)  # fmt: skip
        except ProfileRefused:
            if refuse:
                raise
            return None
        finally:
            engine.dispose()
        return self._write(tmp / f"{recipient}-{time.monotonic_ns()}.share", issued.body)

    def token_profile(self, recipient: str, tmp: Path) -> Path:
        """A profile for a recipient, issued without the check that it may read anything."""
        engine = create_catalog_engine(self.catalog_url)
        try:
            with session_factory(engine).begin() as session:
                issued = issue(session, recipient, now=datetime.now(UTC), lifetime=timedelta(hours=1), rotate=False)
        finally:
            engine.dispose()
        body = {"shareCredentialsVersion": 1, "endpoint": self.endpoint, "bearerToken": issued.token}
        return self._write(tmp / f"{recipient}-token-{time.monotonic_ns()}.share", body)


@contextmanager
def serve_api(catalog_url: str, *, signing_key: bytes = SIGNING_KEY, url_seconds: float = 60) -> Iterator[SharingApi]:
    import uvicorn
    from kubernetes import client

    from datamesh.catalog.api import ApiSettings, create_app
    from datamesh.catalog.api.auth import TokenReviewer

    port = free_port()
    # Sharing never asks the Kubernetes API; the reviewer is only there for the discovery routes.
    reviewer = TokenReviewer(client.ApiClient(client.Configuration()))
    settings = ApiSettings(catalog_url=catalog_url, sharing_key=signing_key, sharing_url_seconds=url_seconds)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, reviewer=reviewer), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield SharingApi(f"http://127.0.0.1:{port}", catalog_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
