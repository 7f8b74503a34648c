"""The scale benchmark's clock without an API server: a fake Source that holds objects and plays scripted
watch streams (events, a stall, an end), and a fake clock the tests move. The case that hung a real run: a
stream that goes silent while the server moves on; the clock must catch up by re-listing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.bench.scale_module import load

scale = load()
QUIET = 15.0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def product(name: str, validated: bool, version: int) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "False"},
                  {"type": "Validated", "status": "True" if validated else "Unknown"}]  # fmt: skip
    return {"metadata": {"name": name, "resourceVersion": str(version)}, "status": {"conditions": conditions}}


def job(name: str, for_product: str, version: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": str(version),
                         "labels": {"datamesh.dev/product": for_product}}}  # fmt: skip


class FakeSource:
    """What the API server holds (`objects`, `version`), and the watch sessions it will play, in order. A
    session is a list of steps: an event (dict), "stall" (the clock moves by the quiet period, then the
    read times out), ("wait", seconds), or the end of the list (the server ends the stream)."""

    def __init__(self, clock: Clock, objects: Mapping[str, dict[str, Any]] | None = None, version: int = 10) -> None:
        self.clock = clock
        self.objects = dict(objects or {})
        self.version = version
        self.sessions: list[list[Any]] = []
        self.lists = 0
        self.watched_from: list[str] = []
        self.fail_lists = 0

    def list(self) -> Mapping[str, Any]:
        if self.fail_lists:
            self.fail_lists -= 1
            raise ConnectionRefusedError("API server restarting")
        self.lists += 1
        return {"items": list(self.objects.values()), "metadata": {"resourceVersion": str(self.version)}}

    def watch(self, resource_version: str, quiet: float) -> Iterator[Mapping[str, Any]]:
        self.watched_from.append(resource_version)
        for step in self.sessions.pop(0) if self.sessions else []:
            if step == "stall":
                self.clock.advance(quiet)
                raise scale.Stalled("nothing for the quiet period")
            if isinstance(step, tuple):
                self.clock.advance(step[1])
                continue
            yield step


def progress(clock: Clock, products: FakeSource, jobs: FakeSource, expected: int) -> Any:
    return scale.Progress({"products": products, "jobs": jobs}, expected, now=clock, quiet=QUIET)


def test_a_stalled_stream_is_caught_up_by_a_relist() -> None:
    """The hung run: 41 of 1,000 products seen Validated, then the stream went silent while the API server
    went on validating all of them. The clock must not freeze at 41."""
    clock = Clock()
    names = [f"p{i:05d}" for i in range(1000)]
    products = FakeSource(clock, {n: product(n, i < 41, 10) for i, n in enumerate(names)})
    jobs = FakeSource(clock, {f"j{n}": job(f"j{n}", n, 10) for n in names})
    run = progress(clock, products, jobs, 1000)
    run.products.step(), run.jobs.step()
    assert run.counts() == (41, 1000) and run.done_at is None

    products.objects = {n: product(n, True, 2000) for n in names}  # the server moves on...
    products.version = 2000
    products.sessions = [["stall"]]  # ...and the stream says nothing
    run.products.step()
    assert run.counts() == (41, 1000) and run.products.recoveries == {"stalled": 1}

    run.products.step()  # the re-list
    assert run.counts() == (1000, 1000)
    assert run.done_at == clock() == 1000.0 + QUIET and run.done_by == "re-list"
    assert run.recoveries() == run.recovered == {"products stalled": 1} and products.lists == 2

    run.stop()  # a stream left silent after the clock stopped is no recovery
    products.sessions = [["stall"]]
    run.products.step()
    assert run.recoveries() == {"products stalled": 1}


def test_a_stream_that_only_sends_bookmarks_is_relisted_after_the_quiet_period() -> None:
    """Bookmarks keep a connection open but do not prove nothing was missed: a safety-net re-list."""
    clock = Clock()
    products = FakeSource(clock, {"p1": product("p1", False, 10)})
    run = progress(clock, products, FakeSource(clock), 1)
    run.products.step()
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "50"}}}
    later = {"type": "ADDED", "object": product("p9", True, 70)}
    products.sessions = [[("wait", 5.0), bookmark, ("wait", 5.0), bookmark, ("wait", 5.0), bookmark, later]]
    products.objects = {"p1": product("p1", True, 60)}
    run.products.step()
    assert run.products.recoveries == {"quiet": 1} and run.products.view.resource_version == "50"
    assert "p9" not in run.products.view.members  # it left the stream at the bookmark that crossed the period
    run.products.step()
    assert run.products.view.counted() == 1 and products.lists == 2


def test_a_stream_the_server_ends_resumes_where_it_was_without_a_relist() -> None:
    clock = Clock()
    products = FakeSource(clock, {"p1": product("p1", False, 10)})
    run = progress(clock, products, FakeSource(clock, {"j": job("j", "p1", 10)}), 2)
    run.products.step(), run.jobs.step()
    products.sessions = [
        [{"type": "MODIFIED", "object": product("p1", True, 11)},
         {"type": "ADDED", "object": product("p2", False, 12)}],
        [{"type": "MODIFIED", "object": product("p2", True, 13)}],
    ]  # fmt: skip
    run.products.step()
    clock.advance(3.0)
    run.products.step()
    assert products.watched_from == ["10", "12"] and products.lists == 1
    assert run.products.recoveries == {} and run.counts() == (2, 1) and run.done_at is None
    run.jobs.view.apply({"type": "ADDED", "object": job("j2", "p2", 14)}, scale.job_key, clock())
    run.jobs.on_change("watch event")
    assert run.done_at == clock() and run.done_by == "watch event"


def test_the_clock_stops_at_the_event_that_completes_the_set() -> None:
    clock = Clock()
    products = FakeSource(clock, {"p1": product("p1", False, 10), "p2": product("p2", False, 10)})
    jobs = FakeSource(clock, {"a": job("a", "p1", 10), "b": job("b", "p2", 10)})
    run = progress(clock, products, jobs, 2)
    run.products.step(), run.jobs.step()
    products.sessions = [[("wait", 1.0), {"type": "MODIFIED", "object": product("p1", True, 11)},
                          ("wait", 2.5), {"type": "MODIFIED", "object": product("p2", True, 12)},
                          ("wait", 4.0), {"type": "MODIFIED", "object": product("p2", True, 13)}]]  # fmt: skip
    run.products.step()
    assert run.done_at == 1003.5 and run.done_by == "watch event"


def test_410_gone_relists_whether_it_comes_as_an_event_or_as_the_response() -> None:
    clock = Clock()
    products = FakeSource(clock, {"p1": product("p1", False, 10)})
    run = progress(clock, products, FakeSource(clock), 1)
    run.products.step()
    products.sessions = [[{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}]]
    run.products.step()
    assert run.products.recoveries == {"expired": 1}
    run.products.step()
    assert products.lists == 2

    def gone(resource_version: str, quiet: float) -> Iterator[Mapping[str, Any]]:
        raise scale.Expired("410 Gone")

    products.watch = gone  # type: ignore[method-assign]
    run.products.step()
    assert run.products.recoveries == {"expired": 2}


def test_errors_are_retried_with_a_pause_never_fatal() -> None:
    """A failing API server (restarting, refusing connections) must not end the follower for good, as a
    dead thread ended the first version's count."""
    clock = Clock()
    products = FakeSource(clock, {"p1": product("p1", True, 10)})
    pauses: list[float] = []
    follower = scale.Follower(products, scale.product_key, now=clock, quiet=QUIET, pause=pauses.append)
    products.fail_lists = 3
    for _ in range(4):
        follower.step()
    assert pauses == [0.4, 0.8, 1.6] and "API server restarting" in follower.last_error
    assert follower.view.counted() == 1 and follower.listed.is_set()
    products.sessions = [[{"type": "WHATEVER", "object": {}}]]
    follower.step()
    assert follower.recoveries == {"error": 4} and "WHATEVER" in follower.last_error


def test_a_view_counts_what_the_server_holds() -> None:
    view = scale.View()
    view.relist({"items": [product("p1", True, 5), product("p2", False, 5)], "metadata": {"resourceVersion": "5"}},
                scale.product_key, 1.0)  # fmt: skip
    assert view.counted() == 1 and view.resource_version == "5" and view.heard_at == 1.0
    view.apply({"type": "MODIFIED", "object": product("p1", False, 6)}, scale.product_key, 2.0)
    assert view.counted() == 0  # Validated turned False: no longer counted
    view.apply({"type": "MODIFIED", "object": product("p2", True, 7)}, scale.product_key, 3.0)
    view.apply({"type": "DELETED", "object": product("p2", True, 8)}, scale.product_key, 4.0)
    assert view.counted() == 0 and view.resource_version == "8" and view.heard_at == 4.0
    view.apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}, scale.product_key, 9.0)
    assert view.resource_version == "9" and view.heard_at == 4.0  # a bookmark is not news

    jobs = scale.View()
    for name, version in (("a", 1), ("b", 2), ("c", 3)):
        jobs.apply({"type": "ADDED", "object": job(name, "p1" if name != "c" else "p2", version)}, scale.job_key, 0)
    assert jobs.counted() == 2  # two Jobs of one product count once
    jobs.apply({"type": "DELETED", "object": job("a", "p1", 4)}, scale.job_key, 0)
    assert jobs.counted() == 2
    jobs.apply({"type": "DELETED", "object": job("b", "p1", 5)}, scale.job_key, 0)
    assert jobs.counted() == 1
    jobs.relist({"items": [], "metadata": {"resourceVersion": "6"}}, scale.job_key, 0)
    assert jobs.counted() == 0 and jobs.members == {}
    with pytest.raises(RuntimeError, match="watch error event"):
        jobs.apply({"type": "ERROR", "object": {"code": 500}}, scale.job_key, 0)


# ------------------------------------------------------------------------------ stopping, in this process
@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (*scale.Exits.SIGNALS, signal.SIGALRM)}
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_the_first_signal_stops_the_run_and_a_second_one_does_not_interrupt_the_cleanup(handlers: None) -> None:
    exits = scale.Exits()
    exits.arm(600)
    with pytest.raises(scale.Stop) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert stopped.value.code == 128 + signal.SIGTERM
    os.kill(os.getpid(), signal.SIGINT)  # during the cleanup: reported, not raised
    time.sleep(0.05)
    exits.disarm()


def test_the_deadline_stops_the_run(handlers: None) -> None:
    exits = scale.Exits()
    exits.arm(0.05)
    with pytest.raises(scale.Stop) as stopped:
        time.sleep(5)
    assert stopped.value.code == 124 and "deadline" in stopped.value.reason


def test_children_are_found_without_being_recorded_and_stopped_with_their_group() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    try:
        assert leader.pid in scale.own_children()
        time.sleep(0.2)
        grandchild = next(pid for pid in pids_in_group(leader.pid) if pid != leader.pid)
        scale.terminate(leader.pid, grace=5)
        assert leader.pid not in scale.own_children()
        deadline = time.monotonic() + 5
        while pid_alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(grandchild)
    finally:
        if leader.poll() is None:
            leader.kill()


def pids_in_group(group: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == group:
                    found.append(int(entry))
            except ProcessLookupError:
                continue
    return found


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
