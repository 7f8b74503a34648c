"""The circuit breaker opens after consecutive failures, lets one probe through after the cool-down, closes on
success and backs off further when the probe fails (time from a hand-advanced clock)."""

from __future__ import annotations

import pytest

from datamesh.controller.breaker import CircuitBreaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, changes: list[State] | None = None) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, cool_down=10.0, max_cool_down=35.0, clock=clock,
                          on_change=changes.append if changes is not None else None)  # fmt: skip


def test_it_opens_only_after_the_threshold_of_consecutive_failures() -> None:
    clock, changes = Clock(), []
    circuit = breaker(clock, changes)
    circuit.failure()
    circuit.failure()
    circuit.success()  # not consecutive: the count starts again
    circuit.failure()
    circuit.failure()
    assert circuit.state is State.CLOSED and circuit.allow()
    circuit.failure()
    assert circuit.state is State.OPEN and not circuit.allow()
    assert circuit.retry_in() == 10.0
    assert changes == [State.OPEN]


def test_after_the_cool_down_exactly_one_probe_goes_through_and_success_closes() -> None:
    clock, changes = Clock(), []
    circuit = breaker(clock, changes)
    for _ in range(3):
        circuit.failure()
    clock.now += 9.9
    assert not circuit.allow() and circuit.state is State.OPEN
    clock.now += 0.1
    assert circuit.state is State.HALF_OPEN
    assert circuit.allow(), "the probe"
    assert not circuit.allow(), "nothing else while the probe is out"
    circuit.success()
    assert circuit.state is State.CLOSED and circuit.allow() and circuit.failures == 0
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_a_failed_probe_reopens_with_a_longer_cool_down_up_to_the_maximum() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failure()
    waits = []
    for _ in range(4):
        clock.now += circuit.retry_in()
        assert circuit.allow()
        circuit.failure()
        assert circuit.state is State.OPEN
        waits.append(circuit.retry_in())
    assert waits == [20.0, 35.0, 35.0, 35.0]
    clock.now += 35.0
    assert circuit.allow()
    circuit.success()
    for _ in range(3):
        circuit.failure()
    assert circuit.retry_in() == 10.0, "a closed circuit forgets the long cool-down"


def test_a_probe_that_was_not_made_frees_the_slot() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failure()
    clock.now += 10.0
    assert circuit.allow() and not circuit.allow()
    circuit.cancel()
    assert circuit.state is State.HALF_OPEN and circuit.allow()


def test_a_closed_circuit_needs_no_wait() -> None:
    circuit = breaker(Clock())
    assert circuit.retry_in() == 0.0 and circuit.state is State.CLOSED


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(cool_down=10.0, max_cool_down=5.0)
