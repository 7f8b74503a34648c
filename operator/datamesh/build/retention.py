"""Retention: which rows are expired, as a cutoff on the declared time column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from datamesh import settings
from datamesh.api.dataproduct import DataProductSpec
from datamesh.api.durations import parse_duration

VACUUM_HOURS_ENV = settings.VACUUM_RETAIN_HOURS.name
#: Delta's own default: files a reader of a recent version may still need are kept for a week.
DEFAULT_VACUUM_HOURS = 168.0


@dataclass(frozen=True)
class RetentionRule:
    column: str
    cutoff: datetime
    """Rows whose column is older than this are removed; rows with a null time are kept."""


def retention_rule(spec: DataProductSpec, now: datetime) -> RetentionRule | None:
    """The rule in force, or None unless both governance.retention and a declared retentionColumn are set."""
    governance = spec.governance
    if not governance.retention or not governance.retention_column:
        return None
    if governance.retention_column not in {c.name for c in spec.schema_}:
        return None
    return RetentionRule(governance.retention_column, now - parse_duration(governance.retention))
