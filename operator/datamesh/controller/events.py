"""Kubernetes Events for what a user should see, posted off the reconcile path with spam kept down.

Like client-go's event recorder, recording never blocks a reconcile: events go into a bounded buffer that
one background sender drains at a limited rate. Events are informational (the same facts are in status
conditions), so in a burst of a thousand new products they wait behind the writes that make products
work (Jobs and status) instead of competing with them for the API server; when the buffer is full the
newest are dropped and counted (`datamesh_events_dropped_total`).

The API server's spam filter allows 25 events per object and then one per five minutes, so repeated
identical events from this operator are dropped locally for a while instead of spent there.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from datamesh.controller.kube import ApiError, Kube
from datamesh.controller.metrics_registry import REGISTRY

logger = logging.getLogger(__name__)
REPEAT_WINDOW_SECONDS = 300.0

EVENTS_DROPPED = Counter(
    "datamesh_events_dropped_total", "Kubernetes Events dropped because the buffer was full.", registry=REGISTRY
)


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up (time from `clock`: tests pass their own)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def wait_time(self) -> float:
        """Take a token; the seconds to wait before using it (0 when one was available)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class EventRecorder:
    def __init__(
        self,
        kube: Kube,
        *,
        rate: float = 20.0,
        burst: int = 50,
        buffer: int = 2000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.kube = kube
        self._recent: dict[tuple[str, str, str], float] = {}
        self.instance = os.environ.get("POD_NAME") or os.uname().nodename
        self._clock, self._sleep = clock, sleep
        self._bucket = TokenBucket(rate, burst, clock)
        self._buffer: collections.deque[dict[str, Any]] = collections.deque()
        self._capacity = buffer
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._in_flight = 0

    @property
    def pending(self) -> int:
        """Events recorded but not yet posted."""
        return len(self._buffer) + self._in_flight

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_forever(), name="event-sender")

    async def stop(self, flush_seconds: float = 5.0) -> None:
        """Post what is buffered (for at most `flush_seconds`), then stop."""
        if self._sender is None:
            return
        deadline = time.monotonic() + flush_seconds
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._sender.cancel()
        await asyncio.gather(self._sender, return_exceptions=True)
        self._sender = None

    def record(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        meta = involved.get("metadata") or {}
        key = (meta.get("uid", ""), reason, message)
        now = self._clock()
        if now - self._recent.get(key, -REPEAT_WINDOW_SECONDS) < REPEAT_WINDOW_SECONDS:
            return
        self._recent[key] = now
        if len(self._recent) > 10000:
            self._recent = {k: v for k, v in self._recent.items() if now - v < REPEAT_WINDOW_SECONDS}
        if len(self._buffer) >= self._capacity:
            EVENTS_DROPPED.inc()
            return
        self._buffer.append(self._body(involved, type_, reason, message))
        self._wake.set()

    async def flush(self) -> None:
        """Post everything buffered now, ignoring the rate (tests and shutdown)."""
        while self._buffer:
            await self._post(self._buffer.popleft())

    def _body(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> dict[str, Any]:
        meta = involved.get("metadata") or {}
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta.get('name', 'object')}.",
                "namespace": meta.get("namespace") or "default",
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "datamesh-operator"},
            "reportingComponent": "datamesh-operator",
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }

    async def _send_forever(self) -> None:
        while True:
            if not self._buffer:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._bucket.wait_time()
            if delay:
                await self._sleep(delay)
            body = self._buffer.popleft()
            self._in_flight += 1
            try:
                await self._post(body)
            finally:
                self._in_flight -= 1

    async def _post(self, body: dict[str, Any]) -> None:
        try:
            await self.kube.create(body)
        except ApiError as error:  # events are best effort; never fail a reconcile over one
            logger.warning("could not post event %s for %s: %s", body["reason"], body["involvedObject"]["name"], error)
        except Exception as error:  # a connection error must not kill the sender either
            logger.warning("could not post event %s: %s", body["reason"], error)
