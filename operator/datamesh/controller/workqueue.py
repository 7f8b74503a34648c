"""A deduplicating, delay-capable work queue with a fixed number of workers (as in client-go).

Many events about one object fold into one reconcile; one object is never reconciled by two workers at
once; and a reconcile can ask to run again later (timers for freshness and schedules) without a task per
object.

Keys added as urgent go before the others: after a start every product is queued for a resync, and a new or
changed one waited behind all of them (10,000 reconciles with nothing to do) before the operator acted on it.

Keys added "when quiet" (the resyncs of an initial list) are queued only once no such key came for a moment:
the operator reads a list of thousands of objects in one thread, and resyncs run while it reads made the list,
and with it a new product at its end, arrive that much later (3,000 products: 8 of 36 CPU-s, pyinstrument).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

logger = logging.getLogger(__name__)
#: A key whose reconcile raised is retried after 1 s, 2 s, 4 s... up to 5 minutes, per key (client-go's
#: ItemExponentialFailureRateLimiter): one broken object or an API outage must not spin a worker.
FAILURE_BACKOFF_BASE = 1.0
FAILURE_BACKOFF_MAX = 300.0


#: "When quiet": keys wait until none came for QUIET_SECONDS, and never more than QUIET_MAX_SECONDS after the first.
QUIET_SECONDS = 2.0
QUIET_MAX_SECONDS = 60.0


def failure_backoff(failures: int) -> float:
    return float(min(FAILURE_BACKOFF_MAX, FAILURE_BACKOFF_BASE * 2 ** min(max(failures - 1, 0), 32)))


class WorkQueue:
    def __init__(self, handler: Callable[[Hashable], Awaitable[float | None]], *, workers: int) -> None:
        self._handler = handler
        self._workers = workers
        # One token per queued key; the keys wait in two lanes, urgent first.
        self._tokens: asyncio.Queue[None] = asyncio.Queue()
        self._urgent: deque[Hashable] = deque()
        self._normal: deque[Hashable] = deque()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._failures: dict[Hashable, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: Keys added when quiet, in order, the loop times of the first and the last, and the timer that queues them.
        self._deferred: dict[Hashable, None] = {}
        self._deferred_since = 0.0
        self._deferred_last = 0.0
        self._deferred_timer: asyncio.TimerHandle | None = None
        self.quiet_seconds = QUIET_SECONDS
        self.quiet_max_seconds = QUIET_MAX_SECONDS
        self.errors = 0
        self.on_error: Callable[[Hashable], None] | None = None

    @property
    def depth(self) -> int:
        """Keys waiting, held ones included (a caller waiting for an idle queue must wait for those too)."""
        return len(self._urgent) + len(self._normal) + len(self._deferred)

    def add(self, key: Hashable, *, urgent: bool = False) -> None:
        """Queue a key once; `urgent` puts it (or moves it, if queued already) before the others."""
        self._deferred.pop(key, None)  # queued now: not again when the held keys are released
        if key in self._active:
            self._dirty.add(key)  # run once more after the current reconcile
            return
        if key not in self._queued:
            self._queued.add(key)
            (self._urgent if urgent else self._normal).append(key)
            self._tokens.put_nowait(None)
        elif urgent and key in self._normal:
            self._normal.remove(key)
            self._urgent.append(key)

    def add_when_quiet(self, key: Hashable) -> None:
        """Queue a key (normal lane) once no key was added this way for `quiet_seconds`, or at the latest
        `quiet_max_seconds` after the first one waiting. Keys added meanwhile by `add` are not held."""
        # One timer for the whole hold, looked at again when it fires: not a new one per key (thousands a list).
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._deferred:
            self._deferred_since = now
        self._deferred[key] = None
        self._deferred_last = now
        if self._deferred_timer is None:
            self._deferred_timer = loop.call_at(now + self.quiet_seconds, self._release_deferred)

    def _release_deferred(self) -> None:
        loop = asyncio.get_running_loop()
        due = min(self._deferred_last + self.quiet_seconds, self._deferred_since + self.quiet_max_seconds)
        if loop.time() < due:  # keys came meanwhile: not quiet yet
            self._deferred_timer = loop.call_at(due, self._release_deferred)
            return
        self._deferred_timer = None
        keys, self._deferred = self._deferred, {}
        for key in keys:
            self.add(key)

    def add_after(self, key: Hashable, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, seconds)
        existing = self._timers.get(key)
        if existing is not None and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"reconcile-worker-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            await self._tokens.get()
            key = self._urgent.popleft() if self._urgent else self._normal.popleft()
            self._queued.discard(key)
            self._active.add(key)
            retry: float | None = None
            failed = False
            try:
                retry = await self._handler(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception:  # a reconcile bug or API outage must not kill the worker: log, back off, retry
                logger.exception("reconcile of %s failed", key)
                self.errors += 1
                if self.on_error is not None:
                    self.on_error(key)
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                retry, failed = failure_backoff(failures), True
            finally:
                self._active.discard(key)
            if key in self._dirty and not failed:
                self._dirty.discard(key)
                self.add(key)
            elif retry is not None:
                # Events that arrived meanwhile wait for the backoff of a failing key: they are in the cache already.
                self._dirty.discard(key)
                self.add_after(key, retry)
