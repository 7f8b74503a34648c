"""Run one pod's containers as host processes and report their lifecycle through the pod status.

One thread per pod drives a small state machine: wait for a slot (the agent's `--max-pods`), materialise
volumes, run the init containers one after the other, then the main containers side by side, restart them
as `restartPolicy` says, and finally report Succeeded/Failed. Deletion (graceful: SIGTERM, grace period, SIGKILL,
then the final delete with grace period 0, which the kubelet normally does), `activeDeadlineSeconds`, and an
agent restart (re-adopt live processes from their state files) are handled here too.

Each container runs under a tiny `/bin/sh` shim in its own session: it records the exit code in a file, so that
a process re-adopted after an agent restart still reports its real exit code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devcluster import podenv
from devcluster.kubeapi import JSON, STRATEGIC_MERGE, Kube, KubeError, now, parse_time

log = logging.getLogger("devcluster.node")

POLL = 0.2
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
TERMINATION_MESSAGE_MAX = 4096
LOG_TAIL_BYTES = 2048
LOG_TAIL_LINES = 80
SHUTDOWN_GRACE = 3.0
GONE_GRACE_MAX = 5.0
# $0 is the exit-code file, "$@" the container's argv. Traps delay the shell's own death until its child exits.
SHIM = 'trap : TERM INT HUP; "$@"; rc=$?; echo "$rc" > "$0"; exit "$rc"'
TERMINAL = ("Succeeded", "Failed")


# --------------------------------------------------------------------------------------------------- processes
def proc_start_time(pid: int) -> str:
    """The kernel's start time of `pid` (guards against pid reuse), '' when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return "" if fields[0] == "Z" else fields[19]


def alive(pid: int, start: str) -> bool:
    return pid > 0 and bool(start) and proc_start_time(pid) == start


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class SlotPool:
    """First come, first served admission of at most `size` running pods."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._holders: set[str] = set()
        self._queue: deque[str] = deque()

    def try_acquire(self, uid: str) -> bool:
        with self._lock:
            if uid in self._holders:
                return True
            if uid not in self._queue:
                self._queue.append(uid)
            if len(self._holders) < self.size and self._queue[0] == uid:
                self._queue.popleft()
                self._holders.add(uid)
                return True
            return False

    def force(self, uid: str) -> None:
        """Count a pod whose processes already run (re-adopted), even beyond the limit."""
        with self._lock:
            self._holders.add(uid)
            with contextlib.suppress(ValueError):
                self._queue.remove(uid)

    def release(self, uid: str) -> None:
        with self._lock:
            self._holders.discard(uid)
            with contextlib.suppress(ValueError):
                self._queue.remove(uid)

    def position(self, uid: str) -> int:
        with self._lock:
            return self._queue.index(uid) + 1 if uid in self._queue else 0


@dataclass
class RunnerContext:
    kube: Kube
    facts: podenv.NodeFacts
    pods_dir: Path
    slots: SlotPool
    max_grace: float
    on_done: Callable[[str], None]


@dataclass
class Run:
    """One container of the pod and its current process."""

    name: str
    spec: JSON
    kind: str  # "init", "sidecar" (init container with restartPolicy Always) or "main"
    restart_count: int = 0
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0
    proc_start: str = ""
    started_at: str = ""
    running: bool = False
    restarting: bool = False
    terminated: JSON | None = None
    last_terminated: JSON | None = None
    waiting: tuple[str, str] = ("ContainerCreating", "")
    not_before: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


def pod_dir_name(pod: JSON) -> str:
    metadata = pod["metadata"]
    return f"{metadata['namespace']}_{str(metadata['name'])[:150]}_{metadata['uid']}"


class PodRunner:
    """Owns one pod (by uid) on the node, from first sight until it is terminal, deleted or gone."""

    def __init__(self, ctx: RunnerContext, pod: JSON) -> None:
        self.ctx = ctx
        self._pod = pod
        metadata = pod["metadata"]
        self.uid = str(metadata["uid"])
        self.namespace = str(metadata["namespace"])
        self.name = str(metadata["name"])
        self.dir = ctx.pods_dir / pod_dir_name(pod)
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._gone = False
        self._shutdown = False
        spec = pod.get("spec") or {}
        self.restart_policy = str(spec.get("restartPolicy") or "Always")
        self.runs: list[Run] = [
            Run(str(c.get("name")), c, "sidecar" if c.get("restartPolicy") == "Always" else "init")
            for c in spec.get("initContainers") or []
        ] + [Run(str(c.get("name")), c, "main") for c in spec.get("containers") or []]
        for run in self.runs:
            if run.kind != "main":
                run.waiting = ("PodInitializing", "")
        status = pod.get("status") or {}
        self.start_time: str = str(status.get("startTime") or now())
        self.conditions: dict[str, JSON] = {str(c.get("type")): c for c in status.get("conditions") or []}
        self.phase = "Pending"
        self.reason = ""
        self.message = ""
        self.terminal = False
        self.stopping = False
        self.has_slot = False
        self.initialized = False
        self.volumes: dict[str, Path] | None = None
        self.volume_retry = 0.0
        self.published = ""
        self.thread = threading.Thread(target=self._main, name=f"pod {self.namespace}/{self.name}", daemon=True)

    # ----------------------------------------------------------------- called from the agent's threads
    def start(self) -> None:
        self.thread.start()

    def update(self, pod: JSON) -> None:
        with self._lock:
            self._pod = pod
        self.wake.set()

    def mark_gone(self) -> None:
        with self._lock:
            self._gone = True
        self.wake.set()

    def shutdown(self) -> None:
        with self._lock:
            self._shutdown = True
        self.wake.set()

    # ----------------------------------------------------------------- the pod's thread
    def _main(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._recover()
            self._loop()
        except Exception as error:  # a weird pod must never take the agent down
            log.exception("pod %s/%s: unexpected error", self.namespace, self.name)
            with contextlib.suppress(Exception):
                self.stopping = True
                self._kill_all(0)
                if not self.terminal:
                    self._finish("Failed", "DevNodeError", f"dev node agent error: {type(error).__name__}: {error}")
                self._publish()
        finally:
            self.ctx.slots.release(self.uid)
            self.ctx.on_done(self.uid)

    def _loop(self) -> None:
        while True:
            with self._lock:
                pod, gone, shutdown = self._pod, self._gone, self._shutdown
            if shutdown:
                self._stop_for_shutdown()
                return
            if gone:
                self.stopping = True
                self._kill_all(min(self._grace(pod), GONE_GRACE_MAX))
                return
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._terminate_and_delete(pod)
                return
            if not self.terminal:
                try:
                    self._check_deadline(pod)
                    if not self.terminal:
                        self._step(pod)
                except podenv.Unsupported as error:
                    log.warning("pod %s/%s: %s", self.namespace, self.name, error)
                    self.stopping = True
                    self._kill_all(0)
                    self._finish("Failed", "DevNodeUnsupported", str(error))
            if self._publish() and self.terminal:
                log.info("pod %s/%s: %s", self.namespace, self.name, self.phase)
                return
            self.wake.wait(POLL)
            self.wake.clear()

    # ----------------------------------------------------------------- state machine
    def _step(self, pod: JSON) -> None:
        if not self.has_slot:
            if not self.ctx.slots.try_acquire(self.uid):
                position = self.ctx.slots.position(self.uid)
                message = f"queued on the dev node (position {position}; --max-pods={self.ctx.slots.size})"
                self._set_waiting("ContainerCreating", message)
                return
            self.has_slot = True
        if self.volumes is None:
            if time.monotonic() < self.volume_retry:
                return
            try:
                self.volumes = podenv.prepare_volumes(self.ctx.kube, self.ctx.facts, pod, self.dir)
            except podenv.ConfigError as error:
                self._set_waiting("CreateContainerConfigError", str(error))
                self.volume_retry = time.monotonic() + 2.0
                return
            self._set_waiting("", "")
        if not self._step_init(pod):
            return
        self.initialized = True
        mains = [run for run in self.runs if run.kind == "main"]
        for run in mains:
            self._poll(run)
            if not run.running and run.terminated is None and time.monotonic() >= run.not_before:
                self._start(pod, run)
        if all(run.terminated is not None for run in mains):
            self.stopping = True
            self._kill_all(self._grace(pod), kinds=("sidecar",))
            succeeded = all(run.terminated and run.terminated.get("exitCode") == 0 for run in mains)
            self._finish("Succeeded" if succeeded else "Failed")

    def _step_init(self, pod: JSON) -> bool:
        """Advance the init containers; True once they are all done (sidecars: started)."""
        for run in self.runs:
            if run.kind == "main":
                continue
            self._poll(run)
            if run.kind == "sidecar":
                if not run.running and run.terminated is None and time.monotonic() >= run.not_before:
                    self._start(pod, run)
                if not run.running:
                    return False
                continue
            if run.terminated is not None:
                if run.terminated.get("exitCode") == 0:
                    continue
                self._finish("Failed", "", f"init container {run.name!r} failed")
                return False
            if not run.running and time.monotonic() >= run.not_before:
                self._start(pod, run)
            return False
        return True

    def _set_waiting(self, reason: str, message: str) -> None:
        """Explain why containers have not started yet; an empty reason restores the defaults."""
        has_init = any(run.kind != "main" for run in self.runs)
        for run in self.runs:
            if run.running or run.terminated is not None or run.restarting:
                continue
            if reason:
                run.waiting = (reason, message)
            else:
                run.waiting = ("PodInitializing" if has_init else "ContainerCreating", "")

    def _check_deadline(self, pod: JSON) -> None:
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        started = parse_time(self.start_time)
        if deadline is None or started is None:
            return
        if time.time() - started.timestamp() <= float(deadline):
            return
        self.stopping = True
        self._kill_all(self._grace(pod))
        self._finish("Failed", "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")

    def _grace(self, pod: JSON) -> float:
        metadata = pod.get("metadata") or {}
        grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return float(min(max(float(grace or 0), 0.0), self.ctx.max_grace))

    def _finish(self, phase: str, reason: str = "", message: str = "") -> None:
        self.terminal = True
        self.phase = phase
        self.reason = reason
        self.message = message

    # ----------------------------------------------------------------- processes
    def _paths(self, run: Run) -> tuple[Path, Path, Path, Path]:
        base = self.dir / run.name
        return (
            base.with_name(f"{run.name}.log"),
            base.with_name(f"{run.name}.termination-log"),
            base.with_name(f"{run.name}.exit"),
            base.with_name(f"{run.name}.state.json"),
        )

    def _start(self, pod: JSON, run: Run) -> None:
        log_path, termination, exit_file, _ = self._paths(run)
        run.pid, run.proc_start = 0, ""
        if run.restarting:
            run.restart_count += 1
            run.restarting = False
        try:
            assert self.volumes is not None
            launch = podenv.build_launch(
                self.ctx.kube, self.ctx.facts, pod, run.spec, self.dir, self.volumes, termination
            )
            if log_path.exists() and run.restart_count:
                log_path.replace(log_path.with_name(f"{run.name}.previous.log"))
            termination.write_bytes(b"")
            exit_file.unlink(missing_ok=True)
            with log_path.open("ab") as out:
                process = subprocess.Popen(
                    ["/bin/sh", "-c", SHIM, str(exit_file), *launch.argv],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=launch.cwd,
                    env=launch.env,
                    start_new_session=True,
                )
        except podenv.ConfigError as error:
            run.waiting = ("CreateContainerConfigError", str(error))
            run.not_before = time.monotonic() + 2.0
            return
        except (podenv.StartError, OSError) as error:
            run.started_at = now()
            self._record_exit(run, 128, "StartError", str(error))
            return
        except podenv.Unsupported as error:
            run.started_at = now()
            self._record_exit(run, 128, "DevNodeUnsupported", str(error))
            raise
        run.process = process
        run.pid = process.pid
        run.proc_start = proc_start_time(process.pid)
        run.started_at = now()
        run.running = True
        log.info("pod %s/%s: started container %s (pid %d): %s", self.namespace, self.name, run.name, run.pid,
                 " ".join(launch.argv)[:300])  # fmt: skip
        self._save(run)

    def _exit_code(self, run: Run) -> int | None:
        """The exit code if the container's process has ended (kubelet style: 128+N for signal N)."""
        if run.process is not None:
            code = run.process.poll()
            if code is None:
                return None
            return 128 - code if code < 0 else code
        if alive(run.pid, run.proc_start):
            return None
        recorded = self._recorded_exit(run)
        return 137 if recorded is None else recorded

    def _recorded_exit(self, run: Run) -> int | None:
        try:
            return int(self._paths(run)[2].read_text().strip())
        except (OSError, ValueError):
            return None

    def _poll(self, run: Run) -> None:
        if run.running:
            code = self._exit_code(run)
            if code is not None:
                self._record_exit(run, code)

    def _record_exit(self, run: Run, code: int, reason: str = "", message: str = "") -> None:
        if run.pid:
            signal_group(run.pid, signal.SIGKILL)  # like a container: its leftovers die with it
            run.pid, run.proc_start = 0, ""
        log_path, termination, _, _ = self._paths(run)
        if not message:
            message = _termination_message(run.spec, termination, log_path, code)
        terminated: JSON = {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": run.started_at or now(),
            "finishedAt": now(),
            "containerID": self._container_id(run),
        }
        if message:
            terminated["message"] = message
        run.terminated = terminated
        run.running = False
        run.process = None
        log.info("pod %s/%s: container %s exited %d", self.namespace, self.name, run.name, code)
        self._decide_restart(run)
        self._save(run)

    def _decide_restart(self, run: Run) -> None:
        if run.terminated is None or self.stopping or self.terminal:
            return
        code = run.terminated.get("exitCode")
        if run.kind == "sidecar" or self.restart_policy == "Always" and run.kind == "main":
            again = True
        elif run.kind == "init":
            again = code != 0 and self.restart_policy != "Never"
        else:
            again = code != 0 and self.restart_policy == "OnFailure"
        if run.terminated.get("reason") == "DevNodeUnsupported":
            again = False
        if not again:
            return
        delay = min(BACKOFF_BASE * 2 ** min(run.restart_count, 10), BACKOFF_MAX)
        run.last_terminated = run.terminated
        run.terminated = None
        run.restarting = True
        run.not_before = time.monotonic() + delay
        run.waiting = ("CrashLoopBackOff", f"back-off {delay:.0f}s restarting failed container={run.name}")

    def _kill_all(self, grace: float, kinds: tuple[str, ...] = ("init", "sidecar", "main")) -> None:
        targets = [run for run in self.runs if run.running and run.kind in kinds]
        for run in targets:
            signal_group(run.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self._exit_code(run) is None for run in targets):
            time.sleep(0.1)
        for run in targets:
            if self._exit_code(run) is None:
                signal_group(run.pid, signal.SIGKILL)
                if run.process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        run.process.wait(timeout=5)
            code = self._exit_code(run)
            self._record_exit(run, 137 if code is None else code)

    def _container_id(self, run: Run) -> str:
        return f"devnode://{self.uid}/{run.name}/{run.restart_count}"

    # ----------------------------------------------------------------- persistence and recovery
    def _save(self, run: Run) -> None:
        state = {
            "pid": run.pid,
            "procStart": run.proc_start,
            "running": run.running,
            "restartCount": run.restart_count,
            "restarting": run.restarting,
            "startedAt": run.started_at,
            "terminated": run.terminated,
            "lastTerminated": run.last_terminated,
        }
        path = self._paths(run)[3]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(path)

    def _recover(self) -> None:
        """Pick up where a previous agent left off: re-adopt live processes, account for lost ones."""
        adopted = False
        for run in self.runs:
            try:
                state = json.loads(self._paths(run)[3].read_text())
            except (OSError, ValueError):
                continue
            run.restart_count = int(state.get("restartCount") or 0)
            run.restarting = bool(state.get("restarting"))
            run.started_at = str(state.get("startedAt") or "")
            run.terminated = state.get("terminated")
            run.last_terminated = state.get("lastTerminated")
            run.pid = int(state.get("pid") or 0)
            run.proc_start = str(state.get("procStart") or "")
            if state.get("running"):
                if alive(run.pid, run.proc_start):
                    run.running = True
                    adopted = True
                    log.info("pod %s/%s: re-adopted container %s (pid %d)", self.namespace, self.name, run.name,
                             run.pid)  # fmt: skip
                    continue
                code = self._recorded_exit(run)
                if code is None:
                    self._record_exit(run, 137, "DevNodeRestarted", "the dev node agent restarted; process lost")
                else:
                    self._record_exit(run, code)
            elif run.terminated is not None:
                self._decide_restart(run)
            if run.restarting:
                run.waiting = ("CrashLoopBackOff", f"restarting failed container={run.name}")
        if adopted:
            self.ctx.slots.force(self.uid)
            self.has_slot = True

    def _stop_for_shutdown(self) -> None:
        """The agent stops: end our processes (nothing may outlive `devcluster down`), record them as lost."""
        self.stopping = True
        targets = [run for run in self.runs if run.running]
        self._kill_all(SHUTDOWN_GRACE)
        for run in targets:
            run.terminated = {
                **(run.terminated or {}),
                "exitCode": 137,
                "reason": "DevNodeRestarted",
                "message": "the dev node agent stopped while the container was running",
            }
            self._save(run)  # the next agent applies the restart policy

    # ----------------------------------------------------------------- deletion
    def _terminate_and_delete(self, pod: JSON) -> None:
        self.stopping = True
        self._kill_all(self._grace(pod))
        if not self.terminal:
            mains = [run for run in self.runs if run.kind == "main"]
            ok = all(run.terminated and run.terminated.get("exitCode") == 0 for run in mains)
            self._finish("Succeeded" if ok else "Failed")
        self._publish()
        self.ctx.slots.release(self.uid)
        delete_pod(self.ctx.kube, self.namespace, self.name, self.uid, lambda: self._gone or self._shutdown)

    # ----------------------------------------------------------------- status
    def _publish(self) -> bool:
        status = self._status()
        text = json.dumps(status, sort_keys=True)
        if text == self.published:
            return True
        body = {"metadata": {"uid": self.uid}, "status": status}
        try:
            self.ctx.kube.request(
                "PATCH",
                f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                body=body,
                content_type=STRATEGIC_MERGE,
            )
        except KubeError as error:
            if error.status in (404, 409):
                self.mark_gone()
                return False
            if error.status == 422:
                log.error("pod %s/%s: status rejected: %s", self.namespace, self.name, error)
                self.published = text
                return True
            log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, error)
            return False
        self.published = text
        return True

    def _condition(self, kind: str, ok: bool, reason: str = "", message: str = "") -> JSON:
        value = "True" if ok else "False"
        previous = self.conditions.get(kind) or {}
        stamp = previous.get("lastTransitionTime") if previous.get("status") == value else None
        condition: JSON = {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": stamp or now()}
        if reason and not ok:
            condition["reason"] = reason
        if message and not ok:
            condition["message"] = message
        self.conditions[kind] = condition
        return condition

    def _status(self) -> JSON:
        mains = [run for run in self.runs if run.kind == "main"]
        inits = [run for run in self.runs if run.kind != "main"]
        if not self.terminal:
            started = any(run.running or run.terminated or run.restarting for run in mains)
            self.phase = "Running" if self.initialized and started else "Pending"
        unready = [run.name for run in mains if not run.running]
        pending_init = [run.name for run in inits if not self.initialized]
        ready = not self.terminal and not unready
        not_ready_reason = "PodCompleted" if self.terminal else "ContainersNotReady"
        not_ready_message = "" if self.terminal else f"containers with unready status: [{' '.join(unready)}]"
        conditions = [
            self._condition("PodReadyToStartContainers", self.volumes is not None),
            self._condition(
                "Initialized",
                self.initialized or (self.terminal and not pending_init),
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(pending_init)}]",
            ),
            self._condition("ContainersReady", ready, not_ready_reason, not_ready_message),
            self._condition("Ready", ready, not_ready_reason, not_ready_message),
        ]
        status: JSON = {
            "phase": self.phase,
            "hostIP": podenv.POD_IP,
            "hostIPs": [{"ip": podenv.POD_IP}],
            "startTime": self.start_time,
            "conditions": conditions,
            "containerStatuses": [self._container_status(run) for run in mains],
        }
        if self.has_slot or self.terminal:
            status["podIP"] = podenv.POD_IP
            status["podIPs"] = [{"ip": podenv.POD_IP}]
        if inits:
            status["initContainerStatuses"] = [self._container_status(run) for run in inits]
        if self.reason:
            status["reason"] = self.reason
        if self.message:
            status["message"] = self.message
        return status

    def _container_status(self, run: Run) -> JSON:
        state: JSON
        if run.running:
            state = {"running": {"startedAt": run.started_at}}
        elif run.terminated is not None:
            state = {"terminated": run.terminated}
        else:
            reason, message = run.waiting
            if self.terminal:  # never started and never will: say why
                reason, message = self.reason or "PodTerminated", self.message or message
            state = {"waiting": {"reason": reason or "ContainerCreating", **({"message": message} if message else {})}}
        status: JSON = {
            "name": run.name,
            "image": str(run.spec.get("image") or ""),
            "imageID": "",
            "ready": run.running and not self.terminal,
            "started": run.running,
            "restartCount": run.restart_count,
            "state": state,
            "lastState": {"terminated": run.last_terminated} if run.last_terminated else {},
        }
        if run.started_at:
            status["containerID"] = self._container_id(run)
        return status


def delete_pod(kube: Kube, namespace: str, name: str, uid: str, give_up: Callable[[], bool]) -> None:
    """The kubelet's final delete (grace period 0): without it a terminating pod never disappears."""
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
    backoff = 0.5
    while True:
        try:
            kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", body=body)
            log.info("pod %s/%s: deleted", namespace, name)
            return
        except KubeError as error:
            if error.status in (404, 409):
                return
            log.warning("pod %s/%s: final delete failed: %s", namespace, name, error)
        if give_up():
            return
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


def _termination_message(spec: JSON, termination: Path, log_path: Path, code: int) -> str:
    try:
        with termination.open("rb") as handle:
            message = handle.read(TERMINATION_MESSAGE_MAX).decode(errors="replace")
    except OSError:
        message = ""
    if message or code == 0 or spec.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return message
    try:
        with log_path.open("rb") as handle:
            handle.seek(max(0, log_path.stat().st_size - LOG_TAIL_BYTES))
            tail = handle.read(LOG_TAIL_BYTES).decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(tail.splitlines()[-LOG_TAIL_LINES:])
