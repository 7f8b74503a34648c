"""Control-plane scale benchmark (not a test): 1,000 DataProducts against the local control plane.

Builds run in the documented no-op mode (DATAMESH_NOOP_BUILDS=1) and no dev node is started, so only the
control loop is measured: the time until every product is Validated with its build Job created, against the
time the same client needs to create 1,000 Jobs directly in the same run (target ratio <= 2.0); the
operator's peak RSS (target <= 250 MB); and the operator's API requests per second once converged (target
~0: it is watch-driven).

    .venv/bin/python bench/scale.py [--products 1000] [--workers 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from devcluster import binaries  # noqa: E402
from devcluster.cluster import ControlPlane, free_port  # noqa: E402

GROUP, VERSION = "datamesh.dev", "v1alpha1"


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def product(namespace: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DataProduct",
        "metadata": {"name": f"p{index:05d}", "namespace": namespace},
        "spec": {
            "domain": namespace,
            "owner": "bench@example.com",
            "description": "scale benchmark product",
            "sla": {"freshness": "1 hour"},
            "schema": [{"name": "id", "type": "string"}],
            "inputs": [{"source": "bench.raw", "alias": "raw"}],
            "transform": {"sql": "SELECT id FROM raw"},
            "outputs": [{"name": "t", "format": "delta"}],
        },
    }


def job(namespace: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"direct-{index:05d}", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "x", "command": ["true"]}]}},
        },
    }  # fmt: skip


#: A status like the operator's first one (seven conditions and the running build), written by the floor run.
FLOOR_STATUS = {
    "observedGeneration": 1,
    "conditions": [
        {"type": kind, "status": "Unknown", "reason": "Building", "message": "build p-1-844cff running",
         "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}
        for kind in ("Ready", "Validated", "Compliant", "InputsReady", "Built", "QualityPassed", "Fresh")
    ],
    "lastBuild": {"attempt": 1, "generation": 1, "job": "p-1-844cff", "outcome": "Running", "token": "spec:g1",
                  "runId": "2cd1804c-6c35-59e7-9b2e-2c7dfbabe00a", "startedAt": "2026-01-01T00:00:00Z",
                  "trigger": "spec"},
}  # fmt: skip


def timed_creates(items: list[dict[str, Any]], create: Any, workers: int) -> float:
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, items))
    return time.monotonic() - start


class Progress:
    """Follows products and build Jobs through two watch streams (raw JSON, one event each), so the clock
    stops at the event that completes the set instead of at the next poll, and the benchmark does not load
    the API server and the 2 cores with repeated LISTs of a thousand objects."""

    def __init__(self, api: Any, namespace: str, expected: int) -> None:
        self.api, self.namespace, self.expected = api, namespace, expected
        self.validated: set[str] = set()
        self.with_jobs: set[str] = set()
        self.done_at: float | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        paths = {
            "products": f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/dataproducts",
            "jobs": f"/apis/batch/v1/namespaces/{namespace}/jobs",
        }
        self._threads = [threading.Thread(target=self._follow, args=(kind, path), daemon=True)
                         for kind, path in paths.items()]  # fmt: skip

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self.validated), len(self.with_jobs)

    def _follow(self, kind: str, path: str) -> None:
        try:
            self._stream(kind, path)
        except Exception as error:  # surfaced by the main loop: a dead watch must not look like a slow operator
            self.error = f"{kind} watch failed: {error!r}"

    def _stream(self, kind: str, path: str) -> None:
        query = [("watch", "true"), ("timeoutSeconds", "3600")]
        if kind == "jobs":
            query.append(("labelSelector", "app.kubernetes.io/managed-by=datamesh-operator"))
        response = raw_get(self.api, path, query)
        buffer = b""
        for chunk in response.read_chunked():  # each event as it arrives (stream(n) waits for n bytes)
            if self._stop.is_set():
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    self._seen(kind, json.loads(line)["object"])

    def _seen(self, kind: str, body: dict[str, Any]) -> None:
        meta = body.get("metadata", {})
        with self._lock:
            if kind == "jobs":
                self.with_jobs.add((meta.get("labels") or {}).get("datamesh.dev/product", ""))
            elif any(c.get("type") == "Validated" and c.get("status") == "True"
                     for c in (body.get("status") or {}).get("conditions", [])):  # fmt: skip
                self.validated.add(meta.get("name", ""))
            if self.done_at is None and min(len(self.validated), len(self.with_jobs)) >= self.expected:
                self.done_at = time.monotonic()


def raw_get(api: Any, path: str, query: list[tuple[str, str]]) -> Any:
    """A GET through the client's connection and credentials, as an unparsed (streamable) urllib3 response."""
    method, url, headers, _, _ = api.param_serialize("GET", path, query_params=query, auth_settings=["BearerToken"])
    return api.call_api(method, url, header_params=headers).response


def count_pods(api: Any, namespace: str) -> int:
    """How many pods a namespace holds, from a one-item page (remainingItemCount), not a LIST of them all."""
    page = json.loads(raw_get(api, f"/api/v1/namespaces/{namespace}/pods", [("limit", "1")]).data)
    return len(page.get("items", [])) + int(page.get("metadata", {}).get("remainingItemCount") or 0)


def scrape(port: int) -> dict[str, float]:
    """The operator's API requests by method, and its backlog (reconcile queue and Events not yet posted)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(datamesh_api_requests_total)\{method=\"(\w+)\"\} ([0-9.e+]+)$", line)
        if match:
            out[match.group(2)] = float(match.group(3))
        match = re.match(r"^(datamesh_reconcile_queue_depth|datamesh_events_pending) ([0-9.e+]+)$", line)
        if match:
            out[match.group(1)] = float(match.group(2))
    return out


def requests_of(scraped: dict[str, float]) -> float:
    return sum(value for key, value in scraped.items() if not key.startswith("datamesh_"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def apiserver_requests(kubectl: str, env: dict[str, str]) -> dict[tuple[str, str], float]:
    """Requests the API server has served so far, by (verb, resource), from its own metrics."""
    text = subprocess.run([kubectl, "get", "--raw", "/metrics"], env=env, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        key = (
            labels.get("verb", ""),
            labels.get("resource", "") + (f"/{labels['subresource']}" * bool(labels.get("subresource"))),
        )
        out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def writes_by_resource(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]) -> dict[str, int]:
    writes = {}
    for (verb, resource), value in after.items():
        if verb in ("POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE", "APPLY"):
            delta = int(value - before.get((verb, resource), 0.0))
            if delta:
                writes[f"{verb} {resource}"] = delta
    return dict(sorted(writes.items(), key=lambda item: -item[1]))


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16, help="client threads for both creation runs")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()

    from kubernetes import client, config

    plane = ControlPlane(REPO / ".devcluster-bench", with_node=False)
    kubeconfig = plane.up()
    kubectl = str(binaries.binary("kubectl"))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    operator: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], env=env, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([kubectl, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds")],
                       env=env, check=True, capture_output=True)  # fmt: skip
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = args.workers
        api = client.ApiClient(configuration)
        core, batch, custom = client.CoreV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api)
        namespace, direct = "bench", "bench-direct"
        core.create_namespace({"metadata": {"name": direct}})
        domain = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Domain", "metadata": {"name": namespace},
                  "spec": {"owner": "bench@example.com", "description": "scale benchmark",
                           "storage": {"location": "/tmp/datamesh-bench/lake"},
                           "sources": [{"name": "bench.raw", "location": "/tmp/datamesh-bench/raw"}]}}  # fmt: skip
        custom.create_cluster_custom_object(GROUP, VERSION, "domains", domain)

        say(f"baseline: the same client creates {args.products} Jobs directly")
        baseline = timed_creates(
            [job(direct, i) for i in range(args.products)],
            lambda body: batch.create_namespaced_job(direct, body),
            args.workers,
        )
        say(f"baseline: {baseline:.1f} s")
        # The job controller goes on creating the baseline's pods after the clock stopped; let it finish, so
        # the operator's run is not charged with the baseline's leftover work. (The namespace stays: deleting
        # 2,000 objects would load the control plane during the operator's run just the same.)
        settle = time.monotonic() + 300
        while count_pods(api, direct) < args.products and time.monotonic() < settle:
            time.sleep(1)

        metrics_port = free_port()
        log = (REPO / ".devcluster-bench" / "operator.log").open("wb")
        operator = subprocess.Popen(
            [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", "--metrics-port",
             str(metrics_port)],
            env={**env, "DATAMESH_NOOP_BUILDS": "1", "DATAMESH_CATALOG": "off", "DATAMESH_METRICS_ADDR": "127.0.0.1"},
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            status = custom.get_cluster_custom_object(GROUP, VERSION, "domains", namespace).get("status") or {}
            if any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the benchmark domain never became Ready")
            time.sleep(0.5)

        say(f"operator: applying {args.products} DataProducts")
        state = plane.state
        pids = {**(state.pids if state else {}), "operator": operator.pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        requests_before = apiserver_requests(kubectl, env)
        progress = Progress(api, namespace, args.products)
        progress.start()
        time.sleep(1)  # both watches established before the first product is created
        start = time.monotonic()
        timed_creates(
            [product(namespace, i) for i in range(args.products)],
            lambda body: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", body),
            args.workers,
        )
        created = time.monotonic() - start
        while progress.done_at is None:
            if progress.error:
                raise RuntimeError(progress.error)
            if time.monotonic() - start > args.timeout:
                raise TimeoutError("not converged: {} validated, {} with jobs".format(*progress.counts()))
            say("  {} validated, {} with a Job".format(*progress.counts()) + f" ({time.monotonic() - start:.0f} s)")
            time.sleep(2)
        progress.stop()
        converged = progress.done_at - start
        say(f"converged in {converged:.1f} s (creating the objects took {created:.1f} s)")
        cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}
        writes = writes_by_resource(requests_before, apiserver_requests(kubectl, env))

        # Converged also means nothing left to do: no reconcile queued, every Event posted.
        while (backlog := scrape(metrics_port)).get("datamesh_reconcile_queue_depth") or backlog.get(
            "datamesh_events_pending"
        ):
            time.sleep(1)
        drained = time.monotonic() - start
        say(f"backlog drained after {drained:.1f} s")
        time.sleep(5)  # let the last status writes land
        before = scrape(metrics_port)
        time.sleep(args.idle_seconds)
        after = scrape(metrics_port)
        idle_requests = requests_of(after) - requests_of(before)
        rss = peak_rss_mb(operator.pid)
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(timeout=60)
        operator = None

        say(f"floor: the same client does the operator's writes itself for {args.products} products")
        floor_ns = "bench-floor"
        core.create_namespace({"metadata": {"name": floor_ns}})

        def by_hand(index: int) -> None:
            """What the operator's outcome needs at least: the product, its Job and one status write."""
            body = product(floor_ns, index)
            custom.create_namespaced_custom_object(GROUP, VERSION, floor_ns, "dataproducts", body)
            batch.create_namespaced_job(floor_ns, job(floor_ns, index))
            custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, floor_ns, "dataproducts", body["metadata"]["name"], {"status": FLOOR_STATUS}
            )

        floor = timed_creates(list(range(args.products)), by_hand, args.workers)
        say(f"floor: {floor:.1f} s")
        results = {
            "products": args.products,
            "baseline_create_jobs_s": round(baseline, 1),
            "operator_validated_with_jobs_s": round(converged, 1),
            "ratio": round(converged / baseline, 2),
            "floor_same_writes_by_hand_s": round(floor, 1),
            "ratio_to_floor": round(converged / floor, 2),
            "operator_peak_rss_mb": round(rss, 1),
            "idle_api_requests_per_s": round(idle_requests / args.idle_seconds, 3),
            "backlog_drained_s": round(drained, 1),
            "total_api_requests": int(requests_of(after)),
            "cpu_seconds_until_converged": cpu,
            "api_writes_until_converged": writes,
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        }
        print(json.dumps(results, indent=2))
        print(f"ratio {results['ratio']} (target <= 2.0), {results['ratio_to_floor']} to the floor; "
              f"peak RSS {results['operator_peak_rss_mb']} MB (target <= 250); "
              f"idle {results['idle_api_requests_per_s']} req/s (target ~0)")  # fmt: skip
        return 0
    finally:
        if operator is not None:
            os.killpg(operator.pid, signal.SIGTERM)
            operator.wait(timeout=60)
        plane.down(quiet=True)


if __name__ == "__main__":
    sys.exit(main())
