"""The operator keeps the catalog in step, and converges after the catalog database was down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.conftest import Cluster
from tests.operator.conftest import (
    Operator,
    apply_and_wait_domain,
    condition,
    domain_manifest,
    product_manifest,
    unique,
    wait_for,
)
from tests.postgres import PostgresServer


@pytest.fixture
def pg_operator(
    crds: Cluster,
    operator: Operator | None,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> Iterator[tuple[Operator, str]]:
    """The session's operator swapped for one writing to a PostgreSQL catalog, for this test only."""
    if operator is None:
        pytest.skip("the operator runs in the cluster")
    url = postgres_server.url(postgres_server.create_database())
    operator.stop()
    swapped = Operator(crds, tmp_path, env={"DATAMESH_CATALOG_URL": url})
    swapped.start()
    try:
        yield swapped, url
    finally:
        swapped.stop()
        if not _up(url):
            postgres_server.start()
        operator.start()


def _up(url: str) -> bool:
    try:
        with create_engine(url).connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _catalog_products(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, description FROM products")).all()
    engine.dispose()
    return {name: description for name, description in rows}


def test_catalog_follows_the_cluster_and_converges_after_an_outage(
    crds: Cluster,
    pg_operator: tuple[Operator, str],
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    operator, url = pg_operator
    name = unique("cat")
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path), operator)
    schema = [{"name": "x", "type": "int"}]
    keep = product_manifest("keep", name, [{"product": "absent"}], sql="SELECT 1 AS x", schema=schema)
    gone = product_manifest("gone", name, [{"product": "absent"}], sql="SELECT 1 AS x", schema=schema)
    brief = product_manifest("brief", name, [{"product": "absent"}], sql="SELECT 1 AS x", schema=schema)
    for manifest in (keep, gone, brief):
        crds.apply(yaml.safe_dump(manifest))

    def synced(product: str, status: str) -> bool:
        return condition(crds.get("dataproduct", product, name), "CatalogSynced").get("status") == status

    wait_for("all synced", lambda: all(synced(p, "True") for p in ("keep", "gone", "brief")), operator=operator)
    assert set(_catalog_products(url)) >= {"keep", "gone", "brief"}
    # deletionPolicy Retain (the default) needs no finalizer: the catalog entry goes with the DELETED event.
    assert not crds.get("dataproduct", "brief", name)["metadata"].get("finalizers")
    crds.kubectl("delete", "dataproduct", "brief", "-n", name, "--wait=true", "--timeout=60s")
    wait_for("brief leaves the catalog", lambda: "brief" not in _catalog_products(url), timeout=30, operator=operator)

    postgres_server.stop()
    keep["spec"]["description"] = "changed while the catalog was down"
    crds.apply(yaml.safe_dump(keep))
    body = wait_for(
        "CatalogSynced=False",
        lambda: (
            (b := crds.get("dataproduct", "keep", name))
            and condition(b, "CatalogSynced").get("status") == "False"
            and b
        ),
        operator=operator,
    )
    assert condition(body, "CatalogSynced")["reason"] == "CatalogUnavailable"
    # Deletion is not held up by the catalog being down.
    crds.kubectl("delete", "dataproduct", "gone", "-n", name, "--wait=true", "--timeout=60s")

    postgres_server.start()
    wait_for("CatalogSynced=True again", lambda: synced("keep", "True"), timeout=120, operator=operator)
    products = wait_for("catalog converged", lambda: (p := _catalog_products(url)) and "gone" not in p and p,
                        timeout=60, operator=operator)  # fmt: skip
    assert products["keep"] == "changed while the catalog was down"
