"""When to build next, and whether data is fresh: pure time arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter

from datamesh.api.dataproduct import DataProductSpec
from datamesh.api.durations import parse_duration

#: Share of the freshness budget kept as a safety margin when no better estimate exists.
MARGIN_SHARE = 0.2
#: A rebuild starts at least this long before the data would go stale.
MIN_MARGIN = timedelta(seconds=5)


def freshness_of(spec: DataProductSpec) -> timedelta:
    return parse_duration(spec.sla.freshness)


def stale_at(spec: DataProductSpec, data_updated_at: datetime | None) -> datetime | None:
    """When the published data exceeds its freshness SLA (None: there is no data)."""
    if data_updated_at is None:
        return None
    return data_updated_at + freshness_of(spec)


def is_fresh(spec: DataProductSpec, data_updated_at: datetime | None, now: datetime) -> bool:
    deadline = stale_at(spec, data_updated_at)
    return deadline is not None and now < deadline


def next_build(
    spec: DataProductSpec,
    *,
    data_updated_at: datetime | None,
    last_started_at: datetime | None,
    last_duration: float | None,
    created_at: datetime,
) -> datetime | None:
    """When the next scheduled build is due.

    With `schedule`, the next cron slot after the last build started (or the product was created).
    Without it, the build is derived from the freshness SLA: start early enough that the new data lands
    before the old goes stale, leaving the larger of 1.5x the last build's duration and 20 % of the budget.
    """
    if spec.suspend:
        return None
    if spec.schedule:
        base = last_started_at or created_at
        following: datetime = croniter(spec.schedule, base).get_next(datetime)
        return following
    if data_updated_at is None:
        return None
    budget = freshness_of(spec)
    margin = max(timedelta(seconds=1.5 * (last_duration or 0)), budget * MARGIN_SHARE, MIN_MARGIN)
    margin = min(margin, budget * 0.9)
    return data_updated_at + budget - margin


def schedule_slot(due: datetime) -> str:
    """A stable token for one scheduled slot, so a restart re-derives the same Job name."""
    return due.strftime("%Y%m%dT%H%M%S")
