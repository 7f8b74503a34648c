"""The event recorder never blocks a reconcile, keeps order, limits its rate and drops (counted) when full.

The API client is replaced by a recorder of calls here: what is under test is the buffering and pacing;
posting real Events to a real API server is covered by tests/operator (BuildStarted, BuildFailed, Stale).
Pacing is read from a hand-advanced clock, never from the wall clock (a busy machine would make it flaky).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from datamesh.controller.events import EVENTS_DROPPED, EventRecorder, TokenBucket
from datamesh.controller.kube import ApiError


class Clock:
    """Time that moves only when the recorder sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class RecordingKube:
    def __init__(self, fail_first: int = 0, clock: Clock | None = None) -> None:
        self.posted: list[tuple[float, dict[str, Any]]] = []
        self.fail_first = fail_first
        self.clock = clock or Clock()

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail_first:
            self.fail_first -= 1
            raise ApiError(500, '{"message": "etcd timeout"}')
        self.posted.append((self.clock(), body))
        return body


def involved(name: str) -> dict[str, Any]:
    return {"apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct",
            "metadata": {"name": name, "namespace": "sales", "uid": f"uid-{name}"}}  # fmt: skip


def test_token_bucket_allows_a_burst_then_paces() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, burst=3, clock=clock)
    assert [bucket.wait_time() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait_time() == pytest.approx(0.1)
    assert bucket.wait_time() == pytest.approx(0.2)
    clock.now += 10.0  # refilled, but never beyond the burst
    assert [bucket.wait_time() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait_time() == pytest.approx(0.1)


def test_events_are_posted_in_order_at_the_configured_rate() -> None:
    async def scenario() -> RecordingKube:
        clock = Clock()
        kube = RecordingKube(clock=clock)
        recorder = EventRecorder(kube, rate=50.0, burst=5, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
        recorder.start()
        for i in range(15):
            recorder.record(involved(f"p{i}"), "Normal", "BuildStarted", f"started job j{i}")
        assert recorder.pending == 15, "recording returns at once; nothing was posted inline"
        await recorder.stop(flush_seconds=5)
        return kube

    kube = asyncio.run(scenario())
    names = [body["involvedObject"]["name"] for _, body in kube.posted]
    assert names == [f"p{i}" for i in range(15)]
    # The burst of 5 goes at once, then one every 1/50 s.
    stamps = [stamp for stamp, _ in kube.posted]
    assert stamps[:5] == [0.0] * 5
    assert stamps[5:] == pytest.approx([0.02 * n for n in range(1, 11)])
    assert kube.posted[0][1]["reason"] == "BuildStarted" and kube.posted[0][1]["type"] == "Normal"


def test_repeated_identical_events_are_sent_once() -> None:
    async def scenario() -> RecordingKube:
        kube = RecordingKube()
        recorder = EventRecorder(kube)  # type: ignore[arg-type]
        for _ in range(3):
            recorder.record(involved("p"), "Warning", "Stale", "data age 2h exceeds the SLA of 1h")
        await recorder.flush()
        return kube

    assert len(asyncio.run(scenario()).posted) == 1


def test_a_full_buffer_drops_and_counts_instead_of_growing() -> None:
    async def scenario() -> tuple[RecordingKube, EventRecorder]:
        kube = RecordingKube()
        recorder = EventRecorder(kube, buffer=3)  # type: ignore[arg-type]
        for i in range(5):
            recorder.record(involved(f"p{i}"), "Normal", "BuildStarted", "started")
        await recorder.flush()
        return kube, recorder

    before = EVENTS_DROPPED._value.get()
    kube, recorder = asyncio.run(scenario())
    assert [body["involvedObject"]["name"] for _, body in kube.posted] == ["p0", "p1", "p2"]
    assert EVENTS_DROPPED._value.get() - before == 2
    assert recorder.pending == 0


def test_a_failed_post_neither_raises_nor_stops_the_sender() -> None:
    async def scenario() -> RecordingKube:
        kube = RecordingKube(fail_first=1)
        recorder = EventRecorder(kube)  # type: ignore[arg-type]
        recorder.start()
        recorder.record(involved("a"), "Normal", "BuildStarted", "started")
        recorder.record(involved("b"), "Normal", "BuildStarted", "started")
        await recorder.stop(flush_seconds=2)
        return kube

    assert [body["involvedObject"]["name"] for _, body in asyncio.run(scenario()).posted] == ["b"]
