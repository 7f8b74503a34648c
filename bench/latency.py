"""Apply -> Ready latency of customer-360 on the local cluster's real node, cold pods against the warm engine.

Starts the local cluster (`.devcluster-latency/`, real node and the project's image), writes the demo data into a
temporary lake handed to the build user, runs the operator as the demo does, applies the example domains,
policies and customer-360, and measures:

- apply -> Ready of customer-360 (first build: namespace, workspace, a cold JVM in a fresh container);
- request -> Ready of N rebuilds asked for with the `datamesh.dev/rebuild` annotation (warm node, cold JVM);
- per rebuild, the build pod's own run time (container started -> terminated), so the operator's share shows;
- per rebuild, the CPU seconds it cost: the build pod's cgroup (`cpuacct.usage`, sampled every 0.1 s while
  it exists) and, on the warm engine, the engine pod's growth over the rebuild.

Then, in the same run, the sales Domain is switched to its warm engine (`compute.engine: connect`), and:

- the first build on it (the engine starting from zero replicas: its cold start, once);
- request -> Ready and CPU seconds of N rebuilds on the warm engine;
- apply -> Ready of customer-360 applied anew (deleted, the table kept) while the engine is warm.

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
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

import yaml  # noqa: E402

from devcluster import binaries  # noqa: E402
from devcluster.cluster import ControlPlane, free_port  # noqa: E402

BUILD_UID = 1000
CPUACCT = Path("/sys/fs/cgroup/cpuacct/kubepods")


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


def wait_ready_new(kubectl: Kubectl, since: float, timeout: float) -> float:
    """Seconds from `since` until the (new) customer-360 is Ready with a table version of its own build."""
    while time.monotonic() - since < timeout:
        body = kubectl.json("get", "dataproduct", "customer-360", "-n", "sales")
        if ready(body) and (body.get("status") or {}).get("lastBuild", {}).get("outcome") == "Published":
            return time.monotonic() - since
        time.sleep(0.1)
    raise TimeoutError(f"customer-360 not Ready within {timeout:.0f}s")


def pod_runtime(kubectl: Kubectl) -> float:
    """Seconds the newest build pod's container ran (started -> terminated)."""
    pods = kubectl.json("get", "pods", "-n", "sales", "-l", "datamesh.dev/product=customer-360")["items"]
    newest = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    state = newest["status"]["containerStatuses"][0]["state"]["terminated"]

    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(state["finishedAt"]) - parse(state["startedAt"])).total_seconds()


class PodCpu:
    """CPU seconds of pods, from their cgroups (cgroupfs driver, v1: the node of this machine kind), sampled in a
    thread so a pod's last value is kept after its cgroup goes (at most 0.1 s of its work is missed)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for usage in CPUACCT.glob("*/pod*/cpuacct.usage"):
                self._read(usage)
            for usage in CPUACCT.glob("pod*/cpuacct.usage"):  # Guaranteed pods sit right under kubepods
                self._read(usage)

    def _read(self, usage: Path) -> None:
        try:
            value = int(usage.read_text()) / 1e9
        except (OSError, ValueError):
            return
        uid = usage.parent.name.removeprefix("pod")
        self.seen[uid] = max(value, self.seen.get(uid, 0.0))

    def of(self, uid: str) -> float:
        time.sleep(0.3)  # one more sample after the pod finished
        return self.seen.get(uid, 0.0)

    def stop(self) -> None:
        self._stop.set()


def newest_build_pod(kubectl: Kubectl) -> dict[str, Any]:
    pods = kubectl.json("get", "pods", "-n", "sales", "-l", "datamesh.dev/product=customer-360")["items"]
    return dict(max(pods, key=lambda p: p["metadata"]["creationTimestamp"]))


def engine_uid(kubectl: Kubectl) -> str | None:
    pods = kubectl.json("get", "pods", "-n", "sales", "-l", "datamesh.dev/engine=server")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    return str(running[0]["metadata"]["uid"]) if running else None


def rebuilds(
    kubectl: Kubectl, cpu: PodCpu, first: int, count: int, timeout: float, label: str
) -> list[dict[str, float]]:
    out = []
    for version in range(first, first + count):
        engine = engine_uid(kubectl)
        engine_before = cpu.seen.get(engine, 0.0) if engine else 0.0
        kubectl("annotate", "--overwrite", "dataproduct", "customer-360", "-n", "sales",
                f"datamesh.dev/rebuild=bench-{version}")  # fmt: skip
        seconds = wait_ready(kubectl, version, timeout)
        pod = newest_build_pod(kubectl)
        pod_cpu = cpu.of(str(pod["metadata"]["uid"]))
        engine_cpu = (cpu.seen.get(engine, 0.0) - engine_before) if engine else 0.0
        out.append({"ready": seconds, "pod": pod_runtime(kubectl), "cpu": pod_cpu + engine_cpu,
                    "pod_cpu": pod_cpu, "engine_cpu": engine_cpu})  # fmt: skip
        say(f"{label} rebuild {version}: request -> Ready {seconds:.1f}s, build pod ran {out[-1]['pod']:.1f}s, "
            f"CPU {pod_cpu:.1f}s (pod) + {engine_cpu:.1f}s (engine)")  # fmt: skip
    return out


def median(values: list[dict[str, float]], key: str) -> float | None:
    return round(statistics.median(v[key] for v in values), 2) if values else None


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so the finally below stops the operator and the cluster


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
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
        for path in sorted((REPO / "examples" / "domains").glob("*.yaml")):
            # Made here, as the build user's: the operator (root here) would make them root's, and the build
            # pods' init container could not create the tables' folders in them.
            text = path.read_text().replace("/var/lib/datamesh/lake", str(lake))
            Path(yaml.safe_load(text)["spec"]["storage"]["location"]).mkdir(parents=True, exist_ok=True)
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
        cpu = PodCpu()
        product = (REPO / "examples/products/customer-360.yaml").read_text()
        applied = time.monotonic()
        kubectl("apply", "--server-side", "-f", "-", input=product)
        first = wait_ready(kubectl, 0, args.timeout)
        first_pod = pod_runtime(kubectl)
        say(f"apply -> Ready: {time.monotonic() - applied:.1f}s (build pod ran {first_pod:.1f}s)")
        cold = rebuilds(kubectl, cpu, 1, args.rebuilds, args.timeout, "pod")
        # The same domain, now with its warm engine: the first build starts it from zero replicas.
        kubectl(
            "patch",
            "domain",
            "sales",
            "--type=merge",
            "-p",
            json.dumps({"spec": {"compute": {"engine": "connect", "connect": {"idleAfter": "30 minutes"}}}}),
        )
        version = args.rebuilds + 1
        started = time.monotonic()
        kubectl("annotate", "--overwrite", "dataproduct", "customer-360", "-n", "sales",
                f"datamesh.dev/rebuild=bench-{version}")  # fmt: skip
        engine_first = wait_ready(kubectl, version, args.timeout)
        labels = newest_build_pod(kubectl)["metadata"]["labels"]
        if labels.get("datamesh.dev/engine") != "client":
            raise RuntimeError(f"the build after the switch did not use the engine: {labels}")
        say(f"first build on the engine (engine starting from zero): {time.monotonic() - started:.1f}s")
        warm = rebuilds(kubectl, cpu, version + 1, args.rebuilds, args.timeout, "engine")
        version += args.rebuilds
        # Applied anew while the engine is warm: the product is deleted (its table kept) and applied again.
        kubectl("delete", "dataproduct", "customer-360", "-n", "sales", "--wait=true", "--timeout=120s")
        applied = time.monotonic()
        kubectl("apply", "--server-side", "-f", "-", input=product)
        warm_apply = wait_ready_new(kubectl, applied, args.timeout)
        say(f"apply -> Ready on the warm engine: {warm_apply:.1f}s")
        cpu.stop()
        cold_cpu, warm_cpu = median(cold, "cpu"), median(warm, "cpu")
        print(json.dumps({
            "apply_to_ready_seconds": round(first, 1),
            "first_build_pod_seconds": round(first_pod, 1),
            "rebuild_to_ready_seconds_median": median(cold, "ready"),
            "rebuild_pod_seconds_median": median(cold, "pod"),
            "rebuild_cpu_seconds_median": cold_cpu,
            "engine_first_build_seconds": round(engine_first, 1),
            "engine_rebuild_to_ready_seconds_median": median(warm, "ready"),
            "engine_rebuild_pod_seconds_median": median(warm, "pod"),
            "engine_rebuild_cpu_seconds_median": warm_cpu,
            "engine_rebuild_client_cpu_seconds_median": median(warm, "pod_cpu"),
            "engine_rebuild_engine_cpu_seconds_median": median(warm, "engine_cpu"),
            "engine_apply_to_ready_seconds": round(warm_apply, 1),
            "cpu_ratio_pod_over_engine": round(cold_cpu / warm_cpu, 2) if cold_cpu and warm_cpu else None,
            "rebuilds": args.rebuilds,
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
