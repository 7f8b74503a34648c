"""Kubernetes client benchmark (not a test): the operator's own calls through our client and two libraries.

The operator sends its writes and point reads through `datamesh.controller.kube.Kube` (kopf watches with its
own client). This measures those calls -- create, get, status merge-patch, server-side apply, LIST, delete
on DataProducts -- against the local control plane, each client in a fresh Python process (so its import
cost, memory and CPU are its own), `--rounds` times in an order that rotates from round to round:

- **ours**: `datamesh.controller.kube.Kube` (aiohttp, plain dicts);
- **lightkube**: `lightkube.AsyncClient` with a generic namespaced resource (httpx);
- **kubernetes_asyncio**: `CustomObjectsApi` (aiohttp, the generated client).

The libraries are not dependencies of the project: install them into a scratch directory and pass it with
--extra-path (a missing one is reported as not measured, never silently replaced):

    pip install --no-deps --target /tmp/kc lightkube lightkube-models kubernetes_asyncio msgspec six
    .venv/bin/python bench/kubeclient.py [--objects 300] [--concurrency 8] [--rounds 2] --extra-path /tmp/kc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

GROUP, VERSION, PLURAL = "datamesh.dev", "v1alpha1", "dataproducts"
CLIENTS = ("ours", "lightkube", "kubernetes_asyncio")
OPERATIONS = ("create", "get", "patch_status", "apply", "list", "delete")
#: How many full LISTs of the namespace each client does (the catalog link's and a resync's read).
LISTS = 10


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
            "description": "client benchmark product",
            "sla": {"freshness": "1 hour"},
            "schema": [{"name": "id", "type": "string"}],
            "inputs": [{"source": "bench.raw", "alias": "raw"}],
            "transform": {"sql": "SELECT id FROM raw"},
            "outputs": [{"name": "t", "format": "delta"}],
        },
    }


def status(index: int) -> dict[str, Any]:
    """A status like the operator's first one: seven conditions and the running build."""
    return {
        "observedGeneration": 1,
        "conditions": [
            {"type": kind, "status": "Unknown", "reason": "Building", "message": f"build p-{index} running",
             "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}
            for kind in ("Ready", "Validated", "Compliant", "InputsReady", "Built", "QualityPassed", "Fresh")
        ],
    }  # fmt: skip


class Verbs:
    """The six calls, whatever the client; each returns the object (or list) as the client gives it."""

    create: Callable[[dict[str, Any]], Awaitable[Any]]
    get: Callable[[str], Awaitable[Any]]
    patch_status: Callable[[str, dict[str, Any]], Awaitable[Any]]
    apply: Callable[[dict[str, Any]], Awaitable[Any]]
    list: Callable[[], Awaitable[Any]]
    delete: Callable[[str], Awaitable[Any]]
    close: Callable[[], Awaitable[Any]]


async def ours(kubeconfig: str, namespace: str) -> Verbs:
    from datamesh.controller.kube import Kube, load_credentials

    kube = Kube(load_credentials(kubeconfig))
    verbs = Verbs()
    verbs.create = kube.create
    verbs.get = lambda name: kube.get(f"{GROUP}/{VERSION}", "DataProduct", name, namespace)
    verbs.patch_status = lambda name, body: kube.patch_status(
        f"{GROUP}/{VERSION}", "DataProduct", name, namespace, body
    )
    verbs.apply = kube.apply
    verbs.list = lambda: kube.list(f"{GROUP}/{VERSION}", "DataProduct", namespace)
    verbs.delete = lambda name: kube.delete(f"{GROUP}/{VERSION}", "DataProduct", name, namespace)
    verbs.close = kube.close
    return verbs


async def lightkube(kubeconfig: str, namespace: str) -> Verbs:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.generic_resource import create_namespaced_resource
    from lightkube.types import PatchType

    resource_type = create_namespaced_resource(GROUP, VERSION, "DataProduct", PLURAL)
    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="datamesh-operator")
    verbs = Verbs()
    verbs.create = lambda body: client.create(resource_type(body))
    verbs.get = lambda name: client.get(resource_type, name, namespace=namespace)
    verbs.patch_status = lambda name, body: client.patch(
        resource_type.Status, name, {"status": body}, namespace=namespace, patch_type=PatchType.MERGE
    )
    verbs.apply = lambda body: client.apply(resource_type(body), force=True)

    async def listing() -> list[Any]:
        return [item async for item in client.list(resource_type, namespace=namespace)]

    verbs.list = listing
    verbs.delete = lambda name: client.delete(resource_type, name, namespace=namespace)
    verbs.close = client.close
    return verbs


async def kubernetes_asyncio(kubeconfig: str, namespace: str) -> Verbs:
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    api = client.ApiClient(configuration)
    custom = client.CustomObjectsApi(api)
    verbs = Verbs()
    verbs.create = lambda body: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    verbs.get = lambda name: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    verbs.patch_status = lambda name, body: custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": body}, _content_type="application/merge-patch+json"
    )
    verbs.apply = lambda body: custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body["metadata"]["name"], body,
        field_manager="datamesh-operator", force=True, _content_type="application/apply-patch+yaml",
    )  # fmt: skip
    verbs.list = lambda: custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    verbs.delete = lambda name: custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    verbs.close = api.close
    return verbs


async def bounded(concurrency: int, calls: list[Callable[[], Awaitable[Any]]]) -> float:
    """Run the calls with at most `concurrency` in flight (the operator's reconcile workers); wall seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    start = time.monotonic()
    await asyncio.gather(*(one(call) for call in calls))
    return time.monotonic() - start


async def measure(name: str, kubeconfig: str, namespace: str, objects: int, concurrency: int) -> dict[str, Any]:
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_start = time.process_time()
    verbs = await globals()[name](kubeconfig, namespace)
    import_cpu = time.process_time() - cpu_start
    names = [f"p{i:05d}" for i in range(objects)]
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}

    async def phase(operation: str, calls: list[Callable[[], Awaitable[Any]]]) -> None:
        before = time.process_time()
        seconds[operation] = round(await bounded(concurrency, calls), 3)
        cpu[operation] = round(time.process_time() - before, 3)

    await phase("create", [lambda i=i: verbs.create(product(namespace, i)) for i in range(objects)])
    await phase("get", [lambda n=n: verbs.get(n) for n in names])
    await phase("patch_status", [lambda i=i, n=n: verbs.patch_status(n, status(i)) for i, n in enumerate(names)])
    applied = [product(namespace, i) for i in range(objects)]
    for body in applied:
        body["metadata"]["labels"] = {"bench": "applied"}
    await phase("apply", [lambda b=b: verbs.apply(b) for b in applied])
    listed = await verbs.list()
    count = len(listed.get("items", [])) if isinstance(listed, dict) else len(listed)
    if count != objects:
        raise AssertionError(f"{name}: LIST returned {count} objects, expected {objects}")
    await phase("list", [verbs.list for _ in range(LISTS)])
    await phase("delete", [lambda n=n: verbs.delete(n) for n in names])
    await verbs.close()
    return {
        "client": name,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "total_seconds": round(sum(seconds.values()), 2),
        "total_cpu_seconds": round(sum(cpu.values()), 2),
        "import_and_setup_cpu_seconds": round(import_cpu, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_at_start_mb": round(rss_start / 1024, 1),
    }


def child(args: argparse.Namespace) -> int:
    result = asyncio.run(measure(args.child, args.kubeconfig, args.namespace, args.objects, args.concurrency))
    print(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight (the operator's workers)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--extra-path", default="", help="where lightkube and kubernetes_asyncio are installed")
    parser.add_argument("--state-dir", default=str(REPO / ".devcluster-bench"))
    parser.add_argument("--child", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from devcluster import binaries
    from devcluster.cluster import ControlPlane

    paths = (str(REPO / "operator"), str(REPO), os.environ.get("PYTHONPATH", ""), args.extra_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    available = [name for name in CLIENTS if name == "ours" or subprocess.run(
        [sys.executable, "-c", f"import {name}"], env=env, capture_output=True).returncode == 0]  # fmt: skip
    missing = sorted(set(CLIENTS) - set(available))
    if missing:
        say(f"not measured (not importable; see --extra-path): {', '.join(missing)}")

    plane = ControlPlane(Path(args.state_dir), with_node=False)
    kubeconfig = plane.up()
    kubectl = str(binaries.binary("kubectl"))
    kenv = {**env, "KUBECONFIG": str(kubeconfig)}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in available}
    try:
        subprocess.run([kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], env=kenv, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([kubectl, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds")],
                       env=kenv, check=True, capture_output=True)  # fmt: skip
        say(f"load average at start: {os.getloadavg()[0]:.2f}")
        for round_index in range(args.rounds):
            order = available[round_index % len(available) :] + available[: round_index % len(available)]
            for name in order:
                namespace = f"kc-{round_index}-{name.replace('_', '-')}"
                subprocess.run([kubectl, "create", "namespace", namespace], env=kenv, check=True, capture_output=True)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", name, "--kubeconfig", str(kubeconfig), "--namespace",
                     namespace, "--objects", str(args.objects), "--concurrency", str(args.concurrency)],
                    env=env, capture_output=True, text=True,
                )  # fmt: skip
                if out.returncode != 0:
                    raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
                result = json.loads(out.stdout)
                results[name].append(result)
                say(f"round {round_index + 1} {name}: {result['total_seconds']} s wall, "
                    f"{result['total_cpu_seconds']} s CPU, peak RSS {result['peak_rss_mb']} MB")  # fmt: skip
                say(f"  {result['seconds']}")
        say(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        plane.down(quiet=True)

    summary = {
        name: {
            "median_wall_s": round(statistics.median(r["total_seconds"] for r in runs), 2),
            "median_cpu_s": round(statistics.median(r["total_cpu_seconds"] for r in runs), 2),
            "median_seconds_by_call": {
                op: round(statistics.median(r["seconds"][op] for r in runs), 3) for op in OPERATIONS
            },
            "median_cpu_by_call": {
                op: round(statistics.median(r["cpu_seconds"][op] for r in runs), 3) for op in OPERATIONS
            },
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "import_and_setup_cpu_s": round(statistics.median(r["import_and_setup_cpu_seconds"] for r in runs), 3),
        }
        for name, runs in results.items()
    }
    print(json.dumps({"objects": args.objects, "concurrency": args.concurrency, "rounds": args.rounds,
                      "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
                      "clients": summary}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
