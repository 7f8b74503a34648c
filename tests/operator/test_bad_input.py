"""Bad input never crashes the operator and never affects other products: every case of the corpus (and of
hypothesis' random specs) is refused at admission or lands in a clear failing condition."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamesh.manifests import validate_body
from tests.conftest import Cluster
from tests.operator.badinput import Case, bad_domains, corpus, valid_product
from tests.operator.conftest import Operator, apply_and_wait_domain, condition, domain_manifest, unique, wait_for


def _apply(cluster: Cluster, body: dict[str, Any]) -> tuple[bool, str]:
    result = cluster.apply(yaml.safe_dump(body, allow_unicode=True), check=False)
    return result.returncode == 0, result.stderr.strip()


def _ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "dataproduct", name, "-n", namespace, "-o", "json", check=False)
    return condition(json.loads(out.stdout), "Ready") if out.returncode == 0 else {}


@pytest.fixture(scope="module")
def corpus_domain(crds: Cluster, operator: Operator | None, tmp_path_factory: pytest.TempPathFactory) -> str:
    name = unique("bad")
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path_factory.mktemp("badlake")), operator)
    return name


def test_the_corpus_is_refused_or_fails_clearly(crds: Cluster, operator: Operator | None, corpus_domain: str) -> None:
    namespace = corpus_domain
    sentinel = valid_product(namespace, "sentinel")
    applied, error = _apply(crds, sentinel)
    assert applied, error
    settled = lambda: (r := _ready(crds, namespace, "sentinel")).get("reason") == "UpstreamNotFound" and r  # noqa: E731
    before = wait_for("sentinel settles", settled, operator=operator)
    cases: list[Case] = corpus(namespace) + bad_domains(unique("bd"))
    assert len(cases) >= 100
    admitted: list[Case] = []
    wrongly_admitted: list[str] = []
    for case in cases:
        ok, error = _apply(crds, case.body)
        if ok:
            admitted.append(case)
            if case.must_reject:
                wrongly_admitted.append(case.id)
        else:
            assert error, f"{case.id}: refused without a message"
            # The message names what is wrong (a field, a rule or the governance webhook), never a stack trace.
            assert "Traceback" not in error, f"{case.id}: {error}"
    assert not wrongly_admitted, f"admitted but should have been refused: {wrongly_admitted}"
    # Every admitted case settles into a failing Ready with a reason and a message.
    deadline = time.monotonic() + 90
    pending = {c.id: c for c in admitted}
    while pending and time.monotonic() < deadline:
        for case_id, case in list(pending.items()):
            ready = _ready(crds, namespace, case.body["metadata"]["name"])
            if ready.get("status") == "False" and ready.get("reason") and ready.get("message"):
                if case.reason is not None:
                    assert ready["reason"] == case.reason, f"{case_id}: {ready}"
                del pending[case_id]
        time.sleep(1)
    assert not pending, (
        f"never reached a clear failing condition: {sorted(pending)}\n{operator.tail() if operator else ''}"
    )
    # Nothing else was touched, and the operator is alive and never crashed a reconcile.
    after = _ready(crds, namespace, "sentinel")
    assert after == before
    if operator is not None:
        assert operator.process is not None and operator.process.poll() is None, operator.tail()
        log = operator.log.read_text(errors="replace")
        assert "reconcile of" not in log, operator.tail()


FIELDS = ["owner", "description", "sla", "schema", "inputs", "transform", "outputs", "governance", "schedule",
          "compute", "classification", "tags", "suspend", "version", "deletionPolicy"]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=JSON)
def test_random_specs_never_hurt_the_operator(
    crds: Cluster, operator: Operator | None, corpus_domain: str, field: str, value: Any
) -> None:
    body = valid_product(corpus_domain, unique("fuzz"))
    body["spec"][field] = value
    ok, error = _apply(crds, body)
    if ok:
        # Judge what the API server stored (it drops nulls and applies defaults), not what was sent.
        stored = json.loads(crds.kubectl("get", "dataproduct", body["metadata"]["name"], "-n", corpus_domain,
                                         "-o", "json").stdout)  # fmt: skip
        stored.pop("status", None)
        offline = validate_body(stored)
        # What the API server admits the operator either accepts or reports: it never stays silent.
        name = body["metadata"]["name"]
        ready = wait_for("a Ready condition", lambda: _ready(crds, corpus_domain, name), timeout=30, operator=operator)
        assert ready["status"] in ("False", "Unknown"), ready
        if offline:
            assert ready["reason"] == "InvalidSpec", (offline, ready)
    else:
        assert error
    if operator is not None:
        assert operator.process is not None and operator.process.poll() is None, operator.tail()
