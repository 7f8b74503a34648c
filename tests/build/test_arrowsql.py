"""The pyarrow evaluation of `sql` quality rules: the subset it accepts, and that it counts exactly as Spark does."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamesh.build.arrowsql import ArrowPredicate, compile_predicate, count_violations

DTYPES = [
    ("session_count", "bigint"),
    ("support_tickets", "int"),
    ("a", "int"),
    ("x", "bigint"),
    ("y", "string"),
    ("tiny", "tinyint"),
    ("status", "string"),
    ("name", "string"),
    ("flag", "boolean"),
    ("flag2", "boolean"),
    ("price", "decimal(18,2)"),
    ("rate", "decimal(10,4)"),
    ("score", "double"),
    ("day", "date"),
    ("MixedCase", "int"),
]


def _compiled(expression: str, dtypes: list[tuple[str, str]] | None = None) -> ArrowPredicate:
    predicate = compile_predicate(expression, DTYPES if dtypes is None else dtypes)
    assert predicate is not None, expression
    return predicate


def _values(expression: str, table: pa.Table, dtypes: list[tuple[str, str]]) -> list[bool | None]:
    result: list[bool | None] = _compiled(expression, dtypes).evaluate(table).to_pylist()
    return result


# --- What compiles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "columns"),
    [
        ("session_count >= 0 AND support_tickets >= 0", ("session_count", "support_tickets")),
        ("status IN ('open','closed')", ("status",)),
        ("a BETWEEN 1 AND 10", ("a",)),
        ("NOT (x > 3 OR y IS NULL)", ("x", "y")),
        ("name <> ''", ("name",)),
        ("flag", ("flag",)),
        ("flag = TRUE", ("flag",)),
        ("x == -5 or a != 3", ("a", "x")),
        ("tiny < 1000 AND tiny >= -128", ("tiny",)),
        ("x = -9223372036854775808", ("x",)),
        ("mixedcase > 0 AND `MIXEDCASE` < 10", ("MixedCase",)),
        ("status NOT IN ('x') AND name NOT BETWEEN 'a' AND 'm'", ("name", "status")),
        ("price > 1.005 AND rate <= 12 AND price <> rate", ("price", "rate")),
        ("price IN (1, 2.5, 0.001)", ("price",)),
        ("day IS NOT NULL AND NOT day IS NULL", ("day",)),
        ("day = day", ("day",)),
        ("(a > 1) = flag", ("a", "flag")),
        ("flag <=> flag2 OR a <=> 3", ("a", "flag", "flag2")),
        ("score IS NULL OR TRUE", None),  # double columns are out, even for IS NULL
        ("TRUE", ()),
        ("'abc' < name", ("name",)),
    ],
)
def test_supported_expressions_compile(expression: str, columns: tuple[str, ...] | None) -> None:
    predicate = compile_predicate(expression, DTYPES)
    if columns is None:
        assert predicate is None
    else:
        assert predicate is not None
        assert predicate.columns == columns


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "a >",
        "a = 1 AND",
        "unknown = 1",
        "t.a = 1",
        "a",  # not a predicate: Spark would cast the int to boolean
        "name",
        "price",
        "1",
        "score > 1",
        "score = score",
        "a > 1.5",  # int column, decimal literal: ANSI coercion
        "a = '3'",
        "price > a",
        "day > '2020-01-01'",
        "day > DATE '2020-01-01'",
        "day = day + 1",
        "a > 1L",
        "tiny > 1Y",
        "price > 1BD",
        "a > 1D",
        "a > 1e3",
        "a > .5",
        "a > 5.",
        "x = 9223372036854775808",  # beyond bigint Spark makes it a decimal
        "a + 1 > 3",
        "-a > 3",
        "a > +3",
        "a > -(3)",
        "length(name) > 2",
        "coalesce(a, 0) > 1",
        "name LIKE 'a%'",
        "name RLIKE '^a'",
        "CASE WHEN flag THEN TRUE ELSE FALSE END",
        "a IN (SELECT 1)",
        "a IN ()",
        "a IN (1, NULL)",
        "a IN (1, '2')",
        "a IN (b)",
        "a = NULL",
        "NULL IS NULL",
        "a <=> NULL",
        "flag IS TRUE",
        "flag IS DISTINCT FROM flag2",
        "a BETWEEN SYMMETRIC 1 AND 2",
        "name = 'a\\nb'",
        "name = 'it''s'",
        "name = 'a' 'b'",
        'name = "a"',
        "name = r'a'",
        "status = 'OPEN' COLLATE UTF8_LCASE",
        "a > 1 -- comment",
        "a > 1 /* comment */",
        "!flag",
        "flag && flag2",
        "flag || flag2",
        "a > 3 IS NULL",  # Spark: (a > 3) IS NULL; sqlglot adds those parentheses itself
        "a = 1 = flag",  # both parse (a = 1) = flag, but chained comparisons are out
        "flag = a > 3",
        "flag = NOT flag2",
        "a <=> 1 = flag",
        "a > 1; DROP TABLE t",
        "CURRENT_DATE IS NULL",
        "status = '${spark.app.name}'",  # Spark substitutes it before parsing
        "status = '${env:HOME}'",
    ],
)
def test_everything_else_is_rejected(expression: str) -> None:
    assert compile_predicate(expression, DTYPES) is None


def test_decimals_compare_only_while_their_common_type_fits_38_digits() -> None:
    # Beyond 38 digits Spark caps the common type, which may round or fail.
    assert compile_predicate("price > 0.000000000000000000001", DTYPES) is not None  # 16 + 21 digits
    assert compile_predicate("price > 0.0000000000000000000001", [("price", "decimal(38,2)")]) is None  # 36 + 22
    assert compile_predicate("p = q", [("p", "decimal(38,0)"), ("q", "decimal(38,0)")]) is not None
    assert compile_predicate("p = q", [("p", "decimal(38,0)"), ("q", "decimal(10,2)")]) is None
    assert compile_predicate("p IN (1, 0.5)", [("p", "decimal(38,0)")]) is None
    # Spark may type an integer literal as decimal(10,0) (int) or decimal(20,0) (bigint) next to a decimal.
    assert compile_predicate("p > 5", [("p", "decimal(38,28)")]) is not None
    assert compile_predicate("p > 5", [("p", "decimal(38,29)")]) is None
    assert compile_predicate("p > 5000000000", [("p", "decimal(38,18)")]) is not None
    assert compile_predicate("p > 5000000000", [("p", "decimal(38,19)")]) is None
    # Each comparison of a BETWEEN fits (30 + 2, 16 + 10 digits); one type for all three would not (30 + 10).
    wide_low = "p BETWEEN 123456789012345678901234567890 AND 0.0000000001"
    assert compile_predicate(wide_low, [("p", "decimal(18,2)")]) is None
    assert compile_predicate("p BETWEEN 12345678901234567890 AND 0.0000000001", [("p", "decimal(18,2)")]) is not None


def test_unsupported_column_types_and_ambiguous_names_are_rejected() -> None:
    assert compile_predicate("v = 'a'", [("v", "string collate UTF8_LCASE")]) is None
    assert compile_predicate("v = 'a'", [("v", "varchar(3)")]) is None
    assert compile_predicate("v IS NULL", [("v", "timestamp")]) is None
    assert compile_predicate("v IS NULL", [("v", "array<int>")]) is None
    assert compile_predicate("v > 1", [("v", "float")]) is None
    assert compile_predicate("v > 1", [("v", "int"), ("V", "int")]) is None
    assert compile_predicate("v > 1", [("v", "int"), ("v", "int")]) is None
    assert compile_predicate("v > 1", [("V", "int")]) is not None
    assert compile_predicate("`a.b` > 1", [("a.b", "int")]) is not None
    assert compile_predicate("`Weird Name` = 'x'", [("weird name", "string")]) is not None


# --- Null semantics on tiny tables -------------------------------------------------------------------------


def test_in_with_a_null_input_is_null_not_false() -> None:
    table = pa.table({"x": pa.array([1, 3, None], pa.int64())})
    dtypes = [("x", "bigint")]
    assert _values("x IN (1, 2)", table, dtypes) == [True, False, None]
    assert _values("x NOT IN (1, 2)", table, dtypes) == [False, True, None]
    assert _values("NOT x IN (1, 2)", table, dtypes) == [False, True, None]
    # Spark counts a null as a violation, with or without NOT.
    assert count_violations(table, _compiled("x NOT IN (1, 2)", dtypes)) == 2
    assert count_violations(table, _compiled("x IN (1, 2)", dtypes)) == 2


def test_kleene_logic() -> None:
    table = pa.table({"p": [True, True, True, False, False, False, None, None, None]})
    table = table.append_column("q", pa.array([True, False, None] * 3))
    dtypes = [("p", "boolean"), ("q", "boolean")]
    assert _values("p AND q", table, dtypes) == [True, False, None, False, False, False, None, False, None]
    assert _values("p OR q", table, dtypes) == [True, True, True, True, False, None, True, None, None]
    assert _values("NOT p", table, dtypes)[::3] == [False, True, None]
    assert _values("p <=> q", table, dtypes) == [True, False, False, False, True, False, False, False, True]
    assert count_violations(table, _compiled("p OR q", dtypes)) == 4
    assert count_violations(table, _compiled("NOT (p AND q)", dtypes)) == 4


def test_comparisons_and_between_with_nulls() -> None:
    table = pa.table(
        {
            "n": pa.array([5, None, -1], pa.int8()),
            "s": ["b", "", None],
            "d": pa.array([Decimal("1.00"), Decimal("1.01"), None], pa.decimal128(18, 2)),
        }
    )
    dtypes = [("n", "tinyint"), ("s", "string"), ("d", "decimal(18,2)")]
    assert _values("n BETWEEN 0 AND 1000", table, dtypes) == [True, None, False]
    assert _values("n NOT BETWEEN 0 AND 1000", table, dtypes) == [False, None, True]
    assert _values("s > ''", table, dtypes) == [True, False, None]
    assert _values("d > 1.005", table, dtypes) == [False, True, None]
    assert _values("d = 1", table, dtypes) == [True, False, None]
    assert _values("d IS NULL OR n IS NULL", table, dtypes) == [False, True, True]
    assert count_violations(table, _compiled("TRUE", dtypes)) == 0
    assert count_violations(table, _compiled("FALSE", dtypes)) == 3
    assert count_violations(table.slice(0, 0), _compiled("n > 0", dtypes)) == 0


def test_a_table_that_does_not_match_the_dtypes_is_an_error() -> None:
    predicate = _compiled("n > 0", [("n", "int")])
    with pytest.raises(TypeError, match="'n'"):
        predicate.evaluate(pa.table({"n": ["1"]}))


# --- Differential test against Spark -----------------------------------------------------------------------

SEED = 20240611
ROWS = 40


def _spark_rows(rng: random.Random) -> list[tuple[Any, ...]]:
    """Rows for SPARK_COLUMNS: extremes first, then random values, with nulls sprinkled in."""
    names = ["", "a", "A", "abc", "Abc", "zoe", "Zoë", "émile", "日本", "ｱ", "😀", "open ", "m", "z"]
    statuses = ["open", "closed", "Open", "pending", ""]
    prices = ["1.00", "1.01", "-3.25", "0.00", "99999999.99", "9999999999999999.99", "-9999999999999999.99", "12.50"]
    rates = ["1.0050", "1.0049", "123456.7890", "-0.0001", "0.0000", "12.0000", "-999999.9999"]
    ints = [-2147483648, 2147483647, 0, 1, -1, 3, 10, 42]
    bigs = [-9223372036854775808, 9223372036854775807, 0, 3, -3, 4, 2147483648]
    tinies = [-128, 127, 0, 1, -1, 100]
    doubles = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1.5, 2.0, -7.25]
    smalls = [-32768, 32767, 0, 1, -1, 3]
    wides = ["99999999999999999999999999999999.999999", "-12345678901234567890123456789012.123456", "1.005000"]
    wides += ["0.000001", "12.500000", "-3.250000", "1.000000"]
    base = dt.date(2020, 1, 1)

    def pick(values: list[Any], row: int) -> Any:
        return values[row] if row < 6 else rng.choice(values)

    def date() -> dt.date:
        return base + dt.timedelta(days=rng.randrange(-3, 4))

    rows = []
    for index in range(ROWS):
        day = date()
        values = (
            rng.randrange(-2, 30),
            rng.randrange(0, 8),
            rng.randrange(-3, 15),
            pick(bigs, index),
            rng.choice(names),
            pick(tinies, index),
            rng.choice(statuses),
            rng.choice(names),
            rng.random() < 0.5,
            rng.random() < 0.5,
            Decimal(pick(prices, index)),
            Decimal(pick(rates, index)),
            pick(doubles, index),
            day,
            day if rng.random() < 0.3 else date(),
            pick(ints, index),
            pick(smalls, index),
            Decimal(pick(wides, index)),
        )
        # The first rows hold the extremes, without nulls.
        rows.append(tuple(None if index >= 6 and rng.random() < 0.15 else v for v in values))
    return rows


#: The compile tests' columns plus a few more kinds, for the table both engines read.
SPARK_COLUMNS = [*DTYPES[:-1], ("day2", "date"), DTYPES[-1], ("small", "smallint"), ("wide", "decimal(38,6)")]
INT_COLUMNS = ["session_count", "support_tickets", "a", "x", "tiny", "MixedCase", "small"]
STRING_COLUMNS = ["y", "status", "name"]
BOOL_COLUMNS = ["flag", "flag2"]
DECIMAL_COLUMNS = ["price", "rate", "wide"]
DATE_COLUMNS = ["day", "day2"]
INT_LITERALS = [
    "0",
    "1",
    "-1",
    "3",
    "10",
    "42",
    "127",
    "128",
    "-128",
    "-129",
    "32767",
    "2147483647",
    "-2147483648",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
]
STRING_LITERALS = [
    "''",
    "'a'",
    "'A'",
    "'open'",
    "'Open'",
    "'closed'",
    "'Zoë'",
    "'zoe'",
    "'日本'",
    "'😀'",
    "'m'",
    "'open '",
]
DECIMAL_LITERALS = ["1.005", "1.00", "1.01", "-3.25", "0.0001", "12.5", "99999999.99", "1234.5678", "0.000000001"]
DECIMAL_LITERALS += ["12345678901234567890.5", "-0.0", "9999999999999999.99"]
COMPARISONS = ["=", "==", "<>", "!=", "<", "<=", ">", ">=", "<=>"]


class _Grammar:
    """Random expressions: mostly within the subset, some outside (which must never compile)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def word(self, keyword: str) -> str:
        return self.rng.choice([keyword, keyword.lower(), keyword.capitalize()])

    def ref(self, columns: list[str]) -> str:
        name = self.rng.choice(columns)
        style = self.rng.random()
        if style < 0.15:
            return f"`{name}`"
        if style < 0.25:
            return name.upper()
        if style < 0.35:
            return name.lower()
        return name

    def literal(self, kind: str) -> str:
        if kind == "int":
            return self.rng.choice(INT_LITERALS)
        if kind == "string":
            return self.rng.choice(STRING_LITERALS)
        if kind == "bool":
            return self.word(self.rng.choice(["TRUE", "FALSE"]))
        return self.rng.choice(DECIMAL_LITERALS + INT_LITERALS[:8])

    def operand(self, kind: str, column_share: float = 0.7) -> str:
        columns = {
            "int": INT_COLUMNS,
            "string": STRING_COLUMNS,
            "bool": BOOL_COLUMNS,
            "decimal": DECIMAL_COLUMNS,
            "date": DATE_COLUMNS,
        }[kind]
        if kind == "date" or self.rng.random() < column_share:
            return self.ref(columns)
        if kind == "bool" and self.rng.random() < 0.3:
            return f"({self.simple()})"
        return self.literal(kind)

    def simple(self) -> str:
        kind = self.rng.choices(["int", "string", "bool", "decimal", "date"], [4, 3, 1, 2, 1])[0]
        shape = self.rng.choices(["compare", "null", "between", "in", "bare"], [6, 1.5, 1.5, 1.5, 1])[0]
        if shape == "bare" or (kind == "bool" and shape in ("between", "in") and self.rng.random() < 0.5):
            return self.ref(BOOL_COLUMNS) if self.rng.random() < 0.9 else self.word("TRUE")
        if shape == "null":
            return f"{self.operand(kind, 1.0)} {self.word('IS')} {self.negation()}{self.word('NULL')}"
        if shape == "between" and kind != "bool":
            low, high = self.operand(kind, 0.15), self.operand(kind, 0.15)
            return f"{self.operand(kind, 1.0)} {self.negation()}{self.word('BETWEEN')} {low} {self.word('AND')} {high}"
        if shape == "in" and kind not in ("bool", "date"):
            items = ", ".join(self.literal(kind) for _ in range(self.rng.randint(1, 4)))
            return f"{self.operand(kind, 1.0)} {self.negation()}{self.word('IN')} ({items})"
        left, right = self.operand(kind, 1.0), self.operand(kind, 0.4)
        if self.rng.random() < 0.15:
            left, right = right, left
        return f"{left} {self.rng.choice(COMPARISONS)} {right}"

    def negation(self) -> str:
        return self.word("NOT") + " " if self.rng.random() < 0.3 else ""

    def predicate(self, depth: int) -> str:
        roll = self.rng.random()
        if depth == 0 or roll < 0.35:
            return self.simple()
        if roll < 0.5:
            inner = self.predicate(depth - 1)
            return f"{self.word('NOT')} ({inner})" if self.rng.random() < 0.6 else f"{self.word('NOT')} {inner}"
        left, right = self.predicate(depth - 1), self.predicate(depth - 1)
        if self.rng.random() < 0.5:
            left = f"({left})"
        if self.rng.random() < 0.5:
            right = f"({right})"
        return f"{left} {self.word(self.rng.choice(['AND', 'OR']))} {right}"

    def outside(self) -> str:
        """A construct outside the subset, alone or combined with one inside it."""
        int_col, dec_col, str_col = self.ref(INT_COLUMNS), self.ref(DECIMAL_COLUMNS), self.ref(STRING_COLUMNS)
        options: list[Callable[[], str]] = [
            lambda: f"score {self.rng.choice(COMPARISONS)} {self.rng.choice(['1.5', '0', '-7.25', 'score'])}",
            lambda: f"score {self.word('IS')} {self.negation()}NULL",
            lambda: f"{int_col} > {self.rng.choice(['1.5', '-0.5', '3.0'])}",
            lambda: f"{int_col} = '3'",
            lambda: f"{dec_col} > {int_col}",
            lambda: f"{self.ref(DATE_COLUMNS)} > '2020-01-01'",
            lambda: f"{self.ref(DATE_COLUMNS)} <= DATE '2020-01-02'",
            lambda: f"{int_col} > {self.rng.choice(['1L', '2S', '1Y', '1D', '1BD', '1e1'])}",
            lambda: f"a + 1 > {self.literal('int')}",
            lambda: "support_tickets * 2 >= 3",
            lambda: f"length({str_col}) > 2",
            lambda: f"lower(status) = {self.literal('string')}",
            lambda: f"{str_col} LIKE 'a%'",
            lambda: f"{str_col} RLIKE '^o'",
            lambda: "CASE WHEN flag THEN a > 1 ELSE false END",
            lambda: f"{int_col} = NULL",
            lambda: f"{int_col} {self.negation()}IN (1, NULL)",
            lambda: f"{int_col} <=> NULL",
            lambda: "NULL IS NULL",
            lambda: "name = 'a\\tb'",
            lambda: 'status = "open"',
            lambda: "status = 'op' 'en'",
            lambda: "status = 'OPEN' COLLATE UTF8_LCASE",
            lambda: f"{str_col} <> '${{spark.app.name}}'",
            lambda: f"{int_col} > 3 IS NULL",
            lambda: f"{int_col} = 1 = flag",
            lambda: "flag = a > 3",
            lambda: "a > 1 /* comment */",
            lambda: "!flag",
            lambda: "flag IS TRUE",
            lambda: "flag IS NOT DISTINCT FROM flag2",
            lambda: self.rng.choice(["a", "price", "support_tickets"]),
            lambda: f"{int_col} > x.y",
            lambda: f"{int_col} IN (SELECT 1)",
        ]
        construct = self.rng.choice(options)()
        if self.rng.random() < 0.4:
            return f"({construct}) {self.word(self.rng.choice(['AND', 'OR']))} ({self.predicate(1)})"
        return construct


CURATED = [
    "session_count >= 0 AND support_tickets >= 0",
    "status IN ('open','closed')",
    "a BETWEEN 1 AND 10",
    "NOT (x > 3 OR y IS NULL)",
    "name <> ''",
    "flag",
    "flag = TRUE",
    "mixedcase < 0 or `MIXEDCASE` > 100",
    "NOT a > 3 AND flag OR name IS NULL",
    "flag OR flag2 AND NOT flag",
    "NOT x IN (0, 3) AND NOT y NOT IN ('a')",
    "price BETWEEN 1 AND 1.005 OR rate > 1.005",
    "price = rate OR price < rate",
    "tiny <=> 127 OR tiny < -127",
    "x = -9223372036854775808 OR x >= 9223372036854775807",
    "name > 'z' AND name < '😀'",
    "day < day2 OR day = day2",
    "(a > 3) = flag",
    "flag < flag2",
    "TRUE AND NOT FALSE",
]


def _expressions() -> list[tuple[str, bool]]:
    """(expression, must be rejected) pairs: the curated list, then a few hundred random ones."""
    rng = random.Random(SEED)
    grammar = _Grammar(rng)
    generated = [(e, False) for e in CURATED]
    for _ in range(400):
        if rng.random() < 0.2:
            generated.append((grammar.outside(), True))
        else:
            generated.append((grammar.predicate(3), False))
    return generated


@pytest.mark.spark
def test_counts_agree_with_spark(spark: Any, tmp_path: Path) -> None:
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    schema = ", ".join(f"`{name}` {spark_type}" for name, spark_type in SPARK_COLUMNS)
    source = spark.createDataFrame(_spark_rows(random.Random(SEED)), schema)
    # The caller reads the parquet files Spark wrote: so does this test.
    source.coalesce(2).write.parquet(str(tmp_path / "result"))
    df = spark.read.parquet(str(tmp_path / "result"))
    table = pq.read_table(tmp_path / "result")
    assert table.num_rows == ROWS
    assert [t for _, t in df.dtypes] == [t for _, t in SPARK_COLUMNS]

    def violations(expression: str) -> Any:
        return F.count_if(~F.coalesce(F.expr(expression).cast("boolean"), F.lit(False)))

    generated = _expressions()
    valid: list[tuple[str, bool]] = []
    for expression, must_reject in generated:
        try:
            df.agg(violations(expression))  # analysed eagerly; runs no job
        except PySparkException:
            assert compile_predicate(expression, df.dtypes) is None, f"Spark rejects {expression!r}"
            continue
        valid.append((expression, must_reject))

    # One job for all of them.
    row = df.agg(*[violations(e).alias(f"v{i}") for i, (e, _) in enumerate(valid)]).collect()[0]

    compiled, mismatches = 0, []
    for index, (expression, must_reject) in enumerate(valid):
        predicate = compile_predicate(expression, df.dtypes)
        if predicate is None:
            continue
        assert not must_reject, f"{expression!r} is outside the subset but compiled"
        compiled += 1
        ours, spark_count = count_violations(table, predicate), row[index]
        if ours != spark_count:
            mismatches.append(f"{expression!r}: arrow {ours}, spark {spark_count}")
    print(f"\ngenerated {len(generated)}, Spark-valid {len(valid)}, compiled and compared {compiled}")
    assert mismatches == []
    for expression in CURATED:
        assert compile_predicate(expression, df.dtypes) is not None, expression
    assert compiled >= 0.6 * len(valid), f"only {compiled} of {len(valid)} valid expressions compiled"
