"""The dev node agent: a stand-in kubelet that runs pods as host processes (development tool, not the operator).

    python -m devcluster.node --kubeconfig PATH --work-dir DIR [--node-name dev-node] [--max-pods 4]

It registers a Node, keeps it Ready (Lease + Ready condition heartbeats), watches the pods bound to it and runs
their containers' `command`/`args` as host processes (images are ignored; `python` is the agent's own
interpreter), reporting phase, exit codes and termination messages through the pods' status. See
docs/dev-node.md for what it does faithfully and what it cannot do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

from devcluster import podenv
from devcluster.kubeapi import JSON, Kube, KubeError
from devcluster.nodestatus import NodeStatus
from devcluster.podrunner import PodRunner, RunnerContext, SlotPool, alive, delete_pod, signal_group

log = logging.getLogger("devcluster.node")

WATCH_TIMEOUT = 300
TERMINAL = ("Succeeded", "Failed")


class NodeAgent:
    """Watches the pods bound to the node and hands each to a `PodRunner`."""

    def __init__(
        self,
        kube: Kube,
        work_dir: Path,
        node_name: str,
        *,
        max_pods: int,
        cpu: str,
        memory: str,
        python: str,
        max_grace: float,
    ) -> None:
        self.kube = kube
        self.work_dir = work_dir
        self.pods_dir = work_dir / "pods"
        self.node_name = node_name
        self.stop_event = threading.Event()
        self.node = NodeStatus(kube, node_name, work_dir, cpu=cpu, memory=memory, max_pods=max_pods)
        facts = podenv.NodeFacts(
            name=node_name,
            api_host=kube.host,
            api_port=kube.port,
            ca_pem=kube.ca_pem(),
            python=python,
            allocatable=self.node.resources(),
        )
        self.ctx = RunnerContext(
            kube=kube,
            facts=facts,
            pods_dir=self.pods_dir,
            slots=SlotPool(max_pods),
            max_grace=max_grace,
            on_done=self._runner_done,
        )
        self._lock = threading.Lock()
        self.runners: dict[str, PodRunner] = {}
        self.done: set[str] = set()  # uids whose runner finished; only deletion is left to do for them
        self.deleting: set[str] = set()
        self.deleter = ThreadPoolExecutor(max_workers=2, thread_name_prefix="delete")

    # ----------------------------------------------------------------- lifecycle
    def run(self) -> None:
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self._register()
        heartbeat = threading.Thread(target=self.node.run, args=(self.stop_event,), name="heartbeat", daemon=True)
        heartbeat.start()
        watcher = threading.Thread(target=self._watch_forever, name="watch", daemon=True)
        watcher.start()
        while not self.stop_event.wait(1.0):
            pass
        self._shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def _register(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                self.node.register()
                return
            except Exception as error:
                log.warning("node registration failed (retrying): %s", error)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _shutdown(self) -> None:
        """Stop every pod process (so nothing outlives `devcluster down`); pod objects are left as they are."""
        with self._lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.shutdown()
        deadline = time.monotonic() + 8.0
        for runner in runners:
            runner.thread.join(max(0.0, deadline - time.monotonic()))
        self.deleter.shutdown(wait=False, cancel_futures=True)
        log.info("dev node agent stopped")

    # ----------------------------------------------------------------- watch
    def _watch_forever(self) -> None:
        selector = {"fieldSelector": f"spec.nodeName={self.node_name}"}
        version = ""
        first = True
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                if not version:
                    listing = self.kube.request("GET", "/api/v1/pods", query=selector, timeout=30)
                    version = str(listing.get("metadata", {}).get("resourceVersion", ""))
                    pods = listing.get("items") or []
                    self._sync(pods)
                    if first:
                        self._kill_orphans(pods)
                        first = False
                query = {**selector, "resourceVersion": version, "allowWatchBookmarks": True}
                for event in self.kube.watch("/api/v1/pods", query, WATCH_TIMEOUT):
                    if self.stop_event.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        raise KubeError(int(obj.get("code") or 0), str(obj.get("message")))
                    version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                    if kind == "DELETED":
                        self._gone(obj)
                    elif kind in ("ADDED", "MODIFIED"):
                        self._seen(obj)
                backoff = 0.5
            except KubeError as error:
                if error.status == 410:
                    log.info("watch expired (410 Gone): re-listing pods")
                    version = ""
                    continue
                log.warning("pod watch failed (retrying in %.1fs): %s", backoff, error)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception as error:
                log.warning("pod watch broke (retrying in %.1fs): %s: %s", backoff, type(error).__name__, error)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _sync(self, pods: list[JSON]) -> None:
        """A fresh listing: new pods start, runners whose pod vanished meanwhile stop."""
        listed = {str(pod["metadata"]["uid"]) for pod in pods}
        with self._lock:
            vanished = [runner for uid, runner in self.runners.items() if uid not in listed]
            self.done &= listed
            self.deleting &= listed
        for runner in vanished:
            runner.mark_gone()
        for pod in pods:
            self._seen(pod)

    def _seen(self, pod: JSON) -> None:
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid", ""))
        if not uid or self.stop_event.is_set():
            return
        phase = (pod.get("status") or {}).get("phase")
        with self._lock:
            runner = self.runners.get(uid)
            if runner is not None:
                runner.update(pod)
                return
            if uid in self.done or phase in TERMINAL:
                self.done.add(uid)
                if metadata.get("deletionTimestamp") and uid not in self.deleting:
                    self.deleting.add(uid)
                    self.deleter.submit(self._delete_finished, pod)
                return
            runner = PodRunner(self.ctx, pod)
            self.runners[uid] = runner
        log.info("pod %s/%s (%s): accepted", metadata.get("namespace"), metadata.get("name"), uid)
        runner.start()

    def _gone(self, pod: JSON) -> None:
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        with self._lock:
            runner = self.runners.get(uid)
            self.done.discard(uid)
            self.deleting.discard(uid)
        if runner is not None:
            runner.mark_gone()

    def _runner_done(self, uid: str) -> None:
        with self._lock:
            self.runners.pop(uid, None)
            self.done.add(uid)

    def _delete_finished(self, pod: JSON) -> None:
        metadata = pod["metadata"]
        delete_pod(
            self.kube,
            str(metadata["namespace"]),
            str(metadata["name"]),
            str(metadata["uid"]),
            lambda: self.stop_event.is_set() or str(metadata["uid"]) not in self.deleting,
        )

    def _kill_orphans(self, pods: Iterable[JSON]) -> None:
        """Processes left by an earlier agent for pods that no longer exist (or already finished) must not linger."""
        active = {str(p["metadata"]["uid"]) for p in pods if (p.get("status") or {}).get("phase") not in TERMINAL}
        for state_file in self.pods_dir.glob("*/*.state.json"):
            if state_file.parent.name.rsplit("_", 1)[-1] in active:
                continue
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                continue
            pid, start = int(state.get("pid") or 0), str(state.get("procStart") or "")
            if state.get("running") and alive(pid, start):
                log.info("killing orphaned process group %d (%s)", pid, state_file)
                signal_group(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.node", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path, help="per-pod folders, logs and state")
    parser.add_argument("--node-name", default="dev-node")
    parser.add_argument("--max-pods", type=int, default=4, help="pods running at once; later ones queue")
    parser.add_argument("--cpu", default="8", help="advertised cpu capacity (not enforced)")
    parser.add_argument("--memory", default="16Gi", help="advertised memory capacity (not enforced)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that replaces python/python3")
    parser.add_argument("--max-grace", type=float, default=30.0, help="cap on termination grace periods (s)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("urllib3", "kubernetes"):  # retries and pool churn are expected while the API server restarts
        logging.getLogger(noisy).setLevel(logging.ERROR)
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    agent = NodeAgent(
        Kube(args.kubeconfig),
        work_dir,
        args.node_name,
        max_pods=max(1, args.max_pods),
        cpu=args.cpu,
        memory=args.memory,
        python=args.python,
        max_grace=args.max_grace,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    (work_dir / "agent.pid").write_text(str(os.getpid()))
    log.info("dev node agent %s starting (max %d pods, work dir %s)", args.node_name, args.max_pods, work_dir)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
