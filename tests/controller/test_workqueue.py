"""The work queue retries a failing key with its own exponential backoff and forgets it on success."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from datamesh.controller.workqueue import FAILURE_BACKOFF_MAX, WorkQueue, failure_backoff


def recording_queue(workers: int) -> tuple[WorkQueue, list[Hashable]]:
    """A queue whose reconcile only records the key it was given, in order."""
    handled: list[Hashable] = []

    async def handler(key: Hashable) -> float | None:
        handled.append(key)
        return None

    return WorkQueue(handler, workers=workers), handled


def test_backoff_doubles_per_failure_up_to_a_ceiling() -> None:
    assert [failure_backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert failure_backoff(30) == failure_backoff(10_000) == FAILURE_BACKOFF_MAX


def test_a_failing_key_backs_off_alone_and_resets_after_a_success() -> None:
    async def scenario() -> tuple[list[tuple[Hashable, float]], list[Hashable]]:
        delays: list[tuple[Hashable, float]] = []
        handled: list[Hashable] = []
        outcomes = {"bad": [RuntimeError("1"), RuntimeError("2"), RuntimeError("3"), None, RuntimeError("4")]}

        async def handler(key: Hashable) -> float | None:
            handled.append(key)
            if key == "bad" and len(handled) == 1:
                queue.add("good")  # another key is not held up by the failing one
            script = outcomes.get(str(key))
            if script:
                outcome = script.pop(0)
                if outcome is not None:
                    raise outcome
                return 0.5  # the success asks to be looked at again, and that look fails
            return None

        queue = WorkQueue(handler, workers=1)
        queue.add_after = lambda key, seconds: (delays.append((key, seconds)), queue.add(key))[1]  # type: ignore[method-assign]
        queue.start()
        queue.add("bad")
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(handled) >= 6:
                break
        await queue.stop()
        return delays, handled

    delays, handled = asyncio.run(scenario())
    # Three failures back off 1, 2, 4 s; the success resets the count, so the next failure waits 1 s again.
    assert [d for k, d in delays if k == "bad"] == [1.0, 2.0, 4.0, 0.5, 1.0]
    assert "good" in handled and not [d for k, d in delays if k == "good"]


def test_urgent_keys_go_before_a_resync_of_everything() -> None:
    """After a start every product is queued; a new one must not wait behind them all."""

    async def scenario() -> list[Hashable]:
        queue, handled = recording_queue(workers=1)
        for index in range(100):
            queue.add(f"resync-{index}")
        queue.add("new", urgent=True)
        queue.add("resync-50", urgent=True)  # queued already: moved ahead, not queued twice
        queue.add("new", urgent=True)
        assert queue.depth == 101
        queue.start()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(handled) == 101:
                break
        await queue.stop()
        return handled

    handled = asyncio.run(scenario())
    assert handled[:3] == ["new", "resync-50", "resync-0"] and len(handled) == len(set(handled)) == 101


def test_keys_added_when_quiet_wait_for_a_pause_while_urgent_ones_go_at_once() -> None:
    """The resyncs of an initial list are held while the list arrives; a new product on it is not."""

    async def scenario() -> tuple[list[Hashable], list[Hashable], int]:
        queue, handled = recording_queue(workers=2)
        queue.quiet_seconds = 0.2
        queue.start()
        for index in range(10):  # a list arriving over 0.5 s, a key every 0.05 s
            queue.add_when_quiet(f"resync-{index}")
            if index == 5:
                queue.add("new", urgent=True)
            await asyncio.sleep(0.05)
        during = list(handled)
        depth = queue.depth
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(handled) == 11:
                break
        await queue.stop()
        return during, handled, depth

    during, handled, depth = asyncio.run(scenario())
    assert during == ["new"] and depth == 10  # held keys count as waiting
    assert handled == ["new", *(f"resync-{index}" for index in range(10))]


def test_held_keys_go_at_the_latest_after_the_maximum_hold_and_are_not_handled_twice() -> None:
    async def scenario() -> list[Hashable]:
        queue, handled = recording_queue(workers=1)
        queue.quiet_seconds, queue.quiet_max_seconds = 0.2, 0.3
        queue.start()
        queue.add_when_quiet("first")
        queue.add_when_quiet("queued-meanwhile")
        queue.add("queued-meanwhile")  # queued for itself: not again on release
        for index in range(8):  # never quiet for 0.2 s, for 0.4 s
            queue.add_when_quiet(f"k{index}")
            await asyncio.sleep(0.05)
        released = list(handled)
        await asyncio.sleep(0.3)
        await queue.stop()
        assert "first" in released, "released by the maximum hold while keys kept coming"
        return handled

    handled = asyncio.run(scenario())
    assert handled.count("queued-meanwhile") == 1 and len(handled) == len(set(handled)) == 10
