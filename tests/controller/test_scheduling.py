from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datamesh.controller import scheduling
from datamesh.manifests import load_mesh

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec(**changes: object):  # type: ignore[no-untyped-def]
    product = load_mesh([EXAMPLES]).find_product("customer-360")
    return product.spec.model_copy(update=changes)


def test_freshness_window() -> None:
    s = spec()
    assert scheduling.is_fresh(s, T0, T0 + timedelta(minutes=59))
    assert not scheduling.is_fresh(s, T0, T0 + timedelta(minutes=61))
    assert not scheduling.is_fresh(s, None, T0)


def test_sla_derived_rebuild_lands_before_data_goes_stale() -> None:
    s = spec()
    due = scheduling.next_build(s, data_updated_at=T0, last_started_at=T0, last_duration=60, created_at=T0)
    assert due is not None
    # 1 hour budget: the larger of 1.5 x 60 s and 20 % of the budget (12 min) is kept as margin.
    assert due == T0 + timedelta(minutes=48)
    slow = scheduling.next_build(s, data_updated_at=T0, last_started_at=T0, last_duration=1200, created_at=T0)
    assert slow == T0 + timedelta(minutes=30)


def test_cron_schedule_wins_and_suspend_stops_it() -> None:
    hourly = spec(schedule="0 * * * *")
    assert scheduling.next_build(
        hourly, data_updated_at=T0, last_started_at=T0 + timedelta(minutes=5), last_duration=1, created_at=T0
    ) == T0 + timedelta(hours=1)
    assert (
        scheduling.next_build(
            spec(suspend=True), data_updated_at=T0, last_started_at=T0, last_duration=1, created_at=T0
        )
        is None
    )


# Whatever the status says, computing the schedule never raises: no scheduled build, with the reason.

NEAR_MAX = datetime.max.replace(tzinfo=UTC) - timedelta(minutes=1)


@pytest.mark.parametrize("schedule", ["0 * * * *", "0 0 31 12 *", "@yearly", "0 0 L 2 *"])
def test_a_cron_slot_past_datetime_max_is_no_build_with_a_reason(schedule: str) -> None:
    planned = scheduling.plan_next_build(
        spec(schedule=schedule), data_updated_at=None, last_started_at=NEAR_MAX, last_duration=1, created_at=T0
    )
    assert planned.at is None
    assert planned.problem is not None and schedule in planned.problem


@pytest.mark.parametrize("schedule", ["0 0 30 2 *", "0 0 31 2 *", "0 0 31 11 *", "0 0 31 4,6,9,11 *"])
def test_a_cron_that_never_fires_is_no_build_not_a_loop(schedule: str) -> None:
    # model_copy does not validate: as if the spec predates the check. croniter's search is bounded.
    for base in (T0, datetime(2029, 3, 1, tzinfo=UTC)):
        planned = scheduling.plan_next_build(
            spec(schedule=schedule), data_updated_at=None, last_started_at=base, last_duration=None, created_at=T0
        )
        assert planned.at is None and planned.problem is not None and schedule in planned.problem


def test_a_cron_that_fires_every_four_years_gives_its_real_slot_or_none() -> None:
    for base in (T0, datetime(2028, 3, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC)):
        planned = scheduling.plan_next_build(
            spec(schedule="0 0 29 2 *"), data_updated_at=None, last_started_at=base, last_duration=None, created_at=T0
        )
        assert planned.at is None or (planned.at > base and (planned.at.month, planned.at.day) == (2, 29))


@pytest.mark.parametrize("last_duration", [None, 60.0, 1e300, float("inf"), float("nan")])
def test_sla_schedule_near_datetime_max_or_with_absurd_durations_never_raises(last_duration: float | None) -> None:
    s = spec()
    planned = scheduling.plan_next_build(
        s, data_updated_at=NEAR_MAX, last_started_at=None, last_duration=last_duration, created_at=T0
    )
    assert planned.at is None and planned.problem is not None and "out of range" in planned.problem
    sane = scheduling.plan_next_build(
        s, data_updated_at=T0, last_started_at=None, last_duration=last_duration, created_at=T0
    )
    assert sane.at is not None and T0 + timedelta(minutes=6) <= sane.at <= T0 + timedelta(minutes=48)


def test_freshness_near_datetime_max_saturates() -> None:
    s = spec()
    assert scheduling.stale_at(s, NEAR_MAX) == datetime.max.replace(tzinfo=UTC)
    assert scheduling.is_fresh(s, NEAR_MAX, T0)
    assert (
        scheduling.next_build(s, data_updated_at=NEAR_MAX, last_started_at=None, last_duration=None, created_at=T0)
        is None
    )
