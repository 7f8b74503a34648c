"""The chart's RBAC is enough: the operator, running as the chart's ServiceAccount (not admin), provisions
the example domains and builds the example product to Ready. Least privilege is still enough privilege: with no
cluster-wide right to create Jobs, it binds its workspace role in each new namespace first and works from there."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.controller import children
from tests.conftest import REPO, Cluster, open_to_builds
from tests.operator.conftest import Operator, condition, unique, wait_for
from tests.operator.test_builds import BUILD_TIMEOUT
from tests.packaging.rbac import chart_service_account_kubeconfig, delete_chart_rbac
from tests.packaging.tools import HelmUnavailable, build_helm
from tests.requirements import missing

pytestmark = [pytest.mark.spark, pytest.mark.local_lake]
LAKE = "/var/lib/datamesh/lake"


@pytest.fixture
def chart_operator(crds: Cluster, operator: Operator | None, tmp_path: Path) -> Iterator[Operator]:
    if operator is None:
        pytest.skip("the operator runs in the cluster under the chart's ServiceAccount already")
    try:
        helm = build_helm()
    except HelmUnavailable as error:
        missing(str(error))
    namespace = unique("rbac")
    crds.kubectl("create", "namespace", namespace)
    # The chart's admission policy pins domain namespaces to its Pod Security level: the operator's own (privileged
    # where build pods mount a host lake, as on the local node).
    level = f"rbac.domainPodSecurityLevel={operator.pod_security_level}"
    kubeconfig = chart_service_account_kubeconfig(crds, namespace, tmp_path / "operator.kubeconfig", helm=helm,
                                                  values=["--set", level])  # fmt: skip
    operator.stop()
    # As the chart sets it: the operator's own namespace holds the masking key, where its Role lets it.
    restricted = Operator(crds, tmp_path, env={"KUBECONFIG": str(kubeconfig), "DATAMESH_NAMESPACE": namespace})
    try:
        restricted.start()
        yield restricted
    finally:
        restricted.stop()
        delete_chart_rbac(crds, namespace)
        crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        operator.start()


def _renamed_examples(prefix: str, lake: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The example mesh under fresh domain names, its storage moved into `lake`."""
    names = {"sales": f"{prefix}-sales", "marketing": f"{prefix}-marketing", "customer-success": f"{prefix}-cs"}
    domains = []
    for path in sorted((REPO / "examples" / "domains").glob("*.yaml")):
        body = yaml.safe_load(path.read_text().replace(LAKE, str(lake)))
        body["metadata"]["name"] = names[body["metadata"]["name"]]
        domains.append(body)
    product = yaml.safe_load((REPO / "examples" / "products" / "customer-360.yaml").read_text())
    product["metadata"]["namespace"] = names["sales"]
    product["spec"]["domain"] = names["sales"]
    for item in product["spec"]["inputs"]:
        item["domain"] = names[item["domain"]]
    for grant in product["spec"]["governance"].get("grants", []):
        grant["domains"] = [names.get(d, d) for d in grant.get("domains", [])]
    return domains, product


def test_operator_under_the_charts_service_account_reaches_ready(
    crds: Cluster, chart_operator: Operator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(lake), "--scale", "0.001"],
                   check=True, capture_output=True)  # fmt: skip
    domains, product = _renamed_examples(unique("rb"), lake)
    for domain in domains:
        Path(domain["spec"]["storage"]["location"]).mkdir(parents=True, exist_ok=True)
    open_to_builds(lake)
    for domain in domains:
        crds.apply(yaml.safe_dump(domain))
    for domain in domains:
        name = domain["metadata"]["name"]
        probe = lambda n=name: condition(crds.get("domain", n), "Ready").get("status") == "True"  # noqa: E731
        wait_for(f"domain {name} Ready", probe, operator=chart_operator)
    crds.apply(yaml.safe_dump(product))
    namespace = product["metadata"]["namespace"]

    def ready() -> dict[str, Any] | None:
        body = crds.get("dataproduct", "customer-360", namespace)
        return body if condition(body, "Ready").get("status") == "True" else None

    body = wait_for("customer-360 Ready", ready, timeout=BUILD_TIMEOUT, operator=chart_operator)
    assert body["status"]["qualityScore"] >= 0.95
    log = chart_operator.log.read_text(errors="replace")
    assert " 403" not in log and "forbidden" not in log.lower(), chart_operator.tail()
    for domain in domains:
        _assert_least_privilege_workspace(crds, domain["metadata"]["name"], chart_operator.pod_security_level)
    for domain in domains:
        crds.kubectl("annotate", "domain", domain["metadata"]["name"], "datamesh.dev/force-delete=true")


def _assert_least_privilege_workspace(cluster: Cluster, namespace: str, level: str) -> None:
    """What the operator left in a workspace it created: Pod Security labels, its own binding and bindings to the
    chart's ClusterRoles only, no Role with rules of its own making."""
    labels = cluster.get("namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == level and labels["datamesh.dev/domain"] == namespace
    roles = yaml.safe_load(cluster.kubectl("get", "roles", "-n", namespace, "-o", "yaml").stdout)["items"]
    assert not roles, [r["metadata"]["name"] for r in roles]
    bindings = yaml.safe_load(cluster.kubectl("get", "rolebindings", "-n", namespace, "-o", "yaml").stdout)["items"]
    refs = {b["metadata"]["name"]: (b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings}
    assert refs[children.OPERATOR_BINDING] == ("ClusterRole", children.OPERATOR_ROLE), refs
    assert set(refs.values()) <= {("ClusterRole", role) for role in children.CLUSTER_ROLES}, refs
