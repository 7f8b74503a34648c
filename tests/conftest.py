"""Session-wide fixtures: one real Kubernetes API server per test run.

With KUBECONFIG set, the tests run against that cluster (kind, or anything else). Otherwise the session
starts the project's local cluster (etcd, kube-apiserver, controller-manager, scheduler and a real node:
kubelet, containerd, runc, CNI, kube-proxy, with the project's image imported) in `.devcluster-test/` and
stops it at the end. Nothing here fakes the Kubernetes API or the node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
#: The user build pods run as (the image's `datamesh` user).
BUILD_UID = 1000
CLUSTER_ROLES = REPO / "charts" / "datamesh-operator" / "files" / "cluster-roles.yaml"
pytest_plugins = ["tests.postgres"]


@dataclass
class Cluster:
    """Handle on the API server under test."""

    kubeconfig: Path
    kubectl_path: str
    plane: Any = None
    """The local ControlPlane when the session started it (None against an external cluster)."""
    image: str = ""
    """The project's image on the local node ("" against an external cluster: the operator's default)."""
    node_ip: str = ""
    """The local node's address, where pods reach services the tests run on the host."""
    lake_root: Path | None = None
    """The host folder holding every test lake, which build pods on the local node mount from."""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_path, *args], input=input, capture_output=True, text=True, env=self.env, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def apply(self, body: dict[str, Any] | str, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        text = body if isinstance(body, str) else yaml.safe_dump(body)
        return self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", *extra, input=text, check=check)

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        args = ["get", resource, name, "-o", "yaml"]
        if namespace:
            args += ["-n", namespace]
        loaded: dict[str, Any] = yaml.safe_load(self.kubectl(*args).stdout)
        return loaded

    def api_client(self) -> Any:
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        return client.ApiClient(configuration)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--keep-cluster", action="store_true", help="leave the local control plane running")
    parser.addoption(
        "--skip-reliability", action="store_true", help="skip the reliability suite (operator kills, restarts)"
    )


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            from devcluster import binaries

            kubectl = str(binaries.ensure_built() / "kubectl")
        yield Cluster(Path(explicit), kubectl)
        return
    from devcluster import binaries
    from devcluster.cluster import ControlPlane

    # Overridable so that two test runs on one machine do not share a control plane.
    plane = ControlPlane(Path(os.environ.get("DATAMESH_TEST_CLUSTER_DIR", REPO / ".devcluster-test")))
    kubeconfig = plane.up()
    state = plane.state
    lake_root = tmp_path_factory.getbasetemp()
    # Build pods (uid 1000) mount the lake root to create their output folders: they may pass through it,
    # not list it; each lake below is handed to them with open_to_builds.
    lake_root.chmod(0o711)
    assert state is not None, "the local cluster started without a state file"
    try:
        yield Cluster(kubeconfig, str(binaries.binary("kubectl")), plane, image=state.image, node_ip=state.host,
                      lake_root=lake_root)  # fmt: skip
    finally:
        if not request.config.getoption("--keep-cluster"):
            plane.down(quiet=True)


def open_to_builds(lake: Path) -> Path:
    """Hand a test lake to the build pods' user, as an administrator chowns a volume: pods on the real node
    run as uid 1000 and read and write the host folder itself. Returns `lake` (created if missing)."""
    lake.mkdir(parents=True, exist_ok=True)
    for path in (lake, *lake.rglob("*")):
        os.lchown(path, BUILD_UID, BUILD_UID)
    # pytest makes its folders 0700: the build user may pass through (not list) the ones above the lake.
    for parent in lake.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod((mode & 0o7777) | 0o001)
    return lake


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The project's CRDs (and the ClusterRoles its workspaces bind) applied and established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    # The ClusterRoles the operator binds in domain namespaces (the chart ships the same file).
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CLUSTER_ROLES))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    # Established is not yet published: discovery and OpenAPI (for explain and strict field validation)
    # follow a few seconds later.
    deadline = time.monotonic() + 60
    while cluster.kubectl("explain", "dataproduct.spec.sla", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the CRDs never showed up in the API server's OpenAPI"
        time.sleep(0.5)
    return cluster


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="--skip-reliability given")
    for item in items:
        if config.getoption("--skip-reliability") and item.get_closest_marker("reliability"):
            item.add_marker(skip)
        fixtures = getattr(item, "fixturenames", ())
        if "cluster" in fixtures or "crds" in fixtures:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def operator(crds: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's one operator process (with its webhook), shared by every suite that needs it: two would
    reconcile the same objects. None when DATAMESH_TEST_OPERATOR=external (an operator installed in the cluster)."""
    if os.environ.get("DATAMESH_TEST_OPERATOR") == "external":
        yield None
        return
    from tests.operator.conftest import Operator

    running = Operator(crds, tmp_path_factory.mktemp("operator"))
    running.start()
    try:
        yield running
    finally:
        running.stop()
        crds.kubectl("delete", "validatingwebhookconfiguration", "datamesh.dev", "--ignore-not-found", check=False)
