"""A small subset of Spark SQL predicates evaluated with pyarrow, exactly as Spark would.

The build counts the rows violating a `sql` quality rule as Spark's
``count_if(NOT coalesce(CAST(expr AS boolean), false))`` (null is a violation). Over a result table already read
as Arrow, the same count is much cheaper without a Spark job; `compile_predicate` translates an expression only
when the answer is guaranteed to be Spark's (Spark 4 defaults: ANSI mode, case-insensitive resolution,
UTF8_BINARY strings) and returns None otherwise, so the caller falls back to Spark.

The subset:

* columns, unqualified (plain or backtick-quoted), resolved case-insensitively against the result's dtypes;
  ambiguous or unknown names are rejected (Spark would fail the analysis);
* literals: integers (``-?\\d+``, within bigint where compared with integers), decimals (``-?\\d+\\.\\d+``),
  single-quoted strings without backslashes or embedded quotes, TRUE and FALSE;
* ``= == <> != < <= > >= <=>`` between two operands of one kind, each a column or a literal:
  integers (tinyint, smallint, int, bigint, compared as int64: Spark only widens them, which is exact);
  strings (plain ``string``: UTF8_BINARY compares bytes, as Arrow does); booleans (false < true in both);
  decimals with decimals or integer literals, compared in the exact common decimal type, only while that
  type fits in 38 digits (beyond, Spark caps the precision and could round or fail; integer literals count
  as decimal(10,0) or decimal(20,0) there, the widest type Spark may give them); dates with dates
  (columns only, both sides are day numbers);
* ``AND``, ``OR``, ``NOT`` (Kleene logic, as Spark), parentheses, a boolean column or literal as a predicate;
* ``IS [NOT] NULL``; ``[NOT] BETWEEN a AND b`` (Spark rewrites it to ``x >= a AND x <= b``);
  ``[NOT] IN (...)`` of non-null literals of the column's kind (a null input gives null, not false).

Everything else is rejected: arithmetic, functions, CASE and casts can fail or round under ANSI; float and
double differ on NaN (Spark: NaN = NaN, NaN above every number); typed literals (``1L``, ``DATE '...'``) and
exponent literals are other types; anything with ``${`` (Spark substitutes variables into the text before
parsing it, string literals included); LIKE/RLIKE, collated or char/varchar strings, timestamps (their parquet
encoding is not the reader's choice), NULL literals, comments, double-quoted and escaped strings, and comparisons
across kinds (ANSI coercion rules). Precedence is a trap too: sqlglot and Spark do not group ``a = b < c`` or
``a <=> b = c`` alike, and sqlglot inserts parentheses of its own. So operands of comparisons and predicates
must be single columns, literals or parenthesised expressions, and the parsed tree must spell out exactly the
tokens of the source, parentheses included: then both parsers can only agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

#: An Arrow value during evaluation: a column (ChunkedArray or Array) or a constant (Scalar).
Datum = Any
_Fetch = Callable[[pa.Table], Datum]

__all__ = ["ArrowPredicate", "compile_predicate", "count_violations"]

_INTEGER_TYPES = frozenset({"tinyint", "smallint", "int", "bigint"})
_DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+\.[0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING_TOKEN = re.compile(r"'[^'\\]*'")
_QUOTED_TOKEN = re.compile(r"`[^`\\]+`")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_MAX_PRECISION = 38
# Spark may read these bare words as functions (CURRENT_DATE...) depending on settings: never as columns here.
_SPECIAL_WORDS = frozenset(
    {"current_date", "current_timestamp", "current_time", "current_user", "user", "session_user", "localtimestamp"}
)
_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "equal",
    exp.NEQ: "not_equal",
    exp.LT: "less",
    exp.LTE: "less_equal",
    exp.GT: "greater",
    exp.GTE: "greater_equal",
}
_OPERATOR_SPELLINGS: dict[type[exp.Expr], tuple[str, ...]] = {
    exp.EQ: ("=", "=="),
    exp.NEQ: ("<>", "!="),
    exp.LT: ("<",),
    exp.LTE: ("<=",),
    exp.GT: (">",),
    exp.GTE: (">=",),
    exp.NullSafeEQ: ("<=>",),
}
_ATOMS = (exp.Column, exp.Literal, exp.Boolean, exp.Neg, exp.Paren)


@dataclass(frozen=True)
class ArrowPredicate:
    """A compiled predicate: the table columns it reads, and its evaluation (a closure built at compile time).

    `evaluate` returns a boolean array of the table's length with SQL nulls (three-valued logic, as Spark). It
    raises TypeError when a column's Arrow type does not match the Spark type it was compiled for.
    """

    columns: tuple[str, ...]
    _evaluate: _Fetch = field(repr=False, compare=False)

    def evaluate(self, table: pa.Table) -> pa.ChunkedArray | pa.Array:
        result = self._evaluate(table)
        if isinstance(result, pa.Scalar):
            return pa.repeat(result, table.num_rows)
        return result


def count_violations(table: pa.Table, predicate: ArrowPredicate) -> int:
    """Rows where the predicate is not true (false or null), as Spark's count_if(NOT coalesce(expr, false))."""
    result = predicate.evaluate(table)
    if len(result) != table.num_rows:
        raise ValueError(f"predicate gave {len(result)} values for {table.num_rows} rows")
    satisfied = pc.sum(result, min_count=0).as_py()
    return int(table.num_rows - (satisfied or 0))


def compile_predicate(expression: str, dtypes: Sequence[tuple[str, str]]) -> ArrowPredicate | None:
    """`expression` (Spark SQL) as a pyarrow computation, or None outside the supported subset.

    dtypes: Spark's DataFrame.dtypes of the result, e.g. [("session_count", "bigint"), ("email", "string"),
    ("price", "decimal(18,2)")].
    """
    if "${" in expression:
        return None  # Spark substitutes ${var} (conf, env:, system:) before parsing, even inside literals
    try:
        tokens = _source_tokens(expression)
        tree = sqlglot.parse_one(expression, read="spark")
        if tokens is None or not _spells(tree, tokens):
            return None
        term = _Compiler(dtypes).term(tree)
    except (SqlglotError, ValueError, RecursionError):
        # Whatever sqlglot cannot read, or nests deeper than Python recurses, is left to Spark.
        return None
    if term is None or term.kind != "bool":
        return None
    return ArrowPredicate(tuple(sorted(term.columns)), term.fetch)


# --- Typed terms ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    """A compiled operand or predicate.

    kind: "int", "string", "bool", "decimal" or "date". `fetch` gives the value as Arrow: int64 for integers,
    string for strings; decimals are fetched by `decimal_at` in the common type of a comparison instead.
    digits: (integer digits, scale) of a decimal or integer term, to find that common type. value: the Python
    value of a literal (None for anything else; NULL literals are not accepted).
    """

    kind: str
    fetch: _Fetch
    columns: frozenset[str] = frozenset()
    digits: tuple[int, int] | None = None
    value: object = None
    decimal_at: Callable[[pa.Table, pa.DataType], Datum] | None = None

    @property
    def literal(self) -> bool:
        return self.value is not None


def _column_fetch(name: str, kind: str) -> _Fetch:
    def fetch(table: pa.Table) -> Datum:
        column = table.column(name)
        _check_type(name, kind, column.type)
        if kind == "int":
            return pc.cast(column, pa.int64())
        if kind == "string":
            return column if column.type == pa.string() else pc.cast(column, pa.string())
        return column

    return fetch


def _check_type(name: str, kind: str, arrow_type: pa.DataType) -> None:
    matches = {
        "int": pa.types.is_signed_integer,
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
        "bool": pa.types.is_boolean,
        "decimal": pa.types.is_decimal,
        "date": pa.types.is_date32,
    }[kind]
    if not matches(arrow_type):
        raise TypeError(f"column {name!r} is {arrow_type} in the table, not a {kind} as its Spark type says")


def _const(value: Datum) -> _Fetch:
    return lambda table: value


def _kind_of(spark_type: str) -> tuple[str, tuple[int, int] | None] | None:
    spark_type = spark_type.strip().lower()
    if spark_type in _INTEGER_TYPES:
        return "int", None
    if spark_type in ("string", "boolean", "date"):
        return {"string": "string", "boolean": "bool", "date": "date"}[spark_type], None
    match = _DECIMAL_TYPE.fullmatch(spark_type)
    if match:
        precision, scale = int(match[1]), int(match[2])
        return "decimal", (precision - scale, scale)
    return None


def _same_name_ignoring_case(a: str, b: str) -> bool:
    # A superset of Java's equalsIgnoreCase (what Spark's resolver uses), so no ambiguity is missed.
    if a.casefold() == b.casefold() or a.lower() == b.lower() or a.upper() == b.upper():
        return True
    return len(a) == len(b) and all(x.upper() == y.upper() or x.lower() == y.lower() for x, y in zip(a, b, strict=True))


class _Compiler:
    def __init__(self, dtypes: Sequence[tuple[str, str]]) -> None:
        self.dtypes = list(dtypes)

    def term(self, node: exp.Expr) -> _Term | None:
        if isinstance(node, exp.Paren) and _only(node, "this"):
            return self.term(node.this)
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, (exp.Literal, exp.Boolean, exp.Neg)):
            return _literal(node)
        if isinstance(node, (exp.And, exp.Or)) and _only(node, "this", "expression"):
            return self.connective(node)
        if isinstance(node, exp.Not) and _only(node, "this"):
            inner = self.term(node.this)
            if inner is None or inner.kind != "bool":
                return None
            fetch = inner.fetch
            return _Term("bool", lambda table: pc.invert(fetch(table)), inner.columns)
        if type(node) in _OPERATOR_SPELLINGS and _only(node, "this", "expression"):
            return self.comparison(node)
        if isinstance(node, exp.Is):
            return self.is_null(node)
        if isinstance(node, exp.In):
            return self.in_list(node)
        if isinstance(node, exp.Between):
            return self.between(node)
        return None

    def operand(self, node: exp.Expr) -> _Term | None:
        # Single tokens or real parentheses only: elsewhere sqlglot's precedence is not Spark's.
        return self.term(node) if isinstance(node, _ATOMS) else None

    def column(self, node: exp.Column) -> _Term | None:
        identifier = node.this
        if not (_only(node, "this") and isinstance(identifier, exp.Identifier) and _only(identifier, "this", "quoted")):
            return None
        name = identifier.this
        if not isinstance(name, str) or not name:
            return None
        if not identifier.quoted and (not _IDENTIFIER.fullmatch(name) or name.lower() in _SPECIAL_WORDS):
            return None
        matches = [(n, t) for n, t in self.dtypes if _same_name_ignoring_case(n, name)]
        if len(matches) != 1:
            return None
        actual, spark_type = matches[0]
        if actual != name and not (actual.isascii() and name.isascii()):
            return None  # a case-insensitive match outside ASCII: Java's rules may differ from Python's
        kind_digits = _kind_of(spark_type)
        if kind_digits is None:
            return None
        kind, digits = kind_digits
        fetch = _column_fetch(actual, kind)
        decimal_at = None
        if kind == "decimal":

            def decimal_at(table: pa.Table, arrow_type: pa.DataType) -> Datum:
                return pc.cast(fetch(table), arrow_type)

        return _Term(kind, fetch, frozenset({actual}), digits, decimal_at=decimal_at)

    def connective(self, node: exp.And | exp.Or) -> _Term | None:
        left, right = self.term(node.this), self.term(node.expression)
        if left is None or right is None or left.kind != "bool" or right.kind != "bool":
            return None
        kleene = pc.and_kleene if isinstance(node, exp.And) else pc.or_kleene
        lf, rf = left.fetch, right.fetch
        return _Term("bool", lambda table: kleene(lf(table), rf(table)), left.columns | right.columns)

    def comparison(self, node: exp.Expr) -> _Term | None:
        left, right = self.operand(node.this), self.operand(node.expression)
        if left is None or right is None:
            return None
        pair = _comparable(left, right)
        if pair is None:
            return None
        lf, rf = pair
        columns = left.columns | right.columns
        if isinstance(node, exp.NullSafeEQ):
            return _Term("bool", lambda table: _null_safe_equal(lf(table), rf(table)), columns)
        function = getattr(pc, _COMPARISONS[type(node)])
        return _Term("bool", lambda table: function(lf(table), rf(table)), columns)

    def is_null(self, node: exp.Is) -> _Term | None:
        if not (_only(node, "this", "expression") and isinstance(node.expression, exp.Null)):
            return None
        if not _only(node.expression):
            return None
        inner = self.operand(node.this)
        if inner is None or inner.literal:
            return None  # a literal is never null here (NULL is not accepted): not worth a special case
        fetch = inner.fetch
        return _Term("bool", lambda table: pc.is_null(fetch(table)), inner.columns)

    def in_list(self, node: exp.In) -> _Term | None:
        if not _only(node, "this", "expressions") or not node.expressions:
            return None
        subject = self.operand(node.this)
        if subject is None or subject.literal or subject.kind == "date":
            return None
        items = [self.operand(item) for item in node.expressions]
        literals = [item for item in items if item is not None and item.literal]
        if len(literals) != len(items) or any(not _same_kind(subject, item) for item in literals):
            return None
        fetch: _Fetch = subject.fetch
        if subject.kind == "decimal":
            arrow_type = _common_decimal([subject, *literals])
            if arrow_type is None:
                return None
            values = pa.array([Decimal(str(item.value)) for item in literals], arrow_type)
            fetch = _decimal_fetch(subject, arrow_type)
        else:
            arrow_type = {"int": pa.int64(), "string": pa.string(), "bool": pa.bool_()}[subject.kind]
            values = pa.array([item.value for item in literals], arrow_type)

        def evaluate(table: pa.Table) -> Datum:
            value = fetch(table)
            # The list has no nulls, so SQL gives null exactly for a null input; is_in would say false.
            found = pc.is_in(value, value_set=values)
            return pc.if_else(pc.is_valid(value), found, pa.scalar(None, pa.bool_()))

        return _Term("bool", evaluate, subject.columns)

    def between(self, node: exp.Between) -> _Term | None:
        if not _only(node, "this", "low", "high"):
            return None
        subject, low, high = self.operand(node.this), self.operand(node.args["low"]), self.operand(node.args["high"])
        if subject is None or low is None or high is None:
            return None
        above, below = _comparable(subject, low), _comparable(subject, high)
        if above is None or below is None:
            return None
        decimal = "decimal" in (subject.kind, low.kind, high.kind)
        if decimal and _common_decimal([subject, low, high]) is None:
            return None  # the two comparisons fit 38 digits, but one type for all three might not
        (s1, lo), (s2, hi) = above, below

        def evaluate(table: pa.Table) -> Datum:
            return pc.and_kleene(pc.greater_equal(s1(table), lo(table)), pc.less_equal(s2(table), hi(table)))

        return _Term("bool", evaluate, subject.columns | low.columns | high.columns)


def _only(node: exp.Expr, *keys: str) -> bool:
    """Whether `node` has no arguments set but `keys` (so no qualifier, SYMMETRIC, subquery... slips through)."""
    return all(key in keys for key, value in node.args.items() if value not in (None, False, [], ""))


def _literal(node: exp.Expr) -> _Term | None:
    if isinstance(node, exp.Boolean) and _only(node, "this"):
        value = bool(node.this)
        return _Term("bool", _const(pa.scalar(value)), value=value)
    negative = isinstance(node, exp.Neg)
    if negative:
        if not _only(node, "this"):
            return None
        node = node.this
    if not isinstance(node, exp.Literal) or not _only(node, "this", "is_string"):
        return None
    text = node.this
    if not isinstance(text, str):
        return None
    if node.is_string:
        if negative or "\\" in text or "'" in text:
            return None
        return _Term("string", _const(pa.scalar(text, pa.string())), value=text)
    if _INTEGER.fullmatch(text):
        number = -int(text) if negative else int(text)
        if _INT64[0] <= number <= _INT64[1]:
            # Next to a decimal, Spark types the literal either by its digits or as its int/bigint type's
            # decimal(10,0)/decimal(20,0); assuming the wider keeps the 38-digit check safe for both.
            digits = 10 if _INT32[0] <= number <= _INT32[1] else 20
            return _Term("int", _const(pa.scalar(number, pa.int64())), digits=(digits, 0), value=number)
        # Beyond bigint Spark reads a decimal: usable next to decimals only.
        return _Term("int", _unusable, digits=(len(str(abs(number))), 0), value=number)
    if _DECIMAL.fullmatch(text):
        decimal = -Decimal(text) if negative else Decimal(text)
        return _Term("decimal", _unusable, digits=_literal_digits(Decimal(text)), value=decimal)
    return None


def _unusable(table: pa.Table) -> Datum:
    raise AssertionError("a literal outside bigint or a decimal literal is only used through a decimal type")


def _literal_digits(value: Decimal) -> tuple[int, int]:
    """(integer digits, scale) of Spark's type for a decimal literal (java BigDecimal's precision and scale)."""
    sign_digits_exponent = value.as_tuple()
    exponent = sign_digits_exponent.exponent
    assert isinstance(exponent, int)
    scale = max(-exponent, 0)
    precision = len(sign_digits_exponent.digits)
    return max(precision - scale, 0), scale


def _same_kind(a: _Term, b: _Term) -> bool:
    if a.kind == "decimal" or b.kind == "decimal":
        # Integer literals meet decimals exactly (Spark turns them into decimals); integer columns do not
        # (ANSI coercion of an int column and a decimal is out of this subset).
        return {a.kind, b.kind} <= {"decimal", "int"} and all(t.kind == "decimal" or t.literal for t in (a, b))
    if a.kind == "int" and (a.fetch is _unusable or b.fetch is _unusable):
        return False  # beyond bigint Spark reads the literal as a decimal
    return a.kind == b.kind


def _common_decimal(terms: Sequence[_Term]) -> pa.DataType | None:
    digits = [t.digits for t in terms]
    if any(d is None for d in digits):
        return None
    integer = max(d[0] for d in digits if d is not None)
    scale = max(d[1] for d in digits if d is not None)
    if integer + scale > _MAX_PRECISION:
        return None
    return pa.decimal128(max(integer + scale, 1), scale)


def _comparable(left: _Term, right: _Term) -> tuple[_Fetch, _Fetch] | None:
    """How to fetch both sides in one Arrow type, or None when Spark would coerce them in ways not reproduced."""
    if not _same_kind(left, right):
        return None
    if left.kind != "decimal" and right.kind != "decimal":
        return left.fetch, right.fetch
    arrow_type = _common_decimal([left, right])
    if arrow_type is None:
        return None
    return _decimal_fetch(left, arrow_type), _decimal_fetch(right, arrow_type)


def _decimal_fetch(term: _Term, arrow_type: pa.DataType) -> _Fetch:
    if term.decimal_at is not None:
        decimal_at = term.decimal_at
        return lambda table: decimal_at(table, arrow_type)
    # A literal: scaling it up to the common type is exact, as the type was chosen to hold it.
    return _const(pa.scalar(Decimal(str(term.value)), arrow_type))


def _null_safe_equal(left: Datum, right: Datum) -> Datum:
    both = pc.and_(pc.is_valid(left), pc.is_valid(right))
    return pc.if_else(both, pc.equal(left, right), pc.and_(pc.is_null(left), pc.is_null(right)))


# --- The source must be exactly what the tree says -----------------------------------------------------------


def _source_tokens(expression: str) -> list[str] | None:
    """The source text of each token, or None if anything lies between tokens but blanks (comments, say)."""
    tokens = Dialect.get_or_raise("spark").tokenize(expression)
    texts, position = [], 0
    for token in tokens:
        if token.start < position or expression[position : token.start].strip(" \t\r\n"):
            return None
        text = expression[token.start : token.end + 1]
        if text[0] in "'\"" and not _STRING_TOKEN.fullmatch(text):
            return None
        if text[0] == "`" and not _QUOTED_TOKEN.fullmatch(text):
            return None
        texts.append(text)
        position = token.end + 1
    if expression[position:].strip(" \t\r\n"):
        return None
    return texts


def _spells(tree: exp.Expr, tokens: list[str]) -> bool:
    """Whether the tree's tokens, in order, are exactly the source's (so no parenthesis was added or lost)."""
    reader = _Reader(tokens)
    return reader.read(tree) and reader.position == len(tokens)


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def take(self, *spellings: str, exact: bool = False) -> bool:
        if self.position >= len(self.tokens):
            return False
        token = self.tokens[self.position]
        if (token if exact else token.upper()) not in spellings:
            return False
        self.position += 1
        return True

    def read(self, node: exp.Expr) -> bool:
        if isinstance(node, exp.Paren):
            return self.take("(") and self.read(node.this) and self.take(")")
        if isinstance(node, exp.Column):
            identifier = node.this
            name = identifier.this if isinstance(identifier, exp.Identifier) else None
            if not isinstance(name, str):
                return False
            return self.take(f"`{name}`" if identifier.quoted else name, exact=True)
        if isinstance(node, exp.Literal):
            return self.take(f"'{node.this}'" if node.is_string else str(node.this), exact=True)
        if isinstance(node, exp.Boolean):
            return self.take("TRUE" if node.this else "FALSE")
        if isinstance(node, exp.Neg):
            return self.take("-") and self.read(node.this)
        if isinstance(node, (exp.And, exp.Or)):
            word = "AND" if isinstance(node, exp.And) else "OR"
            return self.read(node.this) and self.take(word) and self.read(node.expression)
        if isinstance(node, exp.Not):
            if self.take("NOT"):
                return self.read(node.this)
            return isinstance(node.this, (exp.Is, exp.In, exp.Between)) and self.read_predicate(node.this, True)
        if type(node) in _OPERATOR_SPELLINGS:
            return self.read(node.this) and self.take(*_OPERATOR_SPELLINGS[type(node)]) and self.read(node.expression)
        if isinstance(node, (exp.Is, exp.In, exp.Between)):
            return self.read_predicate(node, False)
        return False

    def read_predicate(self, node: exp.Is | exp.In | exp.Between, negated: bool) -> bool:
        if not self.read(node.this):
            return False
        if isinstance(node, exp.Is):
            return self.take("IS") and (not negated or self.take("NOT")) and self.take("NULL")
        if negated and not self.take("NOT"):
            return False
        if isinstance(node, exp.Between):
            return (
                self.take("BETWEEN")
                and self.read(node.args["low"])
                and self.take("AND")
                and self.read(node.args["high"])
            )
        if not (self.take("IN") and self.take("(")):
            return False
        for index, item in enumerate(node.expressions):
            if (index and not self.take(",")) or not self.read(item):
                return False
        return self.take(")")
