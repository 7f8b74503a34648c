"""The contract lifecycle against the real API server, webhook and operator: consumers in status, breaking changes
refused at `kubectl apply`, deprecation reaching consumers, deletion held while a consumer remains.

None of it needs a build to finish (the products here never publish): consumers, admission, the Deprecated
condition and the hold are decided from the mesh as the operator's cache knows it, so these run without a node.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from tests.conftest import Cluster
from tests.mesh import test_lifecycle as corpus
from tests.operator.conftest import (
    Operator,
    apply_and_wait_domain,
    condition,
    domain_manifest,
    product_manifest,
    unique,
    wait_for,
)

HOLD = "datamesh.dev/consumers"
SCHEMA: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "primaryKey": True},
    {"name": "amount", "type": "int"},
    {"name": "note", "type": "string", "nullable": True},
]


def producer(domain: str, name: str = "orders", **spec: Any) -> dict[str, Any]:
    body = product_manifest(name, domain, [{"product": "raw"}], sql="SELECT 1 AS id", schema=copy.deepcopy(SCHEMA),
                            version="1.0.0", **spec)  # fmt: skip
    body["spec"]["governance"]["accessPolicy"] = "organization"
    return body


def consumer(domain: str, upstream_domain: str, name: str = "report", upstream: str = "orders") -> dict[str, Any]:
    return product_manifest(name, domain, [{"product": upstream, "domain": upstream_domain, "alias": "o"}],
                            sql="SELECT o.id, o.amount FROM o", schema=SCHEMA[:2])  # fmt: skip


def finalizers(crds: Cluster, name: str, namespace: str) -> list[str]:
    found: list[str] = crds.get("dataproduct", name, namespace)["metadata"].get("finalizers") or []
    return found


def consumers_in_status(crds: Cluster, name: str, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (crds.get("dataproduct", name, namespace).get("status") or {}).get("consumers") or []
    return found


def test_consumers_in_status_and_breaking_changes_refused_at_apply(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    sales, marketing = unique("lcs"), unique("lcm")
    for domain in (sales, marketing):
        apply_and_wait_domain(crds, domain_manifest(domain, tmp_path), operator)
    orders = producer(sales)
    crds.apply(orders)
    crds.apply(consumer(marketing, sales))
    expected: list[dict[str, Any]] = [
        {"namespace": marketing, "name": "report", "domain": marketing, "columns": ["id", "amount"]}
    ]
    wait_for("status.consumers", lambda: consumers_in_status(crds, "orders", sales) == expected, operator=operator)
    wide = crds.kubectl("get", "dp", "orders", "-n", sales, "-o", "wide").stdout
    assert "CONSUMERS" in wide.splitlines()[0] and wide.splitlines()[1].split()[-2] == "1"

    # Removing a column the consumer reads: refused, naming the consumer and the column.
    breaking = copy.deepcopy(orders)
    breaking["spec"]["schema"] = [c for c in SCHEMA if c["name"] != "amount"]
    refused = crds.apply(breaking, check=False)
    assert refused.returncode != 0
    assert f"consumer {marketing}/report reads column 'amount'" in refused.stderr
    assert "[field-removed]" in refused.stderr and "spec.version to 2.0.0" in refused.stderr
    # So is loosening freshness (every consumer relies on it).
    stale = copy.deepcopy(orders)
    stale["spec"]["sla"]["freshness"] = "1 day"
    refused = crds.apply(stale, check=False)
    assert refused.returncode != 0 and f"consumer {marketing}/report relies on it" in refused.stderr

    # Compatible: a column the consumer does not read goes, a nullable one comes, freshness tightens.
    compatible = copy.deepcopy(orders)
    compatible["spec"]["schema"] = [*SCHEMA[:2], {"name": "channel", "type": "string", "nullable": True}]
    compatible["spec"]["sla"]["freshness"] = "30m"
    crds.apply(compatible)

    # A new major version accepts the break.
    major = copy.deepcopy(breaking)
    major["spec"]["version"] = "2.0.0"
    crds.apply(major)
    # The consumer's own change moves it off `amount`: the producer's status follows.
    moved = consumer(marketing, sales)
    moved["spec"]["transform"]["sql"] = "SELECT o.id, 0 AS amount FROM o"
    crds.apply(moved)
    expected[0]["columns"] = ["id"]
    wait_for("status.consumers after the reader moved", lambda: consumers_in_status(crds, "orders", sales) == expected,
             operator=operator)  # fmt: skip


def test_deprecation_warns_consumers_and_deletion_waits_for_them(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    sales, marketing = unique("lds"), unique("ldm")
    for domain in (sales, marketing):
        apply_and_wait_domain(crds, domain_manifest(domain, tmp_path), operator)
    deprecation = {"since": "2026-01-01", "sunset": "2099-12-31", "replacement": {"product": "orders-v2"}}
    crds.apply(producer(sales, deprecation=deprecation))
    crds.apply(consumer(marketing, sales))

    def deprecated() -> dict[str, Any] | None:
        found = condition(crds.get("dataproduct", "report", marketing), "Deprecated")
        return found if found.get("status") == "True" else None

    found = wait_for("Deprecated on the consumer", deprecated, operator=operator)
    assert found["reason"] == "UpstreamDeprecated"
    assert f"input {sales}/orders is deprecated since 2026-01-01, sunset on 2099-12-31" in found["message"]
    assert f"move to {sales}/orders-v2" in found["message"]
    selector = "involvedObject.name=report,reason=UpstreamDeprecated"
    events = crds.kubectl("get", "events", "-n", marketing, "--field-selector", selector,
                          "-o", "jsonpath={.items[*].type}")  # fmt: skip
    assert events.stdout.split() == ["Warning"]

    # Deleting the producer while the consumer reads it: held, with the reader named.
    wait_for("the hold finalizer", lambda: HOLD in finalizers(crds, "orders", sales), operator=operator)
    crds.kubectl("delete", "dataproduct", "orders", "-n", sales, "--wait=false")

    def held() -> dict[str, Any] | None:
        ready = condition(crds.get("dataproduct", "orders", sales), "Ready")
        return ready if ready.get("reason") == "DeletionHeld" else None

    ready = wait_for("DeletionHeld", held, operator=operator)
    assert f"still read by {marketing}/report" in ready["message"]
    # The reader goes: so does the producer.
    crds.kubectl("delete", "dataproduct", "report", "-n", marketing)
    wait_for("the producer deleted",
             lambda: crds.kubectl("get", "dataproduct", "orders", "-n", sales, check=False).returncode != 0,
             operator=operator)  # fmt: skip

    # The force annotation lets a held product go.
    crds.apply(producer(sales, name="ledger"))
    crds.apply(consumer(marketing, sales, name="audit", upstream="ledger"))
    wait_for("the hold finalizer", lambda: HOLD in finalizers(crds, "ledger", sales), operator=operator)
    crds.kubectl("annotate", "dataproduct", "ledger", "-n", sales, "datamesh.dev/force-delete=true")
    crds.kubectl("delete", "dataproduct", "ledger", "-n", sales, "--timeout=60s")


def test_the_change_corpus_on_admission(crds: Cluster, operator: Operator | None, tmp_path: Path) -> None:
    """Every case of the unit corpus (tests/mesh/test_lifecycle.py) through `kubectl apply` and the webhook, but
    those that other admission rules refuse first (a Python transform needs an allowed module; a product moved to
    another domain is in the wrong namespace)."""
    sales, marketing = unique("lcs"), unique("lcm")
    for domain in (sales, marketing):
        apply_and_wait_domain(crds, domain_manifest(domain, tmp_path), operator)

    def here(body: dict[str, Any]) -> dict[str, Any]:
        # The corpus speaks of domains "sales" and "marketing"; this test's domains have unique names.
        text = json.dumps(body).replace('"sales"', json.dumps(sales)).replace('"marketing"', json.dumps(marketing))
        loaded: dict[str, Any] = json.loads(text)
        return loaded

    cases = [c for c in corpus.CORPUS if c[3] != "python" and c[4] != "domain-changed"]
    assert len(cases) >= 30
    olds, news, readers = [], [], []
    for index, (_, old_edit, new_edit, reader, _) in enumerate(cases):
        name = f"c{index:02d}"
        old, new = (here(corpus.producer(edit).to_wire()) for edit in (old_edit, new_edit))
        for body in (old, new):
            body["metadata"] = {"name": name, "namespace": sales}
        olds.append(old)
        news.append(new)
        if reader is not None:
            body = here(corpus.reader_of(reader).to_wire())
            body["metadata"]["name"] = f"r{index:02d}"
            body["spec"]["inputs"] = [{"product": name, "domain": sales, "alias": "orders"}]
            readers.append(body)
    crds.apply({"apiVersion": "v1", "kind": "List", "items": [*olds, *readers]})
    for reader in readers:
        upstream = reader["spec"]["inputs"][0]["product"]
        known = functools.partial(consumers_in_status, crds, upstream, sales)
        wait_for(f"{upstream}'s consumer known", known, operator=operator)
    decided = []
    for (case, *_, refused_by), new in zip(cases, news, strict=True):
        result = crds.apply(new, check=False)
        found = refused_by if refused_by and f"[{refused_by}]" in result.stderr else None
        decided.append((case, "refused" if result.returncode else "admitted", found))
        if result.returncode:
            assert f"/r{new['metadata']['name'][1:]}" in result.stderr, result.stderr
    expected = [(case, "refused" if rule else "admitted", rule) for case, *_, rule in cases]
    assert decided == expected


def test_an_input_pins_a_major_and_fails_closed_until_it_is_served(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    """A pin is resolved against what the producer serves (mesh/versions.py); publishing both majors needs builds
    (tests/operator/test_majors.py)."""
    sales, marketing = unique("lvs"), unique("lvm")
    for domain in (sales, marketing):
        apply_and_wait_domain(crds, domain_manifest(domain, tmp_path), operator)
    crds.apply(producer(sales))  # 1.0.0, never publishes (it reads a product that does not exist)
    # Only a product input has a major to pin: the API server's own validation refuses it on a source.
    bad = consumer(marketing, sales, name="bad")
    bad["spec"]["inputs"] = [{"source": "bronze.crm.customers", "version": "1"}]
    refused = crds.apply(bad, check=False)
    assert refused.returncode != 0 and "version pins the major version of a product input" in refused.stderr
    for name, version in (("pinned", "^1"), ("future", "3")):
        body = consumer(marketing, sales, name=name)
        body["spec"]["inputs"][0]["version"] = version
        crds.apply(body)

    def inputs_ready(name: str, reason: str) -> dict[str, Any] | None:
        found = condition(crds.get("dataproduct", name, marketing), "InputsReady")
        return found if found.get("reason") == reason else None

    waiting = wait_for("the pinned major not published yet",
                       lambda: inputs_ready("pinned", "UpstreamNotReady"), operator=operator)  # fmt: skip
    assert waiting["message"] == f"input {sales}/orders: has not published major version 1 yet"
    unserved = wait_for("a pin on a major not served",
                        lambda: inputs_ready("future", "UpstreamVersionNotServed"), operator=operator)  # fmt: skip
    assert unserved["status"] == "False"
    assert unserved["message"] == f"input {sales}/orders: pins major version 3, which is not served (served: 1)"
    # A pinned reader is a consumer like any other: breaking what it reads is refused without a new major.
    breaking = producer(sales)
    breaking["spec"]["schema"] = [c for c in SCHEMA if c["name"] != "amount"]
    refused = crds.apply(breaking, check=False)
    assert refused.returncode != 0
    assert f"consumer {marketing}/future, {marketing}/pinned read column 'amount'" in refused.stderr
