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


def timed_creates(items: list[dict[str, Any]], create: Any, workers: int) -> float:
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, items))
    return time.monotonic() - start


def count_validated_with_jobs(custom: Any, batch: Any, namespace: str) -> tuple[int, int]:
    products = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts")["items"]
    validated = sum(
        1
        for p in products
        if any(
            c["type"] == "Validated" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions", [])
        )
    )
    jobs = batch.list_namespaced_job(namespace, label_selector="app.kubernetes.io/managed-by=datamesh-operator")
    with_jobs = len({j.metadata.labels.get("datamesh.dev/product") for j in jobs.items})
    return validated, with_jobs


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(datamesh_api_requests_total)\{method=\"(\w+)\"\} ([0-9.e+]+)$", line)
        if match:
            out[match.group(2)] = float(match.group(3))
    return out


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
        subprocess.run([kubectl, "delete", "namespace", direct, "--wait=false"], env=env, capture_output=True)

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
        start = time.monotonic()
        timed_creates(
            [product(namespace, i) for i in range(args.products)],
            lambda body: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", body),
            args.workers,
        )
        created = time.monotonic() - start
        while True:
            validated, with_jobs = count_validated_with_jobs(custom, batch, namespace)
            if validated >= args.products and with_jobs >= args.products:
                break
            if time.monotonic() - start > args.timeout:
                raise TimeoutError(f"not converged: {validated} validated, {with_jobs} with jobs")
            say(f"  {validated} validated, {with_jobs} with a Job ({time.monotonic() - start:.0f} s)")
            time.sleep(2)
        converged = time.monotonic() - start
        say(f"converged in {converged:.1f} s (creating the objects took {created:.1f} s)")

        time.sleep(5)  # let the last status writes land
        before = scrape(metrics_port)
        time.sleep(args.idle_seconds)
        after = scrape(metrics_port)
        idle_requests = sum(after.values()) - sum(before.values())
        rss = peak_rss_mb(operator.pid)
        results = {
            "products": args.products,
            "baseline_create_jobs_s": round(baseline, 1),
            "operator_validated_with_jobs_s": round(converged, 1),
            "ratio": round(converged / baseline, 2),
            "operator_peak_rss_mb": round(rss, 1),
            "idle_api_requests_per_s": round(idle_requests / args.idle_seconds, 3),
            "total_api_requests": int(sum(after.values())),
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        }
        print(json.dumps(results, indent=2))
        print(f"ratio {results['ratio']} (target <= 2.0); peak RSS {results['operator_peak_rss_mb']} MB "
              f"(target <= 250); idle {results['idle_api_requests_per_s']} req/s (target ~0)")  # fmt: skip
        return 0
    finally:
        if operator is not None:
            os.killpg(operator.pid, signal.SIGTERM)
            operator.wait(timeout=60)
        plane.down(quiet=True)


if __name__ == "__main__":
    sys.exit(main())
