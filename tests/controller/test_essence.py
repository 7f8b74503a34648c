"""kopf builds a diff base ("essence") only for the kinds with change handlers (controller/essence.py): the same
essence as kopf's own storage for a Domain, none for a DataProduct or a Job, and the list of kinds matches
kopf's registry once the handlers are imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import kopf
import yaml

from datamesh.controller import handlers
from datamesh.controller.essence import CHANGE_HANDLED, EssenceWhereHandled, group_kind

REPO = Path(__file__).resolve().parents[2]
KEY = "last-handled-configuration"


def as_body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


def domain() -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "Domain",
        "metadata": {"name": "sales", "uid": "u1", "resourceVersion": "7", "labels": {"team": "sales"},
                     "annotations": {"note": "kept", f"datamesh.dev/{KEY}": "{}",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"owner": "sales@example.com", "groups": ["sales"], "sources": [{"name": "s", "location": "/x"}]},
        "status": {"products": 3, "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


def product() -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": "p", "namespace": "sales", "uid": "u2", "resourceVersion": "9"},
        "spec": {"domain": "sales", "owner": "o@example.com", "schema": [{"name": "id", "type": "string"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "lastBuild": {"job": "p-1"}},
    }


def test_a_domain_gets_kopfs_own_essence() -> None:
    ours = EssenceWhereHandled(prefix="datamesh.dev", key=KEY)
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix="datamesh.dev", key=KEY)
    body = as_body(domain())
    essence = ours.build(body=body)
    assert essence == kopfs.build(body=body)
    assert essence["spec"]["owner"] == "sales@example.com" and "status" not in essence
    assert essence["metadata"]["annotations"] == {"note": "kept"}
    essence["spec"]["groups"].append("changed")  # still a copy: the body is untouched
    assert body["spec"]["groups"] == ["sales"]


def test_kinds_without_change_handlers_get_no_essence_and_nothing_to_diff() -> None:
    storage = EssenceWhereHandled(prefix="datamesh.dev", key=KEY)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "p-1", "namespace": "sales"}, "spec": {}}
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}
    for body in (product(), job, pod):
        assert storage.build(body=as_body(body)) is None
    # Nor is one read: kopf stores an essence only after change handlers ran, which these kinds have none of.
    stored = product()
    stored["metadata"]["annotations"] = {f"datamesh.dev/{KEY}": '{"spec": {"domain": "old"}}'}
    assert storage.fetch(body=as_body(stored)) is None
    assert storage.fetch(body=as_body(domain() | {"metadata": stored["metadata"]})) == {"spec": {"domain": "old"}}


def test_group_kind_reads_core_and_grouped_api_versions() -> None:
    assert group_kind({"apiVersion": "v1", "kind": "Pod"}) == ("", "Pod")
    assert group_kind({"apiVersion": "batch/v1", "kind": "Job"}) == ("batch", "Job")
    assert group_kind({}) == ("", "")


def test_the_kinds_match_kopfs_change_and_daemon_handlers() -> None:
    """Adding an on.create/update/delete, timer or daemon handler for a kind not in CHANGE_HANDLED would leave it
    without an essence: its handlers would never see a change."""
    assert handlers.GROUP  # the handlers are imported: kopf's default registry holds them
    kinds = {}
    for path in (REPO / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        kinds[(crd["spec"]["group"], crd["spec"]["names"]["plural"])] = crd["spec"]["names"]["kind"]
    registry = kopf.get_default_registry()
    selectors = [h.selector for h in registry._changing.get_all_handlers()]
    selectors += [h.selector for h in registry._spawning.get_all_handlers()]
    assert selectors, "the Domain's deletion handler is registered"
    handled = {(s.group, kinds[(s.group, s.plural or s.any_name)]) for s in selectors if s is not None}
    assert handled == CHANGE_HANDLED
