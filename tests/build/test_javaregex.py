"""Java regex -> RE2 translation for the format check: unit tests, and a differential test against real Spark."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datamesh.build.javaregex import Re2Pattern, count_mismatches, to_re2

LINE_TERMINATORS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def _matches(pattern: str, values: Sequence[str | None]) -> list[bool | None]:
    re2 = to_re2(pattern)
    assert re2 is not None, pattern
    return list(pc.match_substring_regex(pa.array(values, pa.string()), re2.pattern).to_pylist())


# --- translator --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[^@\s]+@[^@\s]+$",
        r"^[A-Z]{2}[0-9]+$",
        r"^\d{4}-\d{2}-\d{2}$",
        r"^\+?[0-9 ()-]{7,20}$",
        r"^(foo|bar)-\d+$",
        r"^(?:foo|bar)?$",
        r"colou?r",
        r"^[\w.+-]+@[\w-]+\.[\w.-]+$",
        r"a{2,}?b*?c+?d??",
        r"[\x41-\x5a\u00e9]",
        r"\t\n\r\f\.\-\\\@\/\$\^",
        r"[-a][a-][^-]",
        r"[\S@][^\D][\W_]",
        r"x]}",
        r"(a|)*b|",
        r"😀[😀-😂]",
        r"^[^\x00-\x1f]*$",
        r"a[\s\S]c",
        "",
    ],
)
def test_supported_patterns_translate(pattern: str) -> None:
    re2 = to_re2(pattern)
    assert re2 is not None
    assert re2.dollar == ("$" in pattern.replace(r"\$", ""))


@pytest.mark.parametrize(
    "pattern",
    [
        # flags, special groups, backreferences
        "(?i)abc",
        "(?s)a.c",
        "(?m)^a$",
        "a(?=b)",
        "a(?!b)",
        "(?<=a)b",
        "(?<name>a)",
        "(?>a)",
        "(?i:a)",
        r"(a)\1",
        r"\k<n>",
        # possessive and malformed quantifiers
        "a*+",
        "a++",
        "a?+",
        "a{2}+",
        "a**",
        "a{2}{3}",
        "*a",
        "a|*b",
        "(+a)",
        "^*",
        "$?",
        "a{",
        "a{x}",
        "a{,2}",
        "a{2,1}",
        "a{1001}",
        "{2}",
        "a{ 2}",
        # escapes outside the subset
        r"\bword\b",
        r"\B",
        r"\A",
        r"\z",
        r"\Z",
        r"\G",
        r"\Qa.b\E",
        r"\p{L}",
        r"\P{L}",
        r"\pL",
        r"\h",
        r"\H",
        r"\v",
        r"\V",
        r"\R",
        r"\X",
        r"\N{LATIN SMALL LETTER A}",
        r"\e",
        r"\a",
        r"\cA",
        r"\0101",
        r"\x{41}",
        r"\x4",
        r"\u00e",
        r"\uD83D\uDE00",
        r"\é",
        r"\ ",
        "a\\",
        # classes outside the subset
        "[a-z&&[^aeiou]]",
        "[a&b]",
        "[a[b]]",
        "[]a]",
        "[^]a]",
        "[]",
        "[a",
        r"[\w-.]",
        "[a-c-e]",
        "[--a]",
        "[a-\\d]",
        "[z-a]",
        r"[\b]",
        r"[\p{L}]",
        r"[\u0100-\uffff]",
        "[^😀]",
        r"[^\s\S]",
        # unbalanced
        "(a",
        "a)",
        "((a)",
        "(" * 60 + ")" * 60,
        "a\x00b",
    ],
)
def test_unsupported_patterns_are_rejected(pattern: str) -> None:
    assert to_re2(pattern) is None


def test_java_s_includes_vertical_tab_and_dot_excludes_every_line_terminator() -> None:
    assert _matches(r"a\sb", ["a b", "a\tb", "a\x0bb", "a\x0cb", "a\nb", "a\rb", "a\x85b", "a\u2028b", "ab"]) == [
        *[True] * 6,
        False,
        False,
        False,
    ]
    assert _matches(r"[^\s]", ["\x0b", "\x85", "\u00a0"]) == [False, True, True]
    assert _matches("a.c", ["abc", "a😀c", "a\tc", "a\x0bc", *[f"a{t}c" for t in LINE_TERMINATORS]]) == [
        True,
        True,
        True,
        True,
        *[False] * 5,
    ]
    # Negated classes, unlike `.`, do match line terminators in Java (and in RE2).
    assert _matches("a[^b]c", [f"a{t}c" for t in LINE_TERMINATORS]) == [True] * 5


def test_counts_skip_nulls_and_accept_every_string_layout() -> None:
    re2 = to_re2(r"^[A-Z]{2}\d{2}$")
    assert re2 is not None
    values = ["AB12", "ab12", None, "AB123", "", None, "XY99"]
    assert count_mismatches(pa.array(values), re2) == 3
    assert count_mismatches(pa.array(values, pa.large_string()), re2) == 3
    assert count_mismatches(pa.array(values, pa.string_view()), re2) == 3
    assert count_mismatches(pa.array(values).dictionary_encode(), re2) == 3
    assert count_mismatches(pa.chunked_array([values[:3], [], values[3:]]), re2) == 3
    assert count_mismatches(pa.chunked_array([], pa.string()), re2) == 0
    assert count_mismatches(pa.array([None, None], pa.string()), re2) == 0
    assert count_mismatches(pa.array([1, 2]), re2) is None


def test_dollar_gives_up_on_values_ending_with_a_line_terminator() -> None:
    re2 = to_re2("^a$")
    assert re2 == Re2Pattern(r"^\x{61}\z", dollar=True)
    assert count_mismatches(pa.array(["a", "b", None, "a\nb", "\na"]), re2) == 3
    for terminator in (*LINE_TERMINATORS, "\r\n"):
        assert count_mismatches(pa.array(["a", "a" + terminator]), re2) is None, repr(terminator)
    # The same column is fine for a pattern without `$`.
    plain = to_re2("^a")
    assert plain is not None and not plain.dollar
    assert count_mismatches(pa.array(["a", "a\n", "b\r\n"]), plain) == 1


def test_invalid_utf8_is_not_evaluated() -> None:
    re2 = to_re2("[^b]")
    assert re2 is not None
    offsets = pa.py_buffer(pa.array([0, 2], pa.int32()).buffers()[1])
    broken = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(b"a\xff")])
    assert count_mismatches(broken, re2) is None
    assert count_mismatches(pa.DictionaryArray.from_arrays(pa.array([0]), broken), re2) is None


# --- differential test against Spark -----------------------------------------------------------------------

SEED = 20240611
GENERATED = 300

_LITERALS = ["a", "b", "c", "A", "Z", "1", "9", "@", "-", "_", " ", "é", ",", ":", "]", "}", "#", "/", "😀"]
_ESCAPES = [
    *[r"\.", r"\-", r"\@", r"\\", r"\(", r"\[", r"\{", r"\*", r"\+", r"\?", r"\|", r"\^", r"\$", r"\/", r"\]"],
    *[r"\t", r"\n", r"\r", r"\f", r"\x41", r"\x0B", r"\x85", r"\u00e9", r"\u0085", r"\u2028", r"\u2029"],
    *[r"\_", r"\<", r"\#", r"\,", r"\&", r"\~", r"\x00", r"\u0000"],
    *[r"\d", r"\D", r"\w", r"\W", r"\s", r"\S"],
]
_CLASS_ITEMS = [
    *["a", "b", "z", "A", "0", "9", "@", ".", "é", "_", " ", "$", "(", ")", "*", "+", "?", "|", "{", "}", "😀"],
    *[r"\s", r"\S", r"\d", r"\D", r"\w", r"\W", r"\]", r"\[", r"\-", r"\\", r"\^", r"\&", r"\."],
    *[r"\x0B", r"\t", r"\n", r"\r", r"\u0085", r"\u2028", r"\x20"],
    *["a-c", "0-9", "A-Z", r"\x20-\x7e", "à-ÿ", "a-é", r"\u0080-\u00ff", "😀-😂", r"\t-\r", r"\x00-\x1f"],
]
_QUANTIFIERS = ["*", "+", "?", "{2}", "{1,}", "{0,2}", "{1,3}", "{0}", "*?", "+?", "??", "{2,}?"]

_STRING_ALPHABET = [
    *["a", "b", "c", "A", "Z", "1", "9", "@", "-", "_", ".", " ", "é", "😀", "]", "}", "#"],
    *["\t", "\x0b", "\x0c", "\n", "\r", "\x85", "\u2028", "\u2029", "\u00a0"],
]
_CURATED_STRINGS: list[str | None] = [
    *["", "a", "b", "abc", "A", "AB123456", "ab@cd.ef", "a.b@x-y.org", "foo-12", "bar-7", "color", "colour"],
    *["+41 (0)44-123", "2024-01-31", "x]}", "a.c", " ", "a b", "a\tb", "a\x0bb", "a\x0cb", "a\nb", "a\rb"],
    *["a\x85b", "a\u2028b", "a\n", "a\r", "a\r\n", "a\x85", "a\u2028", "a\u2029", "\n", "\r\n", "é", "aéc"],
    *["😀", "a😀c", "😀b", "😁", "a\x00c", None, None],
]
_CURATED_PATTERNS = [
    r"^[^@\s]+@[^@\s]+$",
    r"^[A-Z]{2}\d{6}$",
    r"^\+?[0-9 ()-]{7,20}$",
    r"^(foo|bar)-\d+$",
    r"colou?r",
    r"^$",
    r"a.c",
    r"^\d{4}-\d{2}-\d{2}$",
    r"^[A-Z]{2}[0-9]+$",
    r"^[\w.+-]+@[\w-]+\.[\w.-]+$",
    "",
    ".",
    "^.*$",
    "^.+$",
    "$",
    "^",
    r"a$",
    r"\n$",
    r"$\n",
    r"a$|b",
    r"\s",
    r"^\S+$",
    r"a\sb",
    r"[^a]",
    r"[^\s]",
    r"[\S@]+",
    r"[^\S]",
    "😀",
    "[😀-😂]",
    "^[^a]b",
    "^.b",
    "x]}",
    "(a|)*b",
    "a{0}",
    "(?:ab)+",
    r"[\w-]+",
    "[-a]",
    "[a-]",
    "[a^]",
    "[^^]",
    r"[\^a]",
    r"a[\s\S]c",
    r"^[^\x00-\x1f]*$",
    r"[\x00-\x1f]",
    r"a\x00",
    r"[\u0080-\u00ff]",
    r"[^\u0000-\u007f]",
]


def _class(rng: random.Random) -> str:
    body = "".join(rng.choice(_CLASS_ITEMS) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.1:
        body = "-" + body
    if rng.random() < 0.1:
        body += "-"
    return ("[^" if rng.random() < 0.35 else "[") + body + "]"


def _atom(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if depth > 0 and roll < 0.15:
        return ("(?:" if rng.random() < 0.3 else "(") + _alternation(rng, depth - 1) + ")"
    if roll < 0.45:
        return rng.choice(_LITERALS)
    if roll < 0.6:
        return rng.choice(_ESCAPES)
    if roll < 0.85:
        return _class(rng)
    return "."


def _piece(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if roll < 0.05:
        return "^"
    if roll < 0.1:
        return "$"
    atom = _atom(rng, depth)
    return atom + rng.choice(_QUANTIFIERS) if rng.random() < 0.35 else atom


def _alternation(rng: random.Random, depth: int) -> str:
    branches = 1 if rng.random() < 0.75 else rng.randint(2, 3)
    return "|".join("".join(_piece(rng, depth) for _ in range(rng.randint(0, 4))) for _ in range(branches))


def _generated_patterns(rng: random.Random) -> list[str]:
    patterns: list[str] = []
    while len(patterns) < GENERATED:
        body = _alternation(rng, 2)
        if rng.random() < 0.4:
            body = "^" + body
        if rng.random() < 0.4:
            body += "$"
        if body and body not in patterns:
            patterns.append(body)
    return patterns


def _strings(rng: random.Random) -> list[str | None]:
    strings = list(_CURATED_STRINGS)
    while len(strings) < 60:
        value = "".join(rng.choice(_STRING_ALPHABET) for _ in range(rng.randint(0, 6)))
        if value not in strings:
            strings.append(value)
    return strings


def _ends_with_terminator(value: str | None) -> bool:
    return value is not None and value.endswith(LINE_TERMINATORS)


def _spark_results(spark: Any, strings: list[str | None], patterns: list[str]) -> tuple[dict[bool, Any], list[Any]]:
    """Spark's counts, one count_if per pattern grouped by `clean` (no final line terminator), and its match of
    every value: two small jobs for all the patterns."""
    from pyspark.sql import functions as F

    rows = [(i, value, not _ends_with_terminator(value)) for i, value in enumerate(strings)]
    df = spark.createDataFrame(rows, "i int, s string, clean boolean")
    s = F.col("s")
    counts = df.groupBy("clean").agg(
        *[F.count_if(s.isNotNull() & ~s.rlike(p)).alias(f"c{k}") for k, p in enumerate(patterns)]
    )
    per_row = df.select("i", *[s.rlike(p).alias(f"m{k}") for k, p in enumerate(patterns)])
    return {row["clean"]: row for row in counts.collect()}, sorted(per_row.collect())


@pytest.mark.spark
def test_counts_equal_spark_rlike(spark: Any) -> None:
    rng = random.Random(SEED)
    generated = _generated_patterns(rng)
    strings = _strings(rng)
    clean = [s for s in strings if not _ends_with_terminator(s)]
    assert len(clean) < len(strings) - 5, "the data must provoke the `$` condition"
    translated = {p: re2 for p in [*_CURATED_PATTERNS, *generated] if (re2 := to_re2(p)) is not None}
    generated_translated = sum(p in translated for p in generated)
    assert generated_translated >= 0.7 * len(generated), f"{generated_translated}/{len(generated)} translated"
    assert all(p in translated for p in _CURATED_PATTERNS), [p for p in _CURATED_PATTERNS if p not in translated]

    patterns = list(translated)
    spark_counts, per_row = _spark_results(spark, strings, patterns)
    column, clean_column = pa.array(strings, pa.string()), pa.array(clean, pa.string())
    failures: list[str] = []
    gave_up = []
    discriminating = 0
    for k, p in enumerate(patterns):
        re2 = translated[p]
        on_clean = spark_counts[True][f"c{k}"]
        mine, theirs = count_mismatches(column, re2), on_clean + spark_counts[False][f"c{k}"]
        if mine is None:
            gave_up.append(p)
            if not re2.dollar:
                failures.append(f"{p!r}: no count without `$`")
        elif mine != theirs:
            failures.append(f"{p!r} -> {re2.pattern!r}: pyarrow {mine}, Spark {theirs}")
        mine = count_mismatches(clean_column, re2)
        if mine != on_clean:
            failures.append(f"{p!r} -> {re2.pattern!r}: pyarrow {mine}, Spark {on_clean} (clean strings)")
        discriminating += 0 < on_clean < len(clean_column) - clean_column.null_count
        # Value by value too, so that two errors cannot cancel out in a count.
        arrow = pc.match_substring_regex(column, re2.pattern).to_pylist()
        for value, row, match in zip(strings, per_row, arrow, strict=True):
            skip = re2.dollar and _ends_with_terminator(value)
            if not skip and row[f"m{k}"] != match:
                failures.append(f"{p!r} -> {re2.pattern!r} on {value!r}: pyarrow {match}, Spark {row[f'm{k}']}")
    assert not failures, "\n".join(failures[:40])
    assert gave_up, "the `$` data condition never triggered"
    assert discriminating >= 0.3 * len(patterns), f"only {discriminating} patterns tell the strings apart"
    print(  # summary, shown with -s
        f"generated {len(generated)}, translated {generated_translated}, compared {len(patterns)} (with the"
        f" curated ones) on {len(clean)} values and {len(patterns) - len(gave_up)} on all {len(strings)}, `$` gave"
        f" up on {len(gave_up)}, discriminating {discriminating}"
    )
