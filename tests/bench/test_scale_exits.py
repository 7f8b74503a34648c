"""`bench/scale.py --products 20` run for real, as a subprocess with its own state folder, and stopped every
way it can stop: SIGTERM once its control plane is up, SIGINT with the operator running, its deadline, an
error, and a normal end. After each, no process of that run may remain: etcd, kube-apiserver and the others
are found by the state folder in their command lines, the operator by the folder's kubeconfig in its
environment (its command line names no folder)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.bench.scale_module import SCRIPT

pytestmark = pytest.mark.cluster


class Bench:
    """One run of the benchmark, its stderr collected line by line as it comes."""

    def __init__(self, state: Path, *args: str) -> None:
        self.state = state
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--products", "20", "--state-dir", str(state), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.out: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, into), daemon=True)
            for stream, into in ((self.process.stderr, self.lines), (self.process.stdout, self.out))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"never printed {text!r}:\n{self.stderr}")
            time.sleep(0.2)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    def wait(self, timeout: float = 180) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the benchmark did not exit within {timeout:.0f} s:\n{self.stderr}") from None
        for reader in self._readers:
            reader.join(10)
        return code


def processes_of(state: Path) -> dict[int, str]:
    """Every live process whose command line, or environment, names the state folder."""
    needle = str(state).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def names(processes: dict[int, str]) -> set[str]:
    known = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "datamesh.cli.main operator")
    return {name for command in processes.values() for name in known if name in command}


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    # Never `.devcluster-bench/` of a real run.
    folder = tmp_path / "bench-state"
    yield folder
    for pid in processes_of(folder):  # a failed test must not leave a control plane behind for the next
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)


def test_sigterm_once_the_control_plane_is_up_stops_every_process(state: Path) -> None:
    bench = Bench(state)
    bench.wait_for("cluster ready on")
    assert {"etcd", "kube-apiserver"} <= names(processes_of(state))  # the lookup sees them while they run
    bench.process.send_signal(signal.SIGTERM)
    assert bench.wait() == 128 + signal.SIGTERM, bench.stderr
    assert processes_of(state) == {}
    assert "stopping: SIGTERM received" in bench.stderr


def test_sigint_with_the_operator_running_stops_it_too(state: Path) -> None:
    bench = Bench(state, "--idle-seconds", "600")
    bench.wait_for("operator: applying")
    assert {"etcd", "kube-apiserver", "datamesh.cli.main operator"} <= names(processes_of(state))
    bench.process.send_signal(signal.SIGINT)
    assert bench.wait() == 128 + signal.SIGINT, bench.stderr
    assert processes_of(state) == {}


def test_the_deadline_covers_every_phase(state: Path) -> None:
    """Idle for ten minutes after converging: only the overall deadline can end this run in time."""
    bench = Bench(state, "--idle-seconds", "600", "--timeout", "40")
    assert bench.wait(timeout=240) == 124, bench.stderr
    assert "deadline of 40 s (--timeout) passed" in bench.stderr
    assert processes_of(state) == {}


def test_an_error_stops_every_process(state: Path) -> None:
    bench = Bench(state, "--workers", "0")  # the thread pool refuses 0 workers at the baseline
    assert bench.wait() == 1, bench.stderr
    assert "ValueError" in bench.stderr and "cluster ready on" in bench.stderr
    assert processes_of(state) == {}


def test_a_normal_run_reports_and_stops_every_process(state: Path) -> None:
    bench = Bench(state, "--idle-seconds", "1")
    assert bench.wait(timeout=400) == 0, bench.stderr
    # The results document first, then a one-line summary of the targets.
    results, end = json.JSONDecoder().raw_decode(bench.stdout)
    assert "to the floor" in bench.stdout[end:]
    assert results["products"] == 20 and results["clock_stopped_by"] in ("watch event", "re-list")
    assert results["operator_validated_with_jobs_s"] > 0
    assert processes_of(state) == {}
