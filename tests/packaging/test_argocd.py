"""The Argo CD health checks, run in Lua 5.1 (Argo CD's gopher-lua dialect) against sample objects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import reasons
from tests.conftest import REPO
from tests.packaging.tools import sync_module

lupa51 = pytest.importorskip("lupa.lua51", reason="lupa (dev dependency) runs the health checks in real Lua")

ARGOCD = REPO / "deploy" / "argocd"
SCRIPTS = {"DataProduct": ARGOCD / "health-dataproduct.lua", "Domain": ARGOCD / "health-domain.lua"}


def health(script: Path, obj: dict[str, Any]) -> tuple[str, str]:
    """Run a health script the way Argo CD does: the object as the global `obj`, the result a table."""
    lua = lupa51.LuaRuntime(unpack_returned_tuples=True)

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: convert(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([convert(v) for v in value])
        return value

    lua.globals().obj = convert(obj)
    result = lua.execute(script.read_text())
    return str(result["status"]), str(result["message"])


def sample(kind: str, conditions: list[dict[str, Any]] | None, generation: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "datamesh.dev/v1alpha1", "kind": kind,
                            "metadata": {"name": "x", "generation": generation}}  # fmt: skip
    if conditions is not None:
        body["status"] = {"conditions": conditions}
    return body


def ready(status: str, reason: str, message: str = "", generation: int | None = 1) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": "Ready", "status": status, "reason": reason, "message": message,
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}  # fmt: skip
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_missing_status_or_ready_condition_is_progressing(kind: str) -> None:
    script = SCRIPTS[kind]
    assert health(script, sample(kind, None)) == ("Progressing", "Waiting for the operator")
    other = {"type": "Validated", "status": "True", "reason": "Valid", "message": "ok"}
    assert health(script, sample(kind, [other])) == ("Progressing", "Waiting for the operator")
    assert health(script, sample(kind, []))[0] == "Progressing"


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_ready_true_is_healthy_with_the_message(kind: str) -> None:
    status = health(SCRIPTS[kind], sample(kind, [ready("True", "Published", "version 3, 120 rows")]))
    assert status == ("Healthy", "version 3, 120 rows")
    # Without a message the reason says something.
    assert health(SCRIPTS[kind], sample(kind, [ready("True", "Provisioned")])) == ("Healthy", "Provisioned")


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_ready_false_is_degraded_unless_still_working(kind: str) -> None:
    script = SCRIPTS[kind]
    failed = sample(kind, [ready("False", "QualityFailed", "2 checks failed")])
    assert health(script, failed) == ("Degraded", "2 checks failed")
    # The reasons that mean "still working" are the API's list for the kind (a Domain has none).
    working = reasons.PRODUCT_IN_PROGRESS if kind == "DataProduct" else reasons.DOMAIN_IN_PROGRESS
    for reason in working:
        assert health(script, sample(kind, [ready("False", reason, "waiting for the first build")])) == (
            "Progressing", "waiting for the first build"
        )  # fmt: skip
    if kind == "Domain":
        assert health(script, sample(kind, [ready("False", "Pending", "?")]))[0] == "Degraded"
    assert health(script, sample(kind, [ready("Unknown", "NotBuilt", "no build yet")])) == (
        "Progressing",
        "no build yet",
    )
    no_reason = {"type": "Ready", "status": "False", "message": "broken"}
    assert health(script, sample(kind, [no_reason])) == ("Degraded", "broken")


def test_building_is_progressing_for_products() -> None:
    body = sample("DataProduct", [ready("False", "Building", "build p-1-abc running")])
    assert health(SCRIPTS["DataProduct"], body) == ("Progressing", "build p-1-abc running")
    # A Domain has no builds: Building is not one of its working states.
    assert health(SCRIPTS["Domain"], sample("Domain", [ready("False", "Building", "?")]))[0] == "Degraded"


def test_a_held_deletion_is_suspended_with_its_message() -> None:
    message = "deletion held: read by marketing/churn; annotate datamesh.dev/force-delete=true to delete anyway"
    body = sample("DataProduct", [ready("False", "DeletionHeld", message)])
    assert health(SCRIPTS["DataProduct"], body) == ("Suspended", message)
    # Only a product's deletion is held: for a Domain the reason means nothing and stays Degraded.
    assert health(SCRIPTS["Domain"], sample("Domain", [ready("False", "DeletionHeld", "?")]))[0] == "Degraded"


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_a_condition_about_an_older_generation_is_progressing(kind: str) -> None:
    body = sample(kind, [ready("True", "Published", "old news", generation=1)], generation=2)
    assert health(SCRIPTS[kind], body) == ("Progressing", "Waiting for the operator to observe generation 2")
    # Conditions without observedGeneration are taken at face value.
    body = sample(kind, [ready("True", "Published", "fine", generation=None)], generation=2)
    assert health(SCRIPTS[kind], body) == ("Healthy", "fine")


def test_argocd_cm_snippet_carries_the_scripts_verbatim() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    for kind, script in SCRIPTS.items():
        assert cm["data"][f"resource.customizations.health.datamesh.dev_{kind}"] == script.read_text()
    assert (ARGOCD / "argocd-cm.yaml").read_text() == sync_module().argocd_cm()


def test_example_application_syncs_with_server_side_apply() -> None:
    app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    assert app["kind"] == "Application" and app["apiVersion"] == "argoproj.io/v1alpha1"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert app["spec"]["source"]["directory"]["recurse"] is True


def lua_still_working(script: Path, table: str = "still_working") -> set[str]:
    """The reason names in a script's `still_working` (or other) table."""
    match = re.search(rf"^local {table} = \{{(.*)\}}$", script.read_text(), re.M)
    assert match, f"{script.name} has no {table} table"
    return set(re.findall(r"(\w+) = true", match.group(1)))


def test_the_scripts_name_the_api_reasons_for_still_working() -> None:
    assert lua_still_working(SCRIPTS["DataProduct"]) == set(reasons.PRODUCT_IN_PROGRESS)
    assert lua_still_working(SCRIPTS["Domain"]) == set(reasons.DOMAIN_IN_PROGRESS)
    assert reasons.PRODUCT_REASONS[reasons.BUILT] >= reasons.PRODUCT_IN_PROGRESS
    assert lua_still_working(SCRIPTS["DataProduct"], "suspended") == set(reasons.PRODUCT_SUSPENDED)
    assert reasons.PRODUCT_REASONS[reasons.READY] >= reasons.PRODUCT_SUSPENDED
