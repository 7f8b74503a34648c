"""Human-written durations: "1 hour", "1h", "90m", "1h30m", "7 years".

Contracts are written by people, so both the compact Go-style form and spelled-out units are accepted.
A month counts as 30 days and a year as 365 days: retention and SLA windows need a fixed length, not a
calendar date.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS: dict[str, float] = {}
for _names, _seconds in (
    (("ms", "msec", "millisecond", "milliseconds"), 0.001),
    (("s", "sec", "secs", "second", "seconds"), 1),
    (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600),
    (("d", "day", "days"), 86400),
    (("w", "wk", "wks", "week", "weeks"), 7 * 86400),
    (("mo", "month", "months"), 30 * 86400),
    (("y", "yr", "yrs", "year", "years"), 365 * 86400),
):
    for _name in _names:
        _UNIT_SECONDS[_name] = _seconds

_UNITS = "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True))
_TERM = rf"(\d+(?:\.\d+)?)\s*({_UNITS})"
#: The same grammar as a regular expression, used as the CRD's `pattern` so the API server rejects a
#: malformed duration before the operator ever sees it. RE2-compatible (no look-arounds).
DURATION_PATTERN = rf"(?i)^\s*(\d+(\.\d+)?\s*({_UNITS})\s*,?\s*)+$"
_TERM_RE = re.compile(_TERM, re.IGNORECASE)
_FULL_RE = re.compile(DURATION_PATTERN, re.IGNORECASE)


class DurationError(ValueError):
    """A duration string that does not parse."""


def parse_duration(text: str) -> timedelta:
    """Parse a human-written duration.

    >>> parse_duration("1 hour")
    datetime.timedelta(seconds=3600)
    >>> parse_duration("1h30m").total_seconds()
    5400.0
    """
    if not isinstance(text, str) or not _FULL_RE.match(text):
        raise DurationError(f"invalid duration {text!r}: write a number and a unit, e.g. '1 hour', '90m', '7 years'")
    seconds = sum(float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in _TERM_RE.findall(text))
    if seconds <= 0:
        raise DurationError(f"invalid duration {text!r}: must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Format a duration compactly for messages, e.g. ``1h30m`` or ``45s``."""
    total = int(delta.total_seconds())
    if total < 60:
        return f"{total}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts)
