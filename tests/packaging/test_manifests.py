"""The kustomize manifests: in sync with the chart they are generated from, rendering, and accepted by the API
server. Also the CRD copies (chart, base) against crds/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datamesh.controller import children
from tests.conftest import REPO, Cluster
from tests.packaging.test_chart import apply_crds_then_dry_run
from tests.packaging.tools import (
    MANIFESTS,
    RELEASE,
    by_kind,
    documents,
    kubectl_binary,
    one,
    run,
    sync_module,
    template,
)

OVERLAYS = ["base", "overlays/dev", "overlays/production"]


def kustomize(path: str) -> list[dict[str, Any]]:
    return documents(run([kubectl_binary(), "kustomize", str(MANIFESTS / path)]).stdout)


def rules(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """ClusterRole name -> rules, normalised (verb and resource order carry no meaning)."""
    out = {}
    for role in by_kind(objects, "ClusterRole"):
        declared = role.get("rules") or []
        normal = [{k: sorted(v) if isinstance(v, list) else v for k, v in rule.items()} for rule in declared]
        out[role["metadata"]["name"]] = sorted(normal, key=repr)
    return out


def bindings(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {b["metadata"]["name"]: (b["roleRef"], b["subjects"]) for b in by_kind(objects, "ClusterRoleBinding")}


def test_crd_copies_equal_the_generated_crds() -> None:
    # crds/ is generated from the API models (`make crds`); the chart and the kustomize base carry copies.
    sources = {p.name: p.read_text() for p in (REPO / "crds").glob("*.yaml")}
    assert sources
    for folder in (REPO / "charts" / "datamesh-operator" / "files" / "crds", MANIFESTS / "base" / "crds"):
        copies = {p.name: p.read_text() for p in folder.glob("*.yaml")}
        assert copies == sources, f"{folder.relative_to(REPO)} drifted from crds/: run scripts/sync_packaging.py"


def test_generated_files_are_in_sync(helm: Path) -> None:
    sync = sync_module()
    stale = sync.stale(sync.expected_files(str(helm)))
    assert not stale, f"stale (run scripts/sync_packaging.py): {[str(p.relative_to(REPO)) for p in stale]}"


def test_every_overlay_renders() -> None:
    for path in OVERLAYS:
        objects = kustomize(path)
        assert one(objects, "Deployment", RELEASE), path
        assert len(by_kind(objects, "CustomResourceDefinition")) >= 3, path
    base_kustomization = (MANIFESTS / "base" / "kustomization.yaml").read_text()
    for crd in (REPO / "crds").glob("*.yaml"):
        assert f"crds/{crd.name}" in base_kustomization, f"manifests/base does not list {crd.name}"


def test_base_rbac_equals_the_chart_rbac(helm: Path) -> None:
    # The base has no catalog API (and so none of its RBAC); everything else is the chart's defaults.
    chart = documents(template(helm, "--set", "api.enabled=false"))
    base = kustomize("base")
    assert rules(base) == rules(chart)
    assert bindings(base) == bindings(chart)
    assert set(rules(base)) == {RELEASE, *children.CLUSTER_ROLES}


def test_production_overlay_equals_the_chart_with_its_values(helm: Path) -> None:
    values = [
        "-f",
        str(MANIFESTS / "base" / "helm-values.yaml"),
        "-f",
        str(MANIFESTS / "overlays/production/helm-values.yaml"),
    ]
    chart = documents(template(helm, *values))
    production = kustomize("overlays/production")
    assert rules(production) == rules(chart)
    chart_spec = one(chart, "Deployment", RELEASE)["spec"]
    overlay_spec = one(production, "Deployment", RELEASE)["spec"]
    assert overlay_spec == chart_spec
    assert (
        overlay_spec["replicas"] == 2
        and "--peering=datamesh-operator" in overlay_spec["template"]["spec"]["containers"][0]["args"]
    )
    kinds = {o["kind"] for o in production}
    assert {"ClusterKopfPeering", "Certificate", "Issuer"} <= kinds


def test_dev_overlay_uses_the_local_image() -> None:
    deployment = one(kustomize("overlays/dev"), "Deployment", RELEASE)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "datamesh-operator:dev" and container["imagePullPolicy"] == "IfNotPresent"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DATAMESH_BUILD_IMAGE"] == "datamesh-operator:dev"
    assert env["DATAMESH_BUILD_IMAGE_PULL_POLICY"] == "IfNotPresent"


@pytest.mark.parametrize("path", OVERLAYS)
def test_api_server_accepts_the_manifests(cluster: Cluster, path: str) -> None:
    objects = kustomize(path)
    # The namespace for real (namespaced objects cannot be dry-run into a namespace that does not exist).
    for namespace in by_kind(objects, "Namespace"):
        cluster.apply(namespace)
    rest = [o for o in objects if o["kind"] != "Namespace"]
    apply_crds_then_dry_run(cluster, rest, f"manifests/{path}")
