"""A circuit breaker: stop calling a dependency that keeps failing, and probe it now and then until it answers.

The catalog database is optional to the mesh (builds publish without it), so while it is down the operator must
neither wait on it nor hammer it. After `threshold` consecutive failures the circuit opens: callers are refused
at once. After a cool-down it goes half-open and lets exactly one probe through; a success closes it, a failure
opens it again with a doubled cool-down (up to `max_cool_down`), so a long outage costs one attempt a minute.

Pure bookkeeping: no I/O, no asyncio, time from an injectable clock (tests advance it by hand).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class State(enum.Enum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int = 3,
        cool_down: float = 2.0,
        max_cool_down: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        if threshold < 1 or cool_down <= 0 or max_cool_down < cool_down:
            raise ValueError("threshold >= 1 and 0 < cool_down <= max_cool_down")
        self.threshold = threshold
        self.base_cool_down = cool_down
        self.max_cool_down = max_cool_down
        self.clock = clock
        self.on_change = on_change
        self.failures = 0
        self.cool_down = cool_down
        self._opened_at: float | None = None
        self._probing = False
        self._state = State.CLOSED

    @property
    def state(self) -> State:
        """CLOSED, OPEN, or HALF_OPEN once an open circuit's cool-down has passed (read lazily from the clock)."""
        if self._state is State.OPEN and self.retry_in() == 0.0:
            self._set(State.HALF_OPEN)
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when it would now; 0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cool_down - self.clock())

    def allow(self) -> bool:
        """Whether a call may go through now. In HALF_OPEN only one call (the probe) is allowed until its
        result is recorded."""
        state = self.state
        if state is State.CLOSED:
            return True
        if state is State.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def cancel(self) -> None:
        """The call `allow` let through did not happen after all (nothing to do): a half-open circuit's probe
        slot is free again."""
        self._probing = False

    def success(self) -> None:
        self.failures = 0
        self.cool_down = self.base_cool_down
        self._opened_at = None
        self._probing = False
        self._set(State.CLOSED)

    def failure(self) -> None:
        self.failures += 1
        if self._state is State.CLOSED and self.failures < self.threshold:
            return
        if self._state is State.HALF_OPEN or self._probing:
            # The probe failed: the dependency is still down; wait longer before the next one.
            self.cool_down = min(self.cool_down * 2, self.max_cool_down)
        self._opened_at = self.clock()
        self._probing = False
        self._set(State.OPEN)

    def _set(self, state: State) -> None:
        if state is not self._state:
            self._state = state
            if self.on_change is not None:
                self.on_change(state)
