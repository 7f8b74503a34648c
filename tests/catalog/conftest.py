"""Fixtures of the catalog tests: a real PostgreSQL server (Debian's package), catalog URLs for SQLite and
PostgreSQL, and builders of Domains, DataProducts and policies."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from datamesh.api.dataproduct import DataProduct
from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.catalog.sync import CatalogSync, open_catalog
from devcluster.cluster import free_port
from tests.conftest import Cluster
from tests.postgres import PostgresServer

if TYPE_CHECKING:
    from tests.catalog.mesh import Tokens


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def catalog_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty catalog database of the parametrized backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[CatalogSync]:
    sync = open_catalog(catalog_url)
    try:
        yield sync
    finally:
        sync.close()


# --- builders -------------------------------------------------------------------------------------------------------

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def make_domain(name: str, *, team_groups: list[str] | None = None, reader_groups: list[str] | None = None) -> Domain:
    return Domain.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "owner": f"{name}-team@company.com",
                "description": f"The {name} domain.",
                "teamGroups": team_groups or [f"{name}-team"],
                "readerGroups": reader_groups or [],
                "storage": {"location": f"/lake/{name}"},
                "sources": [{"name": f"bronze.{name.replace('-', '_')}.raw", "location": f"/lake/{name}/bronze/raw"}],
            },
        }
    )


def condition(kind: str, status: str, reason: str = "Checked") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "lastTransitionTime": NOW.isoformat()}


def make_product(
    name: str,
    domain: str,
    *,
    namespace: str | None = None,
    quality: float | None = None,
    run_id: str | None = None,
    outcome: str = "Published",
    ready: bool = True,
    fresh: bool = True,
    inputs: list[dict[str, Any]] | None = None,
    owner: str | None = None,
    tags: list[str] | None = None,
    classification: str = "internal",
    access_policy: str = "domain-internal",
    grants: list[dict[str, Any]] | None = None,
    rest: bool = False,
    location: str | None = None,
    description: str | None = None,
) -> DataProduct:
    outputs: list[dict[str, Any]] = [{"name": "table", "format": "delta"}]
    if rest:
        outputs.append({"name": "api", "format": "rest"})
    status: dict[str, Any] | None = None
    if quality is not None or run_id is not None:
        status = {
            "conditions": [condition("Ready", "True" if ready else "False"), condition("Fresh", str(fresh))],
            "qualityScore": quality,
            "checks": [{"name": "rowCount", "type": "rowCount", "value": 10, "threshold": 1, "passed": True}],
            "rowCount": 10,
            "tableVersion": 3,
            "dataUpdatedAt": (NOW - timedelta(minutes=5)).isoformat(),
            "location": location or f"/lake/{domain}/{name}",
            "lastBuild": {
                "runId": run_id or str(uuid.uuid4()),
                "outcome": outcome,
                "trigger": "spec",
                "startedAt": (NOW - timedelta(minutes=6)).isoformat(),
                "finishedAt": (NOW - timedelta(minutes=5)).isoformat(),
            },
        }
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace or domain, "generation": 1},
        "spec": {
            "domain": domain,
            "owner": owner or f"{domain}-team@company.com",
            "description": description or f"{name} of {domain}",
            "classification": classification,
            "tags": tags or [],
            "sla": {"freshness": "1 hour", "qualityScore": 0.9},
            "schema": [
                {"name": "id", "type": "long", "primaryKey": True},
                {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
                {"name": "amount", "type": "double", "nullable": True},
            ],
            "inputs": inputs or [{"source": f"bronze.{domain.replace('-', '_')}.raw"}],
            "outputs": outputs,
            "governance": {"accessPolicy": access_policy, "grants": grants or []},
        },
    }
    if status:
        body["status"] = status
    return DataProduct.model_validate(body)


def make_policy(name: str, access_rules: list[dict[str, Any]]) -> GovernancePolicy:
    return GovernancePolicy.model_validate({"metadata": {"name": name}, "spec": {"accessRules": access_rules}})


@pytest.fixture(scope="session")
def served(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Tokens, str]]:
    """The API on a free loopback port (uvicorn in a thread) over an SQLite catalog holding the test mesh:
    (base URL, tokens, catalog URL)."""
    import uvicorn

    from datamesh.catalog.api import ApiSettings, create_app
    from datamesh.catalog.api.auth import TokenReviewer, kubernetes_api_client
    from tests.catalog.mesh import create_tokens, populate, write_delta_table

    root = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{root / 'catalog.db'}"
    tokens = create_tokens(cluster)
    write_delta_table(root / "customers")
    sync = open_catalog(url)
    populate(sync, tokens, root / "customers")
    sync.close()
    reviewer = TokenReviewer(kubernetes_api_client(str(cluster.kubeconfig)))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ApiSettings(catalog_url=url), reviewer=reviewer),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens, url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
