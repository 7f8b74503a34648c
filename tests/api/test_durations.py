from datetime import timedelta

import pytest

from datamesh.api.durations import MAX_DURATION, DurationError, format_duration, parse_duration


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


# Hostile durations: every one is refused with a DurationError (a ValueError, which pydantic reports with the
# field), never an OverflowError, KeyError or a stall.


@pytest.mark.parametrize(
    "text",
    [
        "101 years",
        "9999999 years",  # past timedelta's range: OverflowError before the bound existed
        "99999999999 days",
        "1" * 60 + "s",
        "1" * 250 + " years",  # no float overflow to infinity either
        "36500 days 1 day",
        "100 years 1ms",
    ],
)
def test_durations_above_the_global_bound_are_refused(text: str) -> None:
    with pytest.raises(DurationError, match="is longer than the maximum of 100 years"):
        parse_duration(text)


def test_the_global_bound_itself_is_accepted() -> None:
    assert parse_duration("100 years") == MAX_DURATION
    assert parse_duration("36500 days") == MAX_DURATION


def test_a_field_bound_is_named_in_the_message() -> None:
    with pytest.raises(DurationError, match="^9000 years is longer than the maximum of 5 years$"):
        parse_duration("9000 years", maximum=timedelta(days=5 * 365), maximum_text="5 years")


@pytest.mark.parametrize(
    "text",
    [
        "1ſ",  # LATIN SMALL LETTER LONG S: the CRD's (?i) folds it to 's', no unit table knows it (was a KeyError)
        "1 ſec",
        "1 \u212a",  # KELVIN SIGN, folds to 'k'
        "١h",  # ARABIC-INDIC DIGIT ONE: a digit to Python's \d, not to the API server's
        "1\u00a0hour",  # no-break space
        "0.0000001s",  # positive, but rounds to zero
        "1.h",
        ".5h",
        "1h,,2m",
        "1h" + " " * 300,
    ],
)
def test_lookalike_and_degenerate_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("text", ["1h  " * 15 + "x", "1h , " * 12 + "x", "1 h " * 16 + "?"])
def test_backtracking_inputs_are_refused_at_once(text: str) -> None:
    # DURATION_PATTERN in Python's `re` took ~15 s on the first of these (nested repetition of \s*).
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  1h, 30m ", timedelta(minutes=90)),
        ("1 HOURS 2 Mins", timedelta(hours=1, minutes=2)),
        ("1d\t2h", timedelta(days=1, hours=2)),
        ("0.5ms", timedelta(microseconds=500)),
        ("1mo", timedelta(days=30)),
    ],
)
def test_grammar_is_unchanged(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
