"""The operator keeps the catalog in step, converges after the catalog database was down, and never loses
history: deleted products become tombstones, and converge decides what is gone from a fresh list of what
exists (never from a partially filled cache), only inside the namespaces the operator watches."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from datamesh.api import DataProduct, Domain
from datamesh.catalog import open_catalog
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
        rows = connection.execute(text("SELECT name, description FROM products WHERE deleted_at IS NULL")).all()
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
    assert _tombstoned(url, name, "brief"), "a deleted product keeps its row as a tombstone"

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
    assert _tombstoned(url, name, "gone")


def _tombstoned(url: str, namespace: str, name: str) -> bool:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT deleted_at FROM products WHERE namespace = :ns AND name = :name"),
            {"ns": namespace, "name": name},
        ).first()
    engine.dispose()
    return found is not None and found[0] is not None


# --- nothing is lost on a partial view -----------------------------------------------------------------------------

SCHEMA = [{"name": "x", "type": "int"}]
FILLERS = 200


class Solo:
    """This test's own operators, on an SQLite catalog in its tmp_path, while the session's operator is stopped."""

    def __init__(self, cluster: Cluster, session: Operator, workdir: Path) -> None:
        self.cluster, self.session, self.workdir = cluster, session, workdir
        self.url = f"sqlite:///{workdir / 'catalog.db'}"
        self.started: list[Operator] = []

    def stop_session(self) -> None:
        """Stop the session's operator: two would reconcile the same objects, and while none runs, the admission
        webhook (failurePolicy Ignore) lets through what a running operator would refuse."""
        self.session.stop()

    def start(self, *extra_args: str) -> Operator:
        own = Operator(self.cluster, self.workdir)
        own.start(extra_args)
        self.started.append(own)
        return own


@pytest.fixture
def solo(crds: Cluster, operator: Operator | None, tmp_path: Path) -> Iterator[Solo]:
    if operator is None:
        pytest.skip("the operator runs in the cluster")
    solo = Solo(crds, operator, tmp_path)
    try:
        yield solo
    finally:
        for own in solo.started:
            own.stop()
        if operator.process is None:
            operator.start()


def _product(name: str, namespace: str, inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return product_manifest(name, namespace, inputs or [{"product": "absent"}, {"source": "bronze.crm.raw"}],
                            sql="SELECT 1 AS x", schema=SCHEMA)  # fmt: skip


def _invalid(manifest: dict[str, Any]) -> dict[str, Any]:
    """A spec the CRD schema admits and the operator's models refuse (two columns of one name)."""
    broken = copy.deepcopy(manifest)
    broken["spec"]["schema"] = [*SCHEMA, {"name": "x", "type": "string"}]
    return broken


def _with_history(manifest: dict[str, Any], namespace: str, run: str) -> DataProduct:
    """The product as the catalog saw it after a published build (its quality history has that run)."""
    body = copy.deepcopy(manifest)
    body["metadata"]["namespace"] = namespace
    body["status"] = {
        "qualityScore": 0.97,
        "rowCount": 5,
        "tableVersion": 1,
        "checks": [{"name": "rowCount", "type": "rowCount", "value": 5, "threshold": 1, "passed": True}],
        "lastBuild": {"runId": run, "outcome": "Published", "trigger": "spec",
                      "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z"},
    }  # fmt: skip
    return DataProduct.model_validate(body)


def _seed_catalog(url: str, domains: list[dict[str, Any]], products: dict[str, DataProduct]) -> None:
    """The catalog a previous operator left behind: every product with one finished build and its lineage."""
    sync = open_catalog(url)
    try:
        for domain in domains:
            sync.upsert_domain(Domain.model_validate(domain))
        for product in products.values():
            sync.upsert_product(product)
    finally:
        sync.close()


def _history(url: str) -> dict[tuple[str, str], tuple[str | None, list[str], list[str]]]:
    """Per product: (deleted_at, its quality runs, its lineage edges)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        products = connection.execute(text("SELECT id, namespace, name, deleted_at FROM products")).all()
        runs = connection.execute(text("SELECT product_id, run_id FROM quality_runs ORDER BY run_id")).all()
        edges = connection.execute(
            text("SELECT product_id, direction, kind, ref FROM lineage_edges ORDER BY direction, kind, ref")
        ).all()
    engine.dispose()
    return {
        (namespace, name): (
            None if deleted is None else str(deleted),
            [run for owner, run in runs if owner == pid],
            [f"{d}:{k}:{r}" for owner, d, k, r in edges if owner == pid],
        )
        for pid, namespace, name, deleted in products
    }


def _converge_reports(operator: Operator) -> list[str]:
    return re.findall(r"catalog converged: (ConvergeReport\([^)]*\))", operator.log.read_text(errors="replace"))


def _apply_all(cluster: Cluster, manifests: list[dict[str, Any]]) -> None:
    cluster.apply(yaml.safe_dump_all(manifests))


def test_a_slow_first_view_and_an_invalid_product_lose_nothing(
    crds: Cluster, operator: Operator, solo: Solo, tmp_path: Path
) -> None:
    """The operator starts with hundreds of products to read (its first converge runs before the watch has them
    all) and one whose spec became invalid (never in its cache); one product was deleted while it was down."""
    namespace = unique("slow")
    domain = domain_manifest(namespace, tmp_path)
    apply_and_wait_domain(crds, domain, operator)
    keep, bad, gone = _product("keep", namespace), _product("bad", namespace), _product("gone", namespace)
    seeded = {
        p["metadata"]["name"]: _with_history(p, namespace, f"run-{p['metadata']['name']}") for p in (keep, bad, gone)
    }
    _seed_catalog(solo.url, [domain], seeded)
    before = _history(solo.url)
    fillers = [_product(f"f-{i:03d}", namespace) for i in range(FILLERS)]
    solo.stop_session()
    _apply_all(crds, [keep, _invalid(bad), *fillers])  # gone: deleted while no operator ran

    running = solo.start()
    reports = wait_for("the first converge", lambda: _converge_reports(running), operator=running)
    seen = int(re.search(r"products=(\d+)", reports[0]).group(1))  # type: ignore[union-attr]
    # The world the first converge saw lacked most products: deciding from it would have deleted them.
    assert seen < FILLERS, f"the first converge saw {seen} products: the test did not start from a partial view"
    wait_for("bad is reported invalid",
             lambda: condition(crds.get("dataproduct", "bad", namespace), "Ready").get("reason") == "InvalidSpec",
             operator=running)  # fmt: skip
    wait_for("keep synced", lambda: condition(crds.get("dataproduct", "keep", namespace), "CatalogSynced")
             .get("status") == "True", operator=running)  # fmt: skip
    after = _history(solo.url)
    for name in ("keep", "bad"):
        assert after[(namespace, name)] == before[(namespace, name)], name
    deleted_at, runs, lineage = after[(namespace, "gone")]
    assert deleted_at is not None, "a product deleted while the operator was down becomes a tombstone"
    assert (runs, lineage) == before[(namespace, "gone")][1:]
    assert running.process is not None and running.process.poll() is None, running.tail()


def test_a_namespaced_operator_touches_no_other_namespace(
    crds: Cluster, operator: Operator, solo: Solo, tmp_path: Path
) -> None:
    """`--namespace X`: the catalog rows of other namespaces (products and domains nobody here can see) survive,
    while a product of X deleted while the operator was down becomes a tombstone."""
    namespace, elsewhere = unique("scoped"), unique("elsewhere")
    domain, other_domain = domain_manifest(namespace, tmp_path), domain_manifest(elsewhere, tmp_path)
    apply_and_wait_domain(crds, domain, operator)
    keep, gone, theirs = _product("keep", namespace), _product("gone", namespace), _product("theirs", elsewhere)
    seeded = {
        "keep": _with_history(keep, namespace, "run-keep"),
        "gone": _with_history(gone, namespace, "run-gone"),
        "theirs": _with_history(theirs, elsewhere, "run-theirs"),
    }
    _seed_catalog(solo.url, [domain, other_domain], seeded)
    before = _history(solo.url)
    solo.stop_session()
    _apply_all(crds, [keep])  # gone was deleted while no operator ran; theirs and its domain are not ours to judge

    running = solo.start("--namespace", namespace)
    wait_for("the first converge", lambda: _converge_reports(running), operator=running)
    wait_for("keep synced", lambda: condition(crds.get("dataproduct", "keep", namespace), "CatalogSynced")
             .get("status") == "True", operator=running)  # fmt: skip
    after = _history(solo.url)
    assert after[(namespace, "keep")] == before[(namespace, "keep")]
    assert after[(elsewhere, "theirs")] == before[(elsewhere, "theirs")]
    deleted_at, runs, lineage = after[(namespace, "gone")]
    assert deleted_at is not None and (runs, lineage) == before[(namespace, "gone")][1:]
    engine = create_engine(solo.url)
    with engine.connect() as connection:
        live = set(connection.execute(text("SELECT name FROM domains WHERE deleted_at IS NULL")).scalars())
    engine.dispose()
    assert {namespace, elsewhere} <= live
