"""When to build next, and whether data is fresh: pure time arithmetic.

None of it may raise for a valid spec, whatever the timestamps in the status say: an exception here would put the
product's reconcile in a loop. A cron expression croniter cannot advance, or a date past datetime.max, means "no
scheduled build" (with the reason) or "fresh until the end of time", never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import CroniterError, croniter

from datamesh.api.dataproduct import DataProductSpec
from datamesh.api.durations import parse_duration

#: Share of the freshness budget kept as a safety margin when no better estimate exists.
MARGIN_SHARE = 0.2
#: A rebuild starts at least this long before the data would go stale.
MIN_MARGIN = timedelta(seconds=5)
#: How far croniter searches for the next slot. Validation refuses schedules that do not fire within 366 days, so
#: two years is slack, and the search stays bounded for an expression that slipped through.
CRON_SEARCH_YEARS = 2
#: What date arithmetic and croniter can raise on extreme inputs (dates near datetime.max, odd expressions).
_ARITHMETIC_ERRORS = (CroniterError, ArithmeticError, ValueError, TypeError, LookupError)


@dataclass(frozen=True)
class NextBuild:
    """The next scheduled build, or None with the reason when one was expected but cannot be computed."""

    at: datetime | None
    problem: str | None = None


def freshness_of(spec: DataProductSpec) -> timedelta:
    return parse_duration(spec.sla.freshness)


def stale_at(spec: DataProductSpec, data_updated_at: datetime | None) -> datetime | None:
    """When the published data exceeds its freshness SLA (None: there is no data). A deadline beyond
    datetime.max is datetime.max: data stamped that far in the future is fresh as long as anyone can tell."""
    if data_updated_at is None:
        return None
    try:
        return data_updated_at + freshness_of(spec)
    except OverflowError:
        return datetime.max.replace(tzinfo=data_updated_at.tzinfo)


def is_fresh(spec: DataProductSpec, data_updated_at: datetime | None, now: datetime) -> bool:
    deadline = stale_at(spec, data_updated_at)
    return deadline is not None and now < deadline


def _cron_slot(schedule: str, base: datetime) -> NextBuild:
    try:
        following: datetime = croniter(schedule, base, max_years_between_matches=CRON_SEARCH_YEARS).get_next(datetime)
    except _ARITHMETIC_ERRORS as error:
        return NextBuild(None, f"no scheduled build: cannot find the next time of {schedule!r} after {base}: {error}")
    return NextBuild(following)


def _sla_slot(budget: timedelta, data_updated_at: datetime, last_duration: float | None) -> NextBuild:
    try:
        margin = max(timedelta(seconds=1.5 * (last_duration or 0)), budget * MARGIN_SHARE, MIN_MARGIN)
    except _ARITHMETIC_ERRORS:
        margin = budget  # an absurd last duration (1e300 s): as early as allowed
    margin = min(margin, budget * 0.9)
    try:
        return NextBuild(data_updated_at + budget - margin)
    except _ARITHMETIC_ERRORS as error:
        return NextBuild(None, f"no scheduled build: the data's timestamp {data_updated_at} is out of range: {error}")


def plan_next_build(
    spec: DataProductSpec,
    *,
    data_updated_at: datetime | None,
    last_started_at: datetime | None,
    last_duration: float | None,
    created_at: datetime,
) -> NextBuild:
    """When the next scheduled build is due, and why there is none when one was expected. Never raises.

    With `schedule`, the next cron slot after the last build started (or the product was created).
    Without it, the build is derived from the freshness SLA: start early enough that the new data lands
    before the old goes stale, leaving the larger of 1.5x the last build's duration and 20 % of the budget.
    """
    if spec.suspend:
        return NextBuild(None)
    if spec.schedule:
        return _cron_slot(spec.schedule, last_started_at or created_at)
    if data_updated_at is None:
        return NextBuild(None)
    try:
        budget = freshness_of(spec)
    except ValueError as error:  # only a spec that skipped validation
        return NextBuild(None, f"no scheduled build: {error}")
    return _sla_slot(budget, data_updated_at, last_duration)


def next_build(
    spec: DataProductSpec,
    *,
    data_updated_at: datetime | None,
    last_started_at: datetime | None,
    last_duration: float | None,
    created_at: datetime,
) -> datetime | None:
    """When the next scheduled build is due (None: none); see plan_next_build, which also says why not."""
    return plan_next_build(
        spec,
        data_updated_at=data_updated_at,
        last_started_at=last_started_at,
        last_duration=last_duration,
        created_at=created_at,
    ).at


def schedule_slot(due: datetime) -> str:
    """A stable token for one scheduled slot, so a restart re-derives the same Job name."""
    return due.strftime("%Y%m%dT%H%M%S")
