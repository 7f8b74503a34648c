"""The first wall around tenant SQL: what a transform or a check expression may say, decided without a JVM.

A tenant's `transform.sql` and quality-check `sql` expressions run inside our build pods with the pod's
credentials and the lake's storage, so they are hostile input. Spark SQL can run shell commands (script
transforms), call JVM methods (`reflect`), read arbitrary paths (`parquet.\\`/x\\``, `read_files`), expand
configuration and environment values into the text (`${env:...}`) and write or drop tables. Rather than
recognise the dangerous constructs, this module accepts only what it can prove is a read-only query over the
declared inputs, and refuses everything else, including text it cannot parse and sqlglot node types nobody
has reviewed (so a sqlglot upgrade that models new syntax refuses it until someone allows it here):

* the text is bounded (length, bracket nesting, no `${`, no invisible or control characters) before parsing;
* it must parse (sqlglot, Spark dialect) into exactly one query, and every node of the tree must be of an
  allow-listed class;
* every function call must name a function on the allow-list in `spark_functions`;
* every table must be a declared input or a CTE in scope; hints are limited to planner hints.

`expression_problems` holds check expressions to the same rules as a scalar expression over the product's
own columns. The build keeps its own second line (no SQL on files, a plan-side function guard); this check
is what admission, `datamesh validate` and the operator apply before a build ever starts.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from datamesh.api import spark_functions

TRANSFORM_FIELD: Final = "transform.sql"
MAX_SQL_LENGTH: Final = 65536
"""The model's max_length for transform.sql; repeated so the check stands on its own."""
MAX_EXPRESSION_LENGTH: Final = 8192
MAX_NESTING: Final = 64
"""Brackets (parentheses, square brackets) deeper than this are refused before sqlglot recurses into them."""
MAX_TREE_DEPTH: Final = 1000
"""Depth of the parsed tree; long AND/OR/UNION chains nest without brackets."""
MAX_NODES: Final = 100_000

# Spark's parser expands `${name}`, `${env:NAME}`, `${system:name}` and `${hiveconf:name}` in the raw text,
# string literals and comments included, before it lexes: a tenant could copy secrets into its output.
_SUBSTITUTION = "${"

# Statements that sqlglot cannot parse but whose first keyword tells what was attempted.
_FILE_SOURCES: Final = frozenset(
    {
        "avro", "binaryfile", "csv", "delta", "file", "hive", "iceberg", "jdbc", "json", "orc", "parquet",
        "text", "xml", "hudi", "image", "libsvm", "noop", "kafka", "socket", "rate",
    }
)  # fmt: skip

_QUERY_TOPS: Final = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

# Node classes that may appear in a transform. Functions (exp.Func) are judged by name instead.
_QUERY_NODES: Final[frozenset[type[exp.Expr]]] = frozenset(
    {
        # query structure
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery, exp.From,
        exp.Join, exp.Lateral, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered,
        exp.Limit, exp.Offset, exp.Distinct, exp.Values, exp.Table, exp.TableAlias, exp.TableSample,
        exp.Pivot, exp.PivotAlias, exp.UnpivotColumns, exp.Cube, exp.Rollup, exp.GroupingSets,
        exp.Distribute, exp.Sort, exp.Cluster, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup,
        exp.IgnoreNulls, exp.RespectNulls,
        # names and values
        exp.Alias, exp.Aliases, exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null, exp.Boolean,
        exp.HexString, exp.RawString, exp.Var, exp.DataType, exp.DataTypeParam, exp.ColumnDef, exp.Interval,
        exp.IntervalSpan, exp.Tuple, exp.Paren, exp.Bracket, exp.Dot, exp.Lambda, exp.Kwarg, exp.PropertyEQ,
        # operators and predicates
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg, exp.Not, exp.BitwiseAnd,
        exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In,
        exp.Between, exp.Like, exp.ILike, exp.Escape, exp.DPipe, exp.Any, exp.All,
        # what sqlglot builds for from_utc_timestamp / to_utc_timestamp and get_json_object paths
        exp.AtTimeZone, exp.FromTimeZone, exp.JSONPath, exp.JSONPathRoot, exp.JSONPathKey,
        exp.JSONPathSubscript, exp.JSONPathWildcard,
    }
)  # fmt: skip

# What a scalar check expression may not contain even though a transform may.
_NOT_SCALAR: Final[frozenset[type[exp.Expr]]] = frozenset(
    {
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery, exp.From,
        exp.Join, exp.Lateral, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Limit,
        exp.Offset, exp.Values, exp.Table, exp.TableAlias, exp.TableSample, exp.Pivot, exp.PivotAlias,
        exp.UnpivotColumns, exp.Cube, exp.Rollup, exp.GroupingSets, exp.Distribute, exp.Sort, exp.Cluster,
        exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.Alias, exp.Aliases, exp.Star,
        exp.Any, exp.All, exp.Exists,
    }
)  # fmt: skip

# Names for refusal messages where the sqlglot class name would not tell a tenant what was refused.
_CONSTRUCTS: Final[dict[type[exp.Expr], str]] = {
    exp.Placeholder: "a parameter marker (? or :name)",
    exp.Parameter: "a variable or parameter reference",
    exp.SessionParameter: "a session variable (@@name)",
    exp.Version: "time travel (VERSION/TIMESTAMP AS OF)",
    exp.Into: "SELECT INTO",
    exp.Hint: "a hint",
    exp.UserDefinedFunction: "a user-defined function",
    exp.Subquery: "a subquery",
    exp.Select: "a subquery",
    exp.Exists: "EXISTS",
    exp.Table: "a table reference",
    exp.Star: "*",
    exp.Window: "a window function (OVER)",
    exp.WindowSpec: "a window specification",
    exp.Alias: "an alias (AS)",
    exp.Lateral: "LATERAL",
}

# Planner hints that change how a result is computed, never what it is.
_HINTS: Final = frozenset(
    {
        "BROADCAST", "BROADCASTJOIN", "MAPJOIN", "MERGE", "SHUFFLE_MERGE", "MERGEJOIN", "SHUFFLE_HASH",
        "SHUFFLE_REPLICATE_NL", "REPARTITION", "REPARTITION_BY_RANGE", "REBALANCE", "COALESCE",
    }
)  # fmt: skip

_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def problems(sql: str, views: Iterable[str]) -> list[str]:
    """Why `sql` is not an acceptable transform over the input `views`; empty when it is."""
    return list(_problems(sql, tuple(sorted(views))))


def expression_problems(expression: str, columns: Iterable[str], field: str) -> list[str]:
    """Why `expression` is not an acceptable scalar boolean check over `columns`; empty when it is.

    `field` names the expression in messages, e.g. `governance.qualityChecks[2].expression`.
    """
    return list(_expression_problems(expression, tuple(sorted(columns)), field))


@functools.lru_cache(maxsize=4096)
def _problems(sql: str, views: tuple[str, ...]) -> tuple[str, ...]:
    # Every watch event re-validates a product; parsing its SQL once per distinct (sql, inputs) is enough.
    try:
        return tuple(_dedupe(_check_transform(sql, views)))
    except RecursionError:
        return (f"{TRANSFORM_FIELD} is nested too deeply to check",)
    except Exception as error:  # a checker that crashes must refuse, never admit
        return (f"{TRANSFORM_FIELD} could not be checked ({type(error).__name__}); simplify the query",)


@functools.lru_cache(maxsize=4096)
def _expression_problems(expression: str, columns: tuple[str, ...], field: str) -> tuple[str, ...]:
    try:
        return tuple(_dedupe(_check_expression(expression, columns, field)))
    except RecursionError:
        return (f"{field} is nested too deeply to check",)
    except Exception as error:  # a checker that crashes must refuse, never admit
        return (f"{field} could not be checked ({type(error).__name__}); simplify the expression",)


def _dedupe(found: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------------- text


def _text_problems(text: str, field: str, max_length: int) -> list[str]:
    """What is wrong with the raw text, found without parsing it (so parsing is bounded and unambiguous)."""
    if len(text) > max_length:
        return [f"{field} is longer than {max_length} characters"]
    found = []
    if _SUBSTITUTION in text:
        found.append(
            f"{field} uses ${{...}} variable substitution, which is not allowed "
            "(Spark would expand configuration and environment values into the text)"
        )
    for char in dict.fromkeys(text):
        if char in "\t\n\r" or unicodedata.category(char)[0] != "C":
            continue
        found.append(
            f"{field} contains the invisible or control character U+{ord(char):04X} "
            f"({unicodedata.name(char, 'unnamed')}), which is not allowed"
        )
        break
    if _nesting(text) > MAX_NESTING:
        found.append(f"{field} nests brackets or subqueries deeper than {MAX_NESTING} levels")
    return found


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside string literals, quoted identifiers and comments."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"`":
            i += 1
            while i < n and text[i] != char:
                i += 2 if text[i] == "\\" and char != "`" else 1
        elif text.startswith("--", i):
            while i < n and text[i] not in "\r\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


def _parse(text: str, field: str, into: type[exp.Expr] | None) -> list[exp.Expr] | str:
    """The statements (or expressions) sqlglot reads from `text`, or why it could not."""
    try:
        if into is None:
            parsed = sqlglot.parse(text, read="spark", error_level=ErrorLevel.IMMEDIATE)
        else:
            dialect = Spark()
            parsed = dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse_into(
                into, dialect.tokenize(text), text
            )
    except ParseError as error:
        where = _where(text if into is None else "", error)
        return f"{field} cannot be parsed as {_kind(into)}{where}; {_unparsed_hint(into)}"
    except TokenError as error:
        return f"{field} cannot be read ({_one_line(str(error), 80)}); check quotes and comments"
    return [statement for statement in parsed if statement is not None]


def _kind(into: type[exp.Expr] | None) -> str:
    return "one plain query" if into is None else "one expression"


def _unparsed_hint(into: type[exp.Expr] | None) -> str:
    if into is None:
        return (
            "statements, scripts, script transforms (MAP/REDUCE/TRANSFORM) and syntax the checker "
            "does not know are not allowed"
        )
    return "write a single boolean expression over the product's columns"


def _where(text: str, error: ParseError) -> str:
    details = error.errors[0] if error.errors else {}
    token = _one_line(str(details.get("highlight") or ""), 40)
    line, col = details.get("line"), details.get("col")
    where = f"unexpected {token!r} at line {line}, column {col}" if token and line else _one_line(str(error), 80)
    first = _first_word(text)
    return f" (starts with {first}; {where})" if first else f" ({where})"


def _first_word(text: str) -> str | None:
    """The statement's leading keyword (MAP, REPLACE, BEGIN...), to name what was attempted."""
    try:
        tokens = Spark().tokenize(text)
    except Exception:  # only used to word a refusal
        return None
    return _one_line(tokens[0].text.upper(), 30) if tokens else None


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _snippet(node: exp.Expr, limit: int = 60) -> str:
    try:
        return _one_line(node.sql(dialect="spark", unsupported_level=ErrorLevel.IGNORE), limit)
    except Exception:  # only used to word a refusal
        return node.key.upper()


# ----------------------------------------------------------------------------------------------- transform


def _check_transform(sql: str, views: tuple[str, ...]) -> list[str]:
    found = _text_problems(sql, TRANSFORM_FIELD, MAX_SQL_LENGTH)
    if found:
        return found
    parsed = _parse(sql, TRANSFORM_FIELD, None)
    if isinstance(parsed, str):
        return [parsed]
    if len(parsed) != 1:
        return [f"{TRANSFORM_FIELD} must be a single query, found {len(parsed)} statements"]
    query = parsed[0]
    if not isinstance(query, _QUERY_TOPS):
        return [
            f"{TRANSFORM_FIELD} must be a query (SELECT, WITH ... SELECT, VALUES or a set operation), "
            f"not {_statement_name(query, sql)}"
        ]
    inputs = frozenset(view.lower() for view in views)
    return list(_walk(query, TRANSFORM_FIELD, inputs, views, scalar=False, columns=None))


def _statement_name(statement: exp.Expr, text: str) -> str:
    if isinstance(statement, exp.Command):
        words = [str(statement.this).upper()]
        rest = statement.expression
        if isinstance(rest, exp.Literal) and rest.this:
            words.append(str(rest.this).split()[0].upper())
        return _one_line(" ".join(words), 40)
    # The keyword the tenant wrote (sqlglot reads `RESET` as a column and `SELEC x` as an alias).
    return _first_word(text) or statement.key.upper()


def _walk(
    root: exp.Expr,
    field: str,
    inputs: frozenset[str],
    views: tuple[str, ...],
    *,
    scalar: bool,
    columns: frozenset[str] | None,
) -> Iterator[str]:
    """Every refusal for the tree under `root`, visiting each node once without recursion."""
    stack: list[tuple[exp.Expr, frozenset[str], int]] = [(root, frozenset(), 0)]
    seen = 0
    while stack:
        node, ctes, depth = stack.pop()
        seen += 1
        if depth > MAX_TREE_DEPTH or seen > MAX_NODES:
            yield f"{field} is too large or too deeply nested to check"
            return
        if isinstance(node, exp.Hint):
            if scalar:
                yield f"{field} uses a hint, which is not allowed in an expression"
            else:
                yield from _hint_problems(node, field)
            continue
        problem = _node_problem(node, field, ctes | inputs, views, scalar=scalar, columns=columns)
        if problem:
            yield problem
            if not isinstance(node, exp.Table):
                continue  # one message per refused construct; its insides do not matter any more
        if isinstance(node, exp.Table):
            children: Iterable[exp.Expr] = [
                child for key, child in _children(node) if key not in ("this", "db", "catalog")
            ]
            stack.extend((child, ctes, depth + 1) for child in children)
            continue
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With):
            if with_.args.get("recursive"):
                yield f"{field} uses WITH RECURSIVE, which is not allowed"
                continue
            names = [cte.alias_or_name.lower() for cte in with_.expressions]
            for index, cte in enumerate(with_.expressions):
                # A CTE sees the ones defined before it; a later name would resolve to a catalog table.
                stack.append((cte, ctes | frozenset(names[:index]), depth + 1))
            inner = ctes | frozenset(names)
            stack.extend((child, inner, depth + 1) for _, child in _children(node) if child is not with_)
            continue
        stack.extend((child, ctes, depth + 1) for _, child in _children(node))


def _children(node: exp.Expr) -> Iterator[tuple[str, exp.Expr]]:
    for key, value in node.args.items():
        if isinstance(value, exp.Expr):
            yield key, value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, exp.Expr):
                    yield key, item


def _node_problem(
    node: exp.Expr,
    field: str,
    visible: frozenset[str],
    views: tuple[str, ...],
    *,
    scalar: bool,
    columns: frozenset[str] | None,
) -> str | None:
    if scalar and type(node) in _NOT_SCALAR:
        return f"{field} uses {_construct(node)}, which is not allowed in a check expression"
    if isinstance(node, exp.QueryTransform):
        script = node.args.get("command_script")
        command = _snippet(script, 40) if isinstance(script, exp.Expr) else "..."
        return f"{field} uses SCRIPT TRANSFORM (USING {command}), which is not allowed"
    if isinstance(node, exp.Func):
        return _function_problem(node, field, scalar=scalar)
    if type(node) not in _QUERY_NODES:
        return f"{field} uses {_construct(node)}, which is not allowed"
    if isinstance(node, exp.Table):
        return _table_problem(node, field, visible, views)
    if isinstance(node, exp.Column) and columns is not None:
        return _column_problem(node, field, columns)
    return None


def _construct(node: exp.Expr) -> str:
    known = _CONSTRUCTS.get(type(node))
    if known:
        return known
    return _one_line(node.key.upper().replace("_", " "), 40)


# ----------------------------------------------------------------------------------------------- functions


def _function_problem(node: exp.Func, field: str, *, scalar: bool) -> str | None:
    names = _function_names(node)
    shown = names[0] if names else node.key
    for name in names:
        reason = spark_functions.denial_reason(name)
        if reason:
            return f"{field} calls {name}(), which is not allowed (it {reason})"
    if not any(spark_functions.is_allowed_function(name) for name in names):
        return f"{field} calls unknown or disallowed function {shown}"
    if scalar and (
        isinstance(node, (exp.AggFunc, exp.UDTF))
        or any(spark_functions.is_row_changing_function(name) for name in names)
    ):
        return (
            f"{field} calls {shown}(), an aggregate, window or generator function, "
            "which a check expression may not use"
        )
    return None


def _function_names(node: exp.Func) -> list[str]:
    """Every name the call may stand for: what the tenant wrote can be any of them, so all must pass."""
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc, exp.CombinedAggFunc, exp.ParameterizedAgg)):
        return [str(node.name).lower()]
    names = [name.lower() for name in type(node).sql_names()]
    rendered = _rendered_name(_shallow(node))
    if rendered != "" and not (rendered and spark_functions.is_allowed_function(rendered)):
        # Some renderings depend on the arguments (a JSON path, a literal unit): render the call itself.
        # Operators ("") are not re-rendered, which keeps long AND/OR chains linear.
        rendered = _rendered_name(node) or rendered
    if rendered and rendered not in names:
        names.insert(0, rendered)
    return names


def _rendered_name(node: exp.Expr) -> str | None:
    """The name sqlglot's Spark generator gives the call (e.g. ApproxQuantile -> percentile_approx).

    "" when it renders as an operator or keyword syntax rather than `name(...)`, None when it cannot render.
    """
    try:
        text = node.sql(dialect="spark", unsupported_level=ErrorLevel.IGNORE)
    except Exception:  # a class that cannot render keeps its declared names only
        return None
    match = _NAME.match(text)
    return match.group(1).lower() if match else ""


def _shallow(node: exp.Expr) -> exp.Expr:
    """A copy of `node` whose sub-expressions are stand-ins: rendering it costs the same at any depth."""

    def stand_in(child: exp.Expr) -> exp.Expr:
        if isinstance(child, (exp.Literal, exp.DataType, exp.Var, exp.Identifier, exp.Null, exp.Boolean, exp.JSONPath)):
            return child.copy()
        return exp.column("x")

    args: dict[str, object] = {}
    for key, value in node.args.items():
        if isinstance(value, exp.Expr):
            args[key] = stand_in(value)
        elif isinstance(value, list):
            args[key] = [stand_in(v) if isinstance(v, exp.Expr) else v for v in value]
        else:
            args[key] = value
    return type(node)(**args)


# -------------------------------------------------------------------------------------------- tables, hints


def _table_problem(table: exp.Table, field: str, visible: frozenset[str], views: tuple[str, ...]) -> str | None:
    target = table.this
    if not isinstance(target, exp.Identifier):
        if isinstance(target, exp.Func):
            return f"{field} calls table function {_snippet(target, 60)}; read the declared inputs only"
        return f"{field} reads {_snippet(table, 60)}, which is not a plain table name; read the declared inputs only"
    parts = [table.args.get("catalog"), table.args.get("db"), target]
    if any(part is not None and not isinstance(part, exp.Identifier) for part in parts):
        return f"{field} reads {_snippet(table, 60)}, which is not a plain table name; read the declared inputs only"
    names = [str(part.this) for part in parts if isinstance(part, exp.Identifier) and part.this]
    name = ".".join(names)
    if len(names) == 1 and name.lower() in visible:
        return None
    if len(names) > 1 and name.lower() in visible:
        # Spark reads an unquoted a.b.c as catalog a, database b: not the input view called "a.b.c".
        return f"{field} names {name} as catalog/database/table; write the input as `{name}` (in backticks)"
    if (len(names) > 1 and names[-2].lower() in _FILE_SOURCES) or any(c in names[-1] for c in "/:\\"):
        return f"{field} reads files directly ({_one_line(name, 60)}), which is not allowed; read the inputs only"
    inputs = ", ".join(views) or "none"
    return f"{field} reads {name!r}, which is not one of the inputs ({_one_line(inputs, 200)})"


def _hint_problems(hint: exp.Hint, field: str) -> Iterator[str]:
    for item in hint.args.get("expressions") or []:
        if isinstance(item, exp.JoinHint):
            name, args = str(item.this), item.expressions
        elif isinstance(item, exp.Var):
            name, args = str(item.this), []
        elif isinstance(item, (exp.Anonymous, exp.Func)):
            name = str(item.name) if isinstance(item, exp.Anonymous) else type(item).sql_names()[0]
            args = [child for _, child in _children(item)]
        else:
            shown = _snippet(item, 40) if isinstance(item, exp.Expr) else _one_line(str(item), 40)
            yield f"{field} uses the hint {shown}, which is not allowed"
            continue
        if name.upper() not in _HINTS:
            yield f"{field} uses the hint {name.upper()}, which is not allowed (only join and partitioning hints are)"
            continue
        for arg in args:
            if not _plain_hint_argument(arg):
                yield f"{field} passes {_snippet(arg, 40)} to the hint {name.upper()}; only names and numbers may be"


def _plain_hint_argument(arg: exp.Expr) -> bool:
    if isinstance(arg, exp.Literal):
        return not arg.is_string and str(arg.this).isdigit()
    if isinstance(arg, exp.Table):
        return all(isinstance(child, exp.Identifier) for _, child in _children(arg))
    if isinstance(arg, exp.Column):
        return all(isinstance(child, exp.Identifier) for _, child in _children(arg))
    return isinstance(arg, exp.Identifier)


# ------------------------------------------------------------------------------------------- expressions


def _check_expression(expression: str, columns: tuple[str, ...], field: str) -> list[str]:
    found = _text_problems(expression, field, MAX_EXPRESSION_LENGTH)
    if found:
        return found
    dialect = Spark()
    try:
        tokens = dialect.tokenize(expression)
    except TokenError as error:
        return [f"{field} cannot be read ({_one_line(str(error), 80)}); check quotes"]
    if any(token.comments for token in tokens):
        # The build may splice the expression into a larger statement; a comment could swallow the rest.
        return [f"{field} contains a comment, which is not allowed in a check expression"]
    parsed = _parse(expression, field, exp.Condition)
    if isinstance(parsed, str):
        return [parsed]
    if len(parsed) != 1:
        return [f"{field} must be a single expression, found {len(parsed)}"]
    allowed = frozenset(column.lower() for column in columns)
    return list(_walk(parsed[0], field, frozenset(), (), scalar=True, columns=allowed))


def _column_problem(column: exp.Column, field: str, columns: frozenset[str]) -> str | None:
    if isinstance(column.this, exp.Star):
        return f"{field} uses *, which is not allowed in a check expression"
    root = column.parts[0].name if column.parts else ""
    if root.lower() not in columns:
        return f"{field} names unknown column {root!r}"
    return None
