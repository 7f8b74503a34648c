"""Human-written durations: "1 hour", "1h", "90m", "1h30m", "7 years".

Contracts are written by people, so both the compact Go-style form and spelled-out units are accepted.
A month counts as 30 days and a year as 365 days: retention and SLA windows need a fixed length, not a
calendar date.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

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
#: The grammar as a regular expression, used as the CRD's `pattern` so the API server (Go's linear-time engine)
#: rejects a malformed duration before the operator ever sees it. RE2-compatible (no look-arounds). Python never
#: runs it: its nested repetition backtracks exponentially in Python's `re` ("1h  1h  1h ... x" takes seconds).
DURATION_PATTERN = rf"(?i)^\s*(\d+(\.\d+)?\s*({_UNITS})\s*,?\s*)+$"

#: No duration a contract means is longer; anything beyond is a typo or an attempt to overflow date arithmetic
#: (datetime + timedelta) in the operator.
MAX_DURATION = timedelta(days=100 * 365)
MAX_DURATION_TEXT = "100 years"
#: Longer text is not a duration anyone writes; the CRD allows 64 characters.
_MAX_TEXT = 256
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE = frozenset(" \t\n\r\f\v")


class DurationError(ValueError):
    """A duration string that does not parse, or one out of bounds."""


def _run(text: str, start: int, allowed: frozenset[str]) -> int:
    end = start
    while end < len(text) and text[end] in allowed:
        end += 1
    return end


def _terms(text: str) -> list[tuple[str, str]]:
    """(number, unit) pairs of the DURATION_PATTERN grammar, scanned left to right in one pass.

    ASCII only: `(?i)` in the CRD's engine also folds e.g. 'ſ' to 's', which no unit table knows. A unit is the
    whole run of letters, because the grammar lets only space, a comma, a digit or the end follow one."""
    terms: list[tuple[str, str]] = []
    at = _run(text, 0, _SPACE)
    while at < len(text):
        number_end = _run(text, at, _DIGITS)
        if number_end == at:
            raise ValueError
        if text.startswith(".", number_end):
            fraction_end = _run(text, number_end + 1, _DIGITS)
            if fraction_end == number_end + 1:
                raise ValueError
            number_end = fraction_end
        unit_start = _run(text, number_end, _SPACE)
        unit_end = _run(text, unit_start, _LETTERS)
        unit = text[unit_start:unit_end].lower()
        if unit not in _UNIT_SECONDS:
            raise ValueError
        terms.append((text[at:number_end], unit))
        at = _run(text, unit_end, _SPACE)
        if text.startswith(",", at):
            at = _run(text, at + 1, _SPACE)
    if not terms:
        raise ValueError
    return terms


def parse_duration(text: str, *, maximum: timedelta = MAX_DURATION, maximum_text: str = MAX_DURATION_TEXT) -> timedelta:
    """Parse a human-written duration, at most `maximum` long (written `maximum_text` in the message).

    >>> parse_duration("1 hour")
    datetime.timedelta(seconds=3600)
    >>> parse_duration("1h30m").total_seconds()
    5400.0
    """
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise DurationError(f"invalid duration {text!r}: write a number and a unit, e.g. '1 hour', '90m', '7 years'")
    try:
        terms = _terms(text)
    except ValueError:
        raise DurationError(
            f"invalid duration {text!r}: write a number and a unit, e.g. '1 hour', '90m', '7 years'"
        ) from None
    # Decimal: exact, and no float overflow however many digits are written.
    seconds = sum(Decimal(number) * Decimal(str(_UNIT_SECONDS[unit])) for number, unit in terms)
    if seconds > Decimal(int(maximum.total_seconds())):
        raise DurationError(f"{text.strip()} is longer than the maximum of {maximum_text}")
    delta = timedelta(seconds=float(seconds))
    if delta <= timedelta(0):
        raise DurationError(f"invalid duration {text!r}: must be longer than zero")
    return delta


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
