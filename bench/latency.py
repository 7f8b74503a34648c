"""Apply -> Ready latency of customer-360 on the local cluster's real node (a benchmark, not a test).

Starts the local cluster (`.devcluster-latency/`, real node and the project's image), writes the demo data into a
temporary lake handed to the build user, runs the operator as the demo does, applies the example domains,
policies and customer-360, and measures:

- apply -> Ready of customer-360 (first build: namespace, workspace, a cold JVM in a fresh container);
- request -> Ready of N rebuilds asked for with the `datamesh.dev/rebuild` annotation (warm node, cold JVM);
- per rebuild, the build pod's own run time (container started -> terminated), so the operator's share shows.

    .venv/bin/python bench/latency.py [--rebuilds 3] [--keep-cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from devcluster import binaries  # noqa: E402
from devcluster.cluster import ControlPlane, free_port  # noqa: E402

BUILD_UID = 1000


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        self.binary = str(binaries.binary("kubectl"))

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run([self.binary, *args], input=input, capture_output=True, text=True, env=self.env,
                                timeout=300)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


def ready(product: dict[str, Any], after: str | None = None) -> bool:
    for condition in (product.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return after is None or condition.get("lastTransitionTime", "") > after
    return False


def wait_ready(kubectl: Kubectl, version: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = kubectl.json("get", "dataproduct", "customer-360", "-n", "sales")
        status = body.get("status") or {}
        if ready(body) and (status.get("tableVersion") or 0) >= version:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"customer-360 not Ready (version {version}) within {timeout:.0f}s")


def pod_runtime(kubectl: Kubectl) -> float:
    """Seconds the newest build pod's container ran (started -> terminated)."""
    pods = kubectl.json("get", "pods", "-n", "sales", "-l", "datamesh.dev/product=customer-360")["items"]
    newest = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    state = newest["status"]["containerStatuses"][0]["state"]["terminated"]

    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(state["finishedAt"]) - parse(state["startedAt"])).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuilds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep-cluster", action="store_true")
    args = parser.parse_args()
    plane = ControlPlane(REPO / ".devcluster-latency")
    operator: subprocess.Popen[bytes] | None = None
    lake = Path(tempfile.mkdtemp(prefix="datamesh-latency-"))
    try:
        started = time.monotonic()
        kubeconfig = plane.up()
        state = plane.state
        assert state is not None
        say(f"cluster up in {time.monotonic() - started:.1f}s (image {state.image})")
        kubectl = Kubectl(kubeconfig)
        kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        kubectl("apply", "--server-side", "-f", str(REPO / "charts/datamesh-operator/files/cluster-roles.yaml"))
        kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
        subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(lake)], check=True,
                       capture_output=True)  # fmt: skip
        lake.chmod(0o755)
        for path in (lake, *lake.rglob("*")):
            os.lchown(path, BUILD_UID, BUILD_UID)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "DATAMESH_BUILD_IMAGE": state.image,
               "DATAMESH_BUILD_IMAGE_PULL_POLICY": "Never", "DATAMESH_LAKE_HOST_PATH": str(lake),
               "DATAMESH_POD_SECURITY_LEVEL": "privileged", "DATAMESH_METRICS_PORT": "0",
               "DATAMESH_CATALOG_URL": f"sqlite:///{lake / 'catalog.db'}"}  # fmt: skip
        log = (plane.dir / "operator.log").open("wb")
        operator = subprocess.Popen(
            [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", "--webhook-port", str(free_port()),
             "--webhook-cert-dir", str(plane.dir / "webhook")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        for path in sorted((REPO / "examples" / "domains").glob("*.yaml")):
            text = path.read_text().replace("/var/lib/datamesh/lake", str(lake))
            kubectl("apply", "--server-side", "-f", "-", input=text)
        kubectl("wait", "--for=condition=Ready", "domain", "--all", "--timeout=120s")
        kubectl("apply", "--server-side", "-f", str(REPO / "examples/policies"))
        applied = time.monotonic()
        kubectl("apply", "--server-side", "-f", str(REPO / "examples/products/customer-360.yaml"))
        first = wait_ready(kubectl, 0, args.timeout)
        first_pod = pod_runtime(kubectl)
        say(f"apply -> Ready: {time.monotonic() - applied:.1f}s (build pod ran {first_pod:.1f}s)")
        rebuilds, pods = [], []
        for version in range(1, args.rebuilds + 1):
            kubectl("annotate", "--overwrite", "dataproduct", "customer-360", "-n", "sales",
                    f"datamesh.dev/rebuild=bench-{version}")  # fmt: skip
            rebuilds.append(wait_ready(kubectl, version, args.timeout))
            pods.append(pod_runtime(kubectl))
            say(f"rebuild {version}: request -> Ready {rebuilds[-1]:.1f}s (build pod ran {pods[-1]:.1f}s)")
        print(json.dumps({
            "apply_to_ready_seconds": round(first, 1),
            "first_build_pod_seconds": round(first_pod, 1),
            "rebuild_to_ready_seconds_median": round(statistics.median(rebuilds), 1) if rebuilds else None,
            "rebuild_pod_seconds_median": round(statistics.median(pods), 1) if pods else None,
            "rebuilds": len(rebuilds),
        }, indent=2))  # fmt: skip
        return 0
    finally:
        if operator is not None:
            os.killpg(operator.pid, signal.SIGTERM)
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(operator.pid, signal.SIGKILL)
        if not args.keep_cluster:
            plane.down(quiet=True)
        shutil.rmtree(lake, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
