"""Control-plane scale benchmark (not a test): thousands of DataProducts against the local control plane.

Builds run in the documented no-op mode (DATAMESH_NOOP_BUILDS=1) and no node is started, so only the control
loop is measured: the time until every product is Validated with its build Job created, against the floor
measured in the same run (the same client doing the operator's writes itself, with no operator); the
operator's peak RSS; and the operator's API requests per second once converged (target ~0: it is
watch-driven). Then, with every product published and Ready (the benchmark plays the node, see `play_node`):
what a restart of the operator costs (Job creations, status writes, other writes) and how soon a restarted
operator acts on a new change; and what a restart of the API server costs (the relists and watches).

    .venv/bin/python bench/scale.py [--products 1000] [--workers 16] [--timeout 1800] [--state-dir DIR]

The run always ends: `--timeout` bounds all of it, control plane start included (exit status 124), and on
any exit (normal, error, deadline, SIGTERM, SIGINT, SIGHUP) it stops the operator and the control plane it
started in `--state-dir` before exiting.
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
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import urllib3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from datamesh.mesh.contract import REQUEST_ENV, BuildResult  # noqa: E402
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


def timed_creates(items: list[Any], create: Callable[[Any], object], workers: int) -> float:
    start = time.monotonic()
    pool = ThreadPoolExecutor(workers)
    try:
        list(pool.map(create, items))
    except BaseException:
        # Interrupted (a signal, the deadline) or failed: drop what has not started instead of waiting for it.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return time.monotonic() - start


# ---------------------------------------------------------------------------------------------- the clock
# The clock follows products and build Jobs through watch streams, so it stops at the event that completes
# the set instead of at the next poll, and does not load the API server and the 2 cores with repeated LISTs.
# A watch can end (the server's timeout), expire (410 Gone), go silent, or be dropped by the API server when
# the reader falls behind; the first version's thread then ended quietly and its count froze (41 of 1,000
# for eight minutes). The bookkeeping below has no I/O and takes the time as an argument, so each of those
# cases is a unit test; `Follower` drives it against a `Source` (HTTP here, a fake in the tests).

#: Server-side length of one watch request: ending it regularly is normal, the stream resumes where it was.
WATCH_SECONDS = 60
#: A re-list as a safety net when no change arrived for this long (bookmarks keep a stream open, but cannot
#: prove that nothing was missed); also the read timeout of a watch: a silent connection is a stalled one.
QUIET_SECONDS = 15.0
#: Page size of a re-list, so 10,000 objects are not one response.
LIST_PAGE = 500


class Expired(Exception):
    """The API server no longer holds the resourceVersion a watch resumes from (410 Gone): re-list."""


class Stalled(Exception):
    """Not one byte, not even a bookmark, arrived on a watch for the quiet period: re-list."""


#: What an object counts for: the product it proves done, or "" for none.
Key = Callable[[Mapping[str, Any]], str]


def product_key(body: Mapping[str, Any]) -> str:
    """A DataProduct counts for itself once Validated=True (and stops counting if that turns False)."""
    conditions = (body.get("status") or {}).get("conditions") or []
    validated = any(c.get("type") == "Validated" and c.get("status") == "True" for c in conditions)
    return str((body.get("metadata") or {}).get("name", "")) if validated else ""


def job_key(body: Mapping[str, Any]) -> str:
    """A build Job counts for the product its label names."""
    return str(((body.get("metadata") or {}).get("labels") or {}).get("datamesh.dev/product", ""))


class View:
    """One resource as far as the clock knows the API server holds it: each object's name and what it counts
    for, the resourceVersion to resume from, and when the clock last learned something new (a list or a
    change; a bookmark only moves the resourceVersion). Counts are kept incrementally: a check per event must
    not cost a pass over 10,000 objects."""

    def __init__(self) -> None:
        self.members: dict[str, str] = {}
        self.resource_version = ""
        self.heard_at = float("-inf")
        self._counts: Counter[str] = Counter()

    def counted(self) -> int:
        """How many distinct products the objects count for."""
        return len(self._counts)

    def relist(self, body: Mapping[str, Any], key: Key, now: float) -> None:
        """Replace everything by a LIST response: what the API server holds wins over what the stream said."""
        self.members, self._counts = {}, Counter()
        for item in body.get("items") or []:
            self._put(str(item["metadata"]["name"]), key(item))
        self.resource_version = str((body.get("metadata") or {}).get("resourceVersion", ""))
        self.heard_at = now

    def apply(self, event: Mapping[str, Any], key: Key, now: float) -> None:
        """One watch event. Raises Expired for 410 Gone, RuntimeError for any other error event."""
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise Expired(str(body.get("message", "410 Gone")))
            raise RuntimeError(f"watch error event: {body}")
        metadata = body.get("metadata") or {}
        version = str(metadata.get("resourceVersion") or self.resource_version)
        if kind == "BOOKMARK":
            self.resource_version = version
            return
        name = str(metadata.get("name", ""))
        if kind in ("ADDED", "MODIFIED"):
            self._put(name, key(body))
        elif kind == "DELETED":
            self._drop(name)
        else:
            raise RuntimeError(f"unknown watch event type {kind!r}")
        self.resource_version, self.heard_at = version, now

    def due_for_relist(self, now: float, quiet: float) -> bool:
        return now - self.heard_at >= quiet

    def _put(self, name: str, counts_for: str) -> None:
        self._drop(name)
        self.members[name] = counts_for
        if counts_for:
            self._counts[counts_for] += 1

    def _drop(self, name: str) -> None:
        old = self.members.pop(name, "")
        if old:
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]


class Source(Protocol):
    """Where a Follower reads one resource from."""

    def list(self) -> Mapping[str, Any]:
        """The whole collection: `items` and `metadata.resourceVersion`."""
        ...

    def watch(self, resource_version: str, quiet: float) -> Iterable[Mapping[str, Any]]:
        """Events after `resource_version` until the server ends the stream; raises Stalled when nothing
        arrives for `quiet` seconds."""
        ...


class Follower:
    """Keeps a View of one resource current: list, then watch from the list's resourceVersion; resume the
    watch where it was when the server ends it; re-list after 410 Gone, a silent stream, any error, or
    `quiet` seconds without a change. Each recovery is counted by reason, for the results."""

    def __init__(self, source: Source, key: Key, *, now: Callable[[], float] = time.monotonic,
                 quiet: float = QUIET_SECONDS, on_change: Callable[[str], None] = lambda how: None,
                 pause: Callable[[float], object] | None = None) -> None:  # fmt: skip
        self.source, self.key, self.now, self.quiet, self.on_change = source, key, now, quiet, on_change
        self.view = View()
        self.recoveries: Counter[str] = Counter()
        self.last_error = ""
        self.stopped = threading.Event()
        self.pause = pause or self.stopped.wait
        self.listed = threading.Event()  # set by the first LIST: the clock knows where it starts from
        self._relist_next = True
        self._failures = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            self.step()

    def step(self) -> None:
        """One LIST, or one watch request until it ends, expires, stalls, fails or has been quiet too long."""
        try:
            if self._relist_next:
                self.view.relist(self.source.list(), self.key, self.now())
                self._relist_next, self._failures = False, 0
                self.listed.set()
                self.on_change("re-list")
            else:
                self._watch()
        except Stalled:
            self._recover("stalled")
        except Expired:
            self._recover("expired")
        except Exception as error:  # anything else: connection reset, API server restarting, bad JSON
            self.last_error = repr(error)
            self._recover("error")
            self._failures += 1
            self.pause(min(5.0, 0.2 * 2**self._failures))

    def _watch(self) -> None:
        for event in self.source.watch(self.view.resource_version, self.quiet):
            self.view.apply(event, self.key, self.now())
            self.on_change("watch event")
            if self.stopped.is_set():
                return
            if self.view.due_for_relist(self.now(), self.quiet):
                self._recover("quiet")
                return
        # The server ended the stream (its timeout): the next step resumes from the resourceVersion held,
        # unless that stream, too, brought nothing new for the quiet period.
        if self.view.due_for_relist(self.now(), self.quiet):
            self._recover("quiet")

    def _recover(self, reason: str) -> None:
        if not self.stopped.is_set():  # a stream left silent once the clock has stopped is no recovery
            self.recoveries[reason] += 1
        self._relist_next = True


class HttpSource:
    """A Source over the API server: paged LISTs and raw watch streams (one JSON event per line, read as
    each chunk arrives), through the benchmark client's connection pool and credentials."""

    def __init__(self, api: Any, path: str, selector: str = "") -> None:
        self.api, self.path = api, path
        self.selector = [("labelSelector", selector)] if selector else []

    def list(self) -> Mapping[str, Any]:
        items: list[Any] = []
        version, token = "", ""
        while True:
            query = [("limit", str(LIST_PAGE)), *self.selector, *([("continue", token)] if token else [])]
            response = raw_get(self.api, self.path, query, timeout=(10, 120))
            if response.status != 200:
                raise RuntimeError(f"LIST {self.path}: HTTP {response.status} {response.data[:200]!r}")
            page = json.loads(response.data)
            items += page.get("items") or []
            version = version or page["metadata"]["resourceVersion"]  # every page is the first page's snapshot
            token = page["metadata"].get("continue") or ""
            if not token:
                return {"items": items, "metadata": {"resourceVersion": version}}

    def watch(self, resource_version: str, quiet: float) -> Iterator[Mapping[str, Any]]:
        query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(WATCH_SECONDS)), *self.selector]  # fmt: skip
        response = raw_get(self.api, self.path, query, timeout=(10, quiet))
        try:
            if response.status == 410:
                raise Expired(f"watch {self.path} from {resource_version}: 410 Gone")
            if response.status != 200:
                raise RuntimeError(f"watch {self.path}: HTTP {response.status}")
            buffer = b""
            try:
                for chunk in response.read_chunked():  # each event as it arrives (stream(n) waits for n bytes)
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
            except urllib3.exceptions.ReadTimeoutError as error:
                raise Stalled(f"watch {self.path}: nothing for {quiet:.0f} s") from error
        finally:
            response.close()  # an abandoned stream must not go back to the pool half read


class Progress:
    """Products and build Jobs, each kept current by a Follower; `done_at` is the time (of `now`) of the
    change that completed the set, `done_by` how the clock learned it ("watch event", or "re-list" when it
    had to recover: the time is then an upper bound)."""

    def __init__(self, sources: Mapping[str, Source], expected: int, *, now: Callable[[], float] = time.monotonic,
                 quiet: float = QUIET_SECONDS) -> None:  # fmt: skip
        self.expected, self.now = expected, now
        self.done_at: float | None = None
        self.done_by = ""
        self.recovered: dict[str, int] = {}  # the recoveries until the clock stopped
        self._lock = threading.Lock()
        self.products = Follower(sources["products"], product_key, now=now, quiet=quiet, on_change=self._changed)
        self.jobs = Follower(sources["jobs"], job_key, now=now, quiet=quiet, on_change=self._changed)
        self._threads = [threading.Thread(target=follower.run, daemon=True) for follower in (self.products, self.jobs)]

    @classmethod
    def over_http(cls, api: Any, namespace: str, expected: int) -> Progress:
        return cls({
            "products": HttpSource(api, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/dataproducts"),
            "jobs": HttpSource(api, f"/apis/batch/v1/namespaces/{namespace}/jobs",
                               "app.kubernetes.io/managed-by=datamesh-operator"),
        }, expected)  # fmt: skip

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.products.stopped.set()
        self.jobs.stopped.set()

    def counts(self) -> tuple[int, int]:
        return self.products.view.counted(), self.jobs.view.counted()

    def listed(self) -> bool:
        return self.products.listed.is_set() and self.jobs.listed.is_set()

    def recoveries(self) -> dict[str, int]:
        """Re-lists after the first one, by reason and resource, e.g. {"products stalled": 1}."""
        return {f"{name} {reason}": count for name, follower in (("products", self.products), ("jobs", self.jobs))
                for reason, count in sorted(follower.recoveries.items())}  # fmt: skip

    def errors(self) -> str:
        return "; ".join(f.last_error for f in (self.products, self.jobs) if f.last_error)

    def _changed(self, how: str) -> None:
        with self._lock:
            if self.done_at is None and min(self.counts()) >= self.expected:
                self.done_at, self.done_by, self.recovered = self.now(), how, self.recoveries()


def raw_get(api: Any, path: str, query: list[tuple[str, str]], timeout: tuple[float, float] = (10, 60)) -> Any:
    """A GET through the client's connection and credentials, as an unparsed (streamable) urllib3 response;
    (connect, read) timeouts, so no request of the benchmark can hang on a silent server."""
    method, url, headers, _, _ = api.param_serialize("GET", path, query_params=query, auth_settings=["BearerToken"])
    return api.call_api(method, url, header_params=headers, _request_timeout=timeout).response


def count_pods(api: Any, namespace: str) -> int:
    """How many pods a namespace holds, from a one-item page (remainingItemCount), not a LIST of them all."""
    page = json.loads(raw_get(api, f"/api/v1/namespaces/{namespace}/pods", [("limit", "1")]).data)
    return len(page.get("items", [])) + int(page.get("metadata", {}).get("remainingItemCount") or 0)


def count_objects(api: Any, path: str) -> int:
    """How many objects a collection holds, from a one-item page (remainingItemCount), not a LIST of them all."""
    page = json.loads(raw_get(api, path, [("limit", "1")]).data)
    return len(page.get("items", [])) + int(page.get("metadata", {}).get("remainingItemCount") or 0)


def kubectl_until_done(kubectl: str, env: dict[str, str], *args: str, within: float = 180.0) -> None:
    """Run kubectl until it succeeds, for at most `within` seconds. Just after the control plane (and the
    controller manager, restarted for its rate) comes up, a request can fail on a busy 2-core machine; a
    run that stops there measures nothing. Its last error is shown if it never succeeds."""
    deadline = time.monotonic() + within
    while True:
        done = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"kubectl {' '.join(args)} failed for {within:.0f} s, last: "
                               f"{(done.stderr or done.stdout).strip()}")  # fmt: skip
        say(f"kubectl {args[0]} failed, again in 2 s: {(done.stderr or done.stdout).strip()[:300]}")
        time.sleep(2)


def controller_qps(plane: ControlPlane, qps: int | None) -> None:
    """Restart kube-controller-manager with this client rate (None: its default, 20/s, burst 30), and give it
    a few seconds to list what it watches again. The job controller creates and completes build pods
    through it: at 20/s, 10,000 pods take ~8 minutes to create and twice that to complete."""
    state = plane.state
    assert state is not None
    name = "kube-controller-manager"
    kept = [arg for arg in state.argv[name] if not arg.startswith(("--kube-api-qps=", "--kube-api-burst="))]
    state.argv[name] = kept + ([f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"] if qps else [])
    state.save(plane.state_file)
    plane.restart(name)
    time.sleep(5)


SCRAPED = ("datamesh_api_requests_total", "datamesh_reconcile_queue_depth", "datamesh_events_pending",
           "datamesh_domain_products")  # fmt: skip


def scrape(port: int) -> dict[str, float]:
    """The operator's API requests by method, its backlog (reconcile queue and Events not yet posted) and how
    many products it knows."""
    # Only these series: the whole page renders nine series per product (~1 CPU-s of the operator's at 10,000
    # products), and this is polled every second while the operator's own work is being timed.
    names = "&".join(f"name[]={name}" for name in SCRAPED)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?{names}", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(datamesh_api_requests_total)\{method=\"(\w+)\"\} ([0-9.e+]+)$", line)
        if match:
            out[match.group(2)] = float(match.group(3))
        match = re.match(r"^(datamesh_reconcile_queue_depth|datamesh_events_pending) ([0-9.e+]+)$", line)
        if match:
            out[match.group(1)] = float(match.group(2))
        match = re.match(r'^datamesh_domain_products\{domain="[^"]*"\} ([0-9.e+]+)$', line)
        if match:  # the products the operator knows (all domains)
            out["datamesh_domain_products"] = out.get("datamesh_domain_products", 0.0) + float(match.group(1))
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


def ready_key(body: Mapping[str, Any]) -> str:
    """A DataProduct counts for itself once Ready=True: published, checks passed."""
    conditions = (body.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return str((body.get("metadata") or {}).get("name", "")) if ready else ""


def wait_counted(source: Source, key: Key, expected: int, what: str, *, on_round: Callable[[Follower], object]
                 = lambda follower: None, poll: float = 2.0) -> float:  # fmt: skip
    """Follow one resource until `expected` objects count (the same watch-based clock as the convergence), and
    return how long it took. `on_round` runs every `poll` seconds with the follower (the node's work)."""
    follower = Follower(source, key)
    thread = threading.Thread(target=follower.run, daemon=True)
    start = time.monotonic()
    thread.start()
    try:
        while follower.view.counted() < expected:
            on_round(follower)
            say(f"  {follower.view.counted()} of {expected} {what} ({time.monotonic() - start:.0f} s)")
            time.sleep(poll)
    finally:
        follower.stopped.set()
    return time.monotonic() - start


# ------------------------------------------------------------------------------------------- the node
# Without a node no build pod ever runs, so no product is ever published. The benchmark plays the kubelet for
# the build pods instead: it writes each pod's status as the kubelet would once `python -m datamesh.build`
# exited in no-op mode (phase Succeeded, the container terminated with the build's result as its termination
# message). Everything after that is the real path: the job controller completes the Job, the operator reads
# the pod's termination message, accepts the NoOp result (DATAMESH_NOOP_BUILDS=1) and records the publish.


def noop_pod_status(pod: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The status the kubelet reports for a build pod whose no-op build finished at `now`."""
    container = pod["spec"]["containers"][0]
    request: dict[str, Any] = {}
    for variable in container.get("env") or []:
        if variable.get("name") == REQUEST_ENV:
            request = json.loads(variable.get("value") or "{}")
    result = BuildResult(outcome="NoOp", run_id=request.get("runId"), started_at=now, finished_at=now,
                         duration_seconds=0.0)  # fmt: skip
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    terminated = {"exitCode": 0, "reason": "Completed", "message": result.to_termination_message(),
                  "startedAt": stamp, "finishedAt": stamp}  # fmt: skip
    return {"status": {"phase": "Succeeded", "containerStatuses": [{
        "name": container["name"], "image": container.get("image", ""), "imageID": "", "ready": False,
        "restartCount": 0, "started": False, "state": {"terminated": terminated}}]}}  # fmt: skip


class Node:
    """The benchmark's kubelet: each round runs (finishes) every build pod the job controller has created that
    it has not run yet. The pods are listed only while some are left to run."""

    def __init__(self, api: Any, core: Any, namespace: str, expected: int, workers: int) -> None:
        self.source = HttpSource(api, f"/api/v1/namespaces/{namespace}/pods", "app.kubernetes.io/component=build")
        self.core, self.namespace, self.expected, self.workers = core, namespace, expected, workers
        self.ran: set[str] = set()

    def round(self, _: object = None) -> None:
        if len(self.ran) >= self.expected:
            return
        todo = [pod for pod in self.source.list()["items"] if pod["metadata"]["name"] not in self.ran
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending"]  # fmt: skip
        now = datetime.now(UTC)
        timed_creates(todo, self._run, self.workers)
        self.ran.update(pod["metadata"]["name"] for pod in todo)
        say(f"  node: {len(self.ran)} build pods run ({len(todo)} this round, {now:%H:%M:%S})")

    def _run(self, pod: Mapping[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(pod["metadata"]["name"], self.namespace,
                                              noop_pod_status(pod, datetime.now(UTC)))  # fmt: skip


# ------------------------------------------------------------------------------------------- restarts
def delete_all_products(custom: Any, api: Any, namespace: str) -> None:
    """Delete every DataProduct of `namespace` and wait until they are gone. At 10,000 products one collection
    DELETE outlasts the API server's 60 s request timeout (504) and stops where it was: it is sent again until the
    list is empty."""
    from kubernetes import client

    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/dataproducts"
    while count_objects(api, path):
        try:
            custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts")
        except client.ApiException as error:
            if error.status not in (500, 504):
                raise
            say(f"deleting the floor's products: {error.status}, {count_objects(api, path)} left; again")
        time.sleep(1)


def start_operator(plane: ControlPlane, env: dict[str, str], metrics_port: int) -> subprocess.Popen[bytes]:
    """The operator as the benchmark runs it: no-op builds, catalog off, its log appended to operator.log.
    A build pod pending for 300 s fails as Unschedulable; here pods wait for the benchmark's "node" (the
    publish phase comes minutes after the first Jobs at 10,000 products), so that timeout is a day."""
    log = (plane.dir / "operator.log").open("ab")
    operator = subprocess.Popen(
        [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", "--metrics-port",
         str(metrics_port)],
        env={**env, "DATAMESH_NOOP_BUILDS": "1", "DATAMESH_CATALOG": "off", "DATAMESH_METRICS_ADDR": "127.0.0.1",
             "DATAMESH_PENDING_TIMEOUT_SECONDS": "86400"},
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True,
    )  # fmt: skip
    log.close()
    return operator


def try_scrape(port: int) -> dict[str, float] | None:
    """The operator's metrics, or None while its metrics server is not up (just started)."""
    try:
        return scrape(port)
    except (OSError, urllib.error.URLError):
        return None


def wait_settled(operator: subprocess.Popen[bytes], port: int, products: int, *, quiet: float = 5.0,
                 poll: float = 1.0, timeout: float = 3600.0) -> float:  # fmt: skip
    """Seconds until the operator knows every product and has had nothing to do (no reconcile queued, no Event
    left to post) for `quiet` seconds in a row: it has resynced (`quiet` 0: until it knows every product).
    Raises when it exits or never settles."""
    start = time.monotonic()
    calm_since: float | None = None
    while True:
        if operator.poll() is not None:
            raise RuntimeError(f"the operator exited ({operator.returncode})")
        metrics = try_scrape(port)
        now = time.monotonic()
        idle = (
            metrics is not None
            and metrics.get("datamesh_domain_products", 0) >= products
            and (not quiet or not metrics.get("datamesh_reconcile_queue_depth"))
            and (not quiet or not metrics.get("datamesh_events_pending"))
        )
        if not idle:
            calm_since = None
        elif calm_since is None:
            calm_since = now
        if calm_since is not None and now - calm_since >= quiet:
            return calm_since - start
        if now - start > timeout:
            raise TimeoutError(f"the operator did not settle within {timeout:.0f} s")
        time.sleep(poll)


def kill_operator(operator: subprocess.Popen[bytes], operators: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL: no shutdown handler runs, as when a node dies or the OOM killer strikes."""
    os.killpg(operator.pid, signal.SIGKILL)
    operator.wait()
    operators.remove(operator)


def acted_on(custom: Any, namespace: str, name: str) -> bool:
    """Whether the operator has acted on a new product: Validated, and its build Job created (the status names
    it). A GET, so the waiting adds no LIST or watch to the API server's counts."""
    status = (custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", name).get("status")
              or {})  # fmt: skip
    validated = any(c.get("type") == "Validated" and c.get("status") == "True" for c in status.get("conditions") or [])
    return validated and bool((status.get("lastBuild") or {}).get("job"))


def time_to_act(custom: Any, namespace: str, name: str, since: float, timeout: float = 600.0) -> float:
    while not acted_on(custom, namespace, name):
        if time.monotonic() - since > timeout:
            raise TimeoutError(f"the operator did not act on {name} within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - since


def requests_by_verb(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float],
                     verbs: Iterable[str]) -> dict[str, int]:  # fmt: skip
    """What the API server counted between two snapshots for the given verbs, by "VERB resource"."""
    out = {}
    for (verb, resource), value in after.items():
        delta = int(value - before.get((verb, resource), 0.0))
        if verb in verbs and delta:
            out[f"{verb} {resource}"] = delta
    return dict(sorted(out.items(), key=lambda item: -item[1]))


def status_changes(before: Mapping[str, Any], items: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per product whose status differs from `before`, the top-level status fields (and condition types) that do."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, old, new = item["metadata"]["name"], before.get(item["metadata"]["name"]) or {}, item.get("status") or {}
        fields = sorted(key for key in {*old, *new} if key != "conditions" and old.get(key) != new.get(key))
        conditions = {c["type"]: c for c in old.get("conditions") or []}
        fields += [f"conditions.{c['type']}" for c in new.get("conditions") or [] if conditions.get(c["type"]) != c]
        if name in before and fields:
            out[name] = fields
    return out


#: What a restart must not cost for unchanged products: the writes that would be a storm.
STORM = ("POST jobs", "PATCH dataproducts/status", "PATCH dataproducts", "APPLY prometheusrules",
         "PATCH prometheusrules")  # fmt: skip


# ------------------------------------------------------------------------------------- stopping, always
# Every process the run starts lives in its own session (the control plane's, and the operator's), so a
# SIGTERM or Ctrl-C reaches only this one, and Python's default SIGTERM ends it without running a `finally`:
# the run that hung left etcd, the API server and the operator running. Here every way out goes through one
# cleanup: a normal return, an exception, SIGTERM, SIGINT, SIGHUP and the overall deadline (SIGALRM).


class Stop(BaseException):
    """Raised in the main thread by a signal or the deadline. A BaseException, so that no `except Exception`
    on the way out swallows it; every `finally` runs (the control plane's own `up` stops what it started)."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


class Exits:
    """Turns the stopping signals and the deadline into one Stop, raised once: a second signal during the
    unwinding or the cleanup is reported, not raised, so the cleanup always completes."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.armed = False

    def arm(self, timeout: float) -> None:
        self.timeout = timeout
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGALRM, self._on_deadline)
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, timeout)

    def disarm(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop(f"{signal.Signals(signum).name} received", 128 + signum)

    def _on_deadline(self, signum: int, frame: object) -> None:
        self._stop(f"the overall deadline of {self.timeout:.0f} s (--timeout) passed", 124)

    def _stop(self, reason: str, code: int) -> None:
        if not self.armed:
            say(f"{reason}: already stopping")
            return
        self.armed = False
        raise Stop(reason, code)


def own_children() -> list[int]:
    """This process's live children, from /proc: whatever it started, recorded anywhere or not (a signal
    can land between a fork and the line that notes the process id)."""
    me, children = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            children.append(int(entry.name))
    return children


def terminate(pid: int, grace: float = 10.0) -> None:
    """TERM a child (its whole process group when it leads one), KILL it after `grace`, and reap it."""

    def send(signum: int) -> None:
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def gone(wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return True
            except ChildProcessError:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    send(signal.SIGTERM)
    if not gone(grace):
        send(signal.SIGKILL)
        gone(10.0)


def stop_everything(plane: ControlPlane, operators: list[subprocess.Popen[bytes]]) -> None:
    """The operator first (it would log the API server's death), then the control plane, then any child
    still alive."""
    for operator in operators:
        terminate(operator.pid)
    operators.clear()
    plane.down(quiet=True)
    for pid in own_children():
        terminate(pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16, help="client threads for both creation runs")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="overall deadline in seconds, every phase included (exit status 124)")  # fmt: skip
    parser.add_argument("--state-dir", type=Path, default=REPO / ".devcluster-bench",
                        help="the control plane's folder (default .devcluster-bench); the run owns it")  # fmt: skip
    parser.add_argument("--controller-qps", type=int, default=200,
                        help="kube-controller-manager's --kube-api-qps (burst twice that) outside the timed runs; "
                             "its default of 20 creates and completes 10,000 build pods in ~25 minutes")  # fmt: skip
    parser.add_argument("--no-alert-rules", dest="alert_rules", action="store_false",
                        help="no PrometheusRule CRD before publishing (then no rules are applied)")  # fmt: skip
    parser.add_argument("--apiserver-window", type=float, default=60.0,
                        help="seconds after the API server's restart whose requests are counted")  # fmt: skip
    args = parser.parse_args(argv)

    plane = ControlPlane(args.state_dir, with_node=False)
    operators: list[subprocess.Popen[bytes]] = []
    exits = Exits()
    code = 1
    try:
        exits.arm(args.timeout)
        code = run(args, plane, operators)
    except Stop as stop:
        say(f"stopping: {stop.reason}")
        code = stop.code
    finally:
        while True:  # a signal landing between the try and the disarm raises once more: clean up again
            try:
                exits.disarm()
                stop_everything(plane, operators)
                break
            except Stop as stop:
                code = stop.code
        say(f"every process of the run is stopped ({args.state_dir})")
    return code


def run(args: argparse.Namespace, plane: ControlPlane, operators: list[subprocess.Popen[bytes]]) -> int:
    from kubernetes import client, config

    # Leftovers of an earlier run in the same folder (one killed with SIGKILL) would be reused by `up`.
    plane.down(quiet=True)
    kubeconfig = plane.up()
    # A fast job controller while the baseline's pods are created (so the operator's run does not pay for
    # them), its default rate during the timed runs (as in every earlier run), fast again to publish.
    controller_qps(plane, args.controller_qps)
    kubectl = str(binaries.binary("kubectl"))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    kubectl_until_done(kubectl, env, "apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl_until_done(kubectl, env, "wait", "--for=condition=Established", "--timeout=30s", "-f", str(REPO / "crds"))
    configuration = client.Configuration()
    load_kube_config: Any = config.load_kube_config  # the client's typing: plain dicts are sent as bodies
    load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = args.workers + 3  # the clock's watches too
    api = client.ApiClient(configuration)
    core: Any = client.CoreV1Api(api)
    batch: Any = client.BatchV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
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
    settle = time.monotonic() + 300 + args.products / max(args.controller_qps, 1)
    while count_pods(api, direct) < args.products and time.monotonic() < settle:
        time.sleep(1)
    controller_qps(plane, None)

    metrics_port = free_port()
    operator = start_operator(plane, env, metrics_port)
    operators.append(operator)
    deadline = time.monotonic() + 120
    while True:
        status = custom.get_cluster_custom_object(GROUP, VERSION, "domains", namespace).get("status") or {}
        if any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])):
            break
        if operator.poll() is not None:
            raise RuntimeError(f"the operator exited ({operator.returncode}); see {plane.dir / 'operator.log'}")
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark domain never became Ready")
        time.sleep(0.5)

    say(f"operator: applying {args.products} DataProducts")
    state = plane.state
    pids = {**(state.pids if state else {}), "operator": operator.pid}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    requests_before = apiserver_requests(kubectl, env)
    progress = Progress.over_http(api, namespace, args.products)
    progress.start()
    try:
        while not progress.listed():  # the clock knows where it starts before the first product is created
            time.sleep(0.1)
        start = time.monotonic()
        timed_creates(
            [product(namespace, i) for i in range(args.products)],
            lambda body: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", body),
            args.workers,
        )
        created = time.monotonic() - start
        while progress.done_at is None:
            if operator.poll() is not None:
                raise RuntimeError(f"the operator exited ({operator.returncode}); see {plane.dir / 'operator.log'}")
            recovered = progress.recoveries()
            say("  {} validated, {} with a Job".format(*progress.counts()) + f" ({time.monotonic() - start:.0f} s)"
                + (f"; clock recovered: {recovered}" if recovered else "")
                + (f"; last watch error: {progress.errors()}" if progress.errors() else ""))  # fmt: skip
            time.sleep(2)
    finally:
        progress.stop()
    converged = progress.done_at - start
    say(f"converged in {converged:.1f} s (creating the objects took {created:.1f} s; clock: {progress.done_by})")
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
    terminate(operator.pid, grace=60)
    operators.remove(operator)

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
    # The floor's products are in no domain's namespace: an operator started later would reconcile them all.
    delete_all_products(custom, api, floor_ns)
    results: dict[str, Any] = {
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
        # "re-list": the clock had to recover and learned of the last product late; its time is an upper bound.
        "clock_stopped_by": progress.done_by,
        "clock_recoveries": progress.recovered,
    }
    say(f"until now: {json.dumps(results)}")  # kept should a later phase fail
    results.update(restarts(args, plane, operators, env, kubectl, api, namespace))
    results["machine"] = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}"
    print(json.dumps(results, indent=2))
    restart, apiserver = results["restart"], results["apiserver_restart"]
    print(f"{results['ratio_to_floor']} to the floor (target <= 1.5); "
          f"peak RSS {results['operator_peak_rss_mb']} MB converging, {results['published']['operator_peak_rss_mb']} "
          f"MB publishing (target <= 400); idle {results['idle_api_requests_per_s']} req/s (target 0); "
          f"restart: {restart['storm_writes']} (target none), acted on a new product after "
          f"{restart['acted_on_new_product_s']} s (target <= 30); API server restart: "
          f"{apiserver['operator_lists_and_watches']}", flush=True)  # fmt: skip
    return 0


def restarts(args: argparse.Namespace, plane: ControlPlane, operators: list[subprocess.Popen[bytes]],
             env: dict[str, str], kubectl: str, api: Any, namespace: str) -> dict[str, Any]:  # fmt: skip
    """With every product published and Ready: what restarting the operator and the API server costs."""
    from kubernetes import client

    core: Any = client.CoreV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    products_path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/dataproducts"
    if args.alert_rules:
        # As in a cluster with the Prometheus Operator: every product gets its PrometheusRule.
        crd = str(REPO / "tests" / "fixtures" / "thirdparty" / "monitoring.coreos.com_prometheusrules.yaml")
        kubectl_until_done(kubectl, env, "apply", "--server-side", "-f", crd)
        kubectl_until_done(kubectl, env, "wait", "--for=condition=Established", "--timeout=30s", "-f", crd)

    controller_qps(plane, args.controller_qps)
    say(f"publish: the operator again, and the benchmark plays the node for {args.products} build pods")
    port = free_port()
    operator = start_operator(plane, env, port)
    operators.append(operator)
    # Not settled: a running build is looked at every 30 s, so with thousands running the queue is rarely empty.
    started = wait_settled(operator, port, args.products, quiet=0.0)
    say(f"  operator knew every product {started:.1f} s after its start (builds running)")
    node = Node(api, core, namespace, args.products, args.workers)
    published_s = wait_counted(HttpSource(api, products_path), ready_key, args.products, "products Ready",
                               on_round=node.round)  # fmt: skip
    wait_settled(operator, port, args.products)
    published = {
        "ready_after_node_s": round(published_s, 1),
        "operator_knew_every_product_after_start_s": round(started, 1),
        "operator_peak_rss_mb": round(peak_rss_mb(operator.pid), 1),
        "prometheus_rules": count_objects(api, f"/apis/monitoring.coreos.com/v1/namespaces/{namespace}/prometheusrules")
        if args.alert_rules else 0,
    }  # fmt: skip
    say(f"  published: {published}")

    say("restart: SIGKILL the operator with every product published and Ready, start it again")
    statuses = {item["metadata"]["name"]: item.get("status") for item in HttpSource(api, products_path).list()["items"]}
    before = apiserver_requests(kubectl, env)
    kill_operator(operator, operators)
    port = free_port()
    start = time.monotonic()
    operator = start_operator(plane, env, port)
    operators.append(operator)
    resynced = wait_settled(operator, port, args.products)
    after = apiserver_requests(kubectl, env)
    writes = writes_by_resource(before, after)
    changed = status_changes(statuses, HttpSource(api, products_path).list()["items"])
    restart: dict[str, Any] = {
        "resynced_s": round(resynced, 1),
        # Which products' status the restart changed, and the fields: for finding a storm's cause.
        "statuses_changed": len(changed),
        "status_changes_first": dict(list(changed.items())[:3]),
        "storm_writes": {key: writes.get(key, 0) for key in STORM},
        "writes": writes,
        "reads": requests_by_verb(before, after, ("GET", "LIST", "WATCH")),
        "operator_requests": {k: int(v) for k, v in (try_scrape(port) or {}).items() if not k.startswith("datamesh_")},
        "operator_peak_rss_mb": round(peak_rss_mb(operator.pid), 1),
    }  # fmt: skip
    say(f"  resynced in {resynced:.1f} s; writes: {writes}")

    say("restart: SIGKILL again, start it, and apply a new product at once")
    kill_operator(operator, operators)
    port = free_port()
    start = time.monotonic()
    operator = start_operator(plane, env, port)
    operators.append(operator)
    new = product(namespace, args.products)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", new)
    restart["acted_on_new_product_s"] = round(time_to_act(custom, namespace, new["metadata"]["name"], start), 1)
    say(f"  acted on {new['metadata']['name']} {restart['acted_on_new_product_s']} s after its start")
    wait_settled(operator, port, args.products + 1)

    say("API server restart under the published products")
    before_operator = scrape(port)
    start = time.monotonic()
    plane.restart("kube-apiserver")
    down_s = time.monotonic() - start
    since = time.monotonic()
    new = product(namespace, args.products + 1)
    for attempt in range(10):  # the client's pooled connections died with the old API server
        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", new)
            break
        except (urllib3.exceptions.HTTPError, OSError):
            if attempt == 9:
                raise
            time.sleep(0.5)
    acted = time_to_act(custom, namespace, new["metadata"]["name"], since)
    time.sleep(max(0.0, args.apiserver_window - (time.monotonic() - since)))
    counted = apiserver_requests(kubectl, env)  # its counters started again with it: all since the restart
    lists = requests_by_verb({}, counted, ("LIST", "WATCH"))
    ours = ("dataproducts", "domains", "governancepolicies", "jobs", "prometheusrules", "customresourcedefinitions")
    operator_after = scrape(port)
    if operator.poll() is not None:
        raise RuntimeError(f"the operator exited ({operator.returncode}) after the API server's restart")
    apiserver = {
        "restart_took_s": round(down_s, 1),
        "acted_on_new_product_s": round(acted, 1),
        "window_s": args.apiserver_window,
        "operator_lists_and_watches": {k: v for k, v in lists.items() if k.split(" ", 1)[1] in ours},
        "lists_and_watches_all_clients": lists,
        "writes": writes_by_resource({}, counted),
        "operator_requests": {k: int(v - before_operator.get(k, 0)) for k, v in operator_after.items()
                              if not k.startswith("datamesh_") and v != before_operator.get(k, 0)},
    }  # fmt: skip
    say(f"  {apiserver}")
    return {"published": published, "restart": restart, "apiserver_restart": apiserver}


if __name__ == "__main__":
    try:
        status = main()
    except BaseException:  # printed as usual; the cleanup has run in main's `finally`
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Not the interpreter's exit, which joins the thread pools: a request thread of an interrupted phase
    # must not hold the exit once every process is stopped.
    os._exit(status)
