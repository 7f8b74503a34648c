"""Fixtures of the catalog tests: a real PostgreSQL server (Debian's package), catalog URLs for SQLite and
PostgreSQL, and builders of Domains, DataProducts and policies."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from datamesh.api.dataproduct import DataProduct
from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.catalog.sync import CatalogSync, open_catalog
from tests.conftest import Cluster

if TYPE_CHECKING:
    from tests.catalog.mesh import Tokens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found and Path(found[-1]).with_name("initdb").exists():
        return Path(found[-1]).parent
    return None


def _install_postgres() -> Path:
    if _postgres_bin() is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip("PostgreSQL is not installed and apt-get is not usable here")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"apt-get install postgresql failed: {result.stderr[-500:]}")
    found = _postgres_bin()
    assert found is not None, "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    return found


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port, run as the `postgres` user when we are root."""

    bin_dir: Path
    data_dir: Path
    port: int

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data_dir} -F"
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data_dir / "server.log"),
            "start",
        )
        assert result.returncode == 0, f"pg_ctl start failed: {result.stdout}{result.stderr}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def create_database(self) -> str:
        import psycopg

        name = f"catalog_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _install_postgres()
    root = Path(tempfile.mkdtemp(prefix="datamesh-catalog-pg-"))
    data_dir = root / "data"
    data_dir.mkdir()
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        shutil.chown(root, "postgres")
        shutil.chown(data_dir, "postgres")
    server = PostgresServer(bin_dir, data_dir, free_port())
    init = server._run("initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    assert init.returncode == 0, f"initdb failed: {init.stdout}{init.stderr}"
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


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
