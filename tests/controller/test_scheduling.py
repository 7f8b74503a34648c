from datetime import UTC, datetime, timedelta
from pathlib import Path

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
