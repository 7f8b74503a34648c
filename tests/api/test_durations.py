from datetime import timedelta

import pytest

from datamesh.api.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 hour", timedelta(hours=1)),
        ("1h", timedelta(hours=1)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("1 hour 30 minutes", timedelta(minutes=90)),
        ("7 years", timedelta(days=7 * 365)),
        ("2 weeks", timedelta(days=14)),
        ("1 month", timedelta(days=30)),
        ("45s", timedelta(seconds=45)),
        ("1.5h", timedelta(minutes=90)),
        ("1 Hour", timedelta(hours=1)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_human_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "hour", "1", "1 fortnight", "-1h", "1h x", "0s", "h1"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


def test_format_is_compact() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(seconds=42)) == "42s"
    assert format_duration(timedelta(days=2, minutes=5)) == "2d5m"
