"""The build's own check of tenant SQL, with Spark's parser: the second wall.

The first wall is admission: `datamesh.api.sqlcheck` reads a transform with sqlglot's Spark dialect and refuses
what is not one query over the declared inputs. sqlglot is not Spark, though: its grammar has gaps and
differs from Spark's in places, so SQL that it cannot parse, or parses differently, reaches the build. Spark's
own parser is the authority on what `spark.sql` will run, so the build asks it, before anything executes:

1. `check_transform` parses the transform with the session's parser (Delta's extensions included) into an
   unresolved plan, without running it, and walks every node, every expression and every plan nested in an
   expression or a field. Plan nodes are allowed by class name (a query's operators only; every command, a
   script, `SELECT TRANSFORM ... USING` and anything unknown is refused); relations must name an input view or
   a CTE in scope; functions must pass `datamesh.api.spark_functions.is_allowed_function`; table-valued
   functions, path reads, dynamic `IDENTIFIER(...)` names and hints other than join or partitioning ones are
   refused. The plan that passed is the plan that runs (`dataframe`): the SQL is not parsed a second time.
2. `check_analyzed` then looks at the analysed plan (analysis runs no job): every leaf relation must be one of
   the input frames' own relations (or literal rows), and no command, script transformation or denied
   function class (reflection, UDFs) may appear, whichever way the parser spelled it.
3. `check_expression` holds a quality check's `sql` expression to a row-level predicate over the result's
   columns: no subqueries, aggregates, windows, generators or denied functions.

Whatever cannot be inspected is refused: an unexpected JVM error, or a plan larger or deeper than the bounds,
is a `SqlRefused` build error, never a crash and never a pass. The walk is iterative (an explicit stack), so a
deeply nested query cannot overflow Python's stack. The decisions are pure functions over `Node` trees, which
the (thin) JVM readers build.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from datamesh.build.errors import SQL_REFUSED, BuildError, one_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Bounds of one inspection: a real transform has a few hundred nodes and a depth of a few dozen.
MAX_NODES = 20_000
MAX_DEPTH = 1_000

_LOGICAL = "org.apache.spark.sql.catalyst.plans.logical."
_ANALYSIS = "org.apache.spark.sql.catalyst.analysis."
_EXPRESSIONS = "org.apache.spark.sql.catalyst.expressions."

#: Plan node classes a transform's unresolved plan may consist of: the operators of a query, found by
#: parsing a corpus of analytical queries with Spark 4.2 (plus the CTE and window nodes analysis produces).
ALLOWED_PLANS: frozenset[str] = (
    frozenset(
        _LOGICAL + name
        for group in (
            ("Project", "Filter", "Aggregate", "Sort", "Distinct", "Deduplicate", "Sample", "Expand", "Generate"),
            ("Join", "LateralJoin", "Union", "Intersect", "Except"),
            ("GlobalLimit", "LocalLimit", "Offset", "Tail"),
            ("SubqueryAlias", "UnresolvedWith", "WithCTE", "CTERelationDef", "CTERelationRef"),
            ("WithWindowDefinition", "Window", "Pivot", "Unpivot"),
            ("LocalRelation", "OneRowRelation"),
            ("UnresolvedHint", "RepartitionByExpression", "Repartition", "RebalancePartitions"),
        )
        for name in group
    )
    | frozenset(
        _ANALYSIS + name
        for name in (
            "UnresolvedRelation",
            "UnresolvedSubqueryColumnAliases",
            "UnresolvedHaving",
            "UnresolvedInlineTable",
        )
    )
    | {_EXPRESSIONS + "PipeOperator"}
)

#: Hints that only steer joins and partitioning (Spark's ResolveHints); any other hint is refused.
ALLOWED_HINTS: frozenset[str] = frozenset(
    {
        "BROADCAST",
        "BROADCASTJOIN",
        "MAPJOIN",
        "MERGE",
        "SHUFFLE_MERGE",
        "MERGEJOIN",
        "SHUFFLE_HASH",
        "SHUFFLE_REPLICATE_NL",
        "COALESCE",
        "REPARTITION",
        "REPARTITION_BY_RANGE",
        "REBALANCE",
    }
)

#: Expression classes that call out of SQL (reflection, user code, other processes), by simple class name.
DENIED_EXPRESSIONS: frozenset[str] = frozenset(
    {
        "CallMethodViaReflection",
        "TryReflect",
        "ScalaUDF",
        "ScalaUDAF",
        "ScalaAggregator",
        "PythonUDF",
        "PythonUDAF",
        "PythonUDTF",
        "UnresolvedPolymorphicPythonUDTF",
        "HiveSimpleUDF",
        "HiveGenericUDF",
        "HiveGenericUDTF",
        "HiveUDAFFunction",
        "UserDefinedExpression",
        # A function named by an expression is resolved after the name check could see it.
        "ExpressionWithUnresolvedIdentifier",
    }
)
#: Fragments of class names that mark user-defined or external code, for classes not listed above.
_DENIED_FRAGMENTS = ("UDF", "UDAF", "UDTF", "Reflect", "ScriptTransformation")

#: Unresolved plans refused with a name a tenant recognises rather than Spark's class name alone.
_DESCRIBED: dict[str, str] = {
    _LOGICAL + "ScriptTransformation": "ScriptTransformation (SELECT TRANSFORM ... USING, an external program)",
    _LOGICAL + "InsertIntoDir": "InsertIntoDir (INSERT OVERWRITE DIRECTORY, a command, not a query)",
    _LOGICAL + "InsertIntoStatement": "InsertIntoStatement (INSERT, a command, not a query)",
    _LOGICAL + "CompoundBody": "CompoundBody (SQL scripting, BEGIN ... END)",
    _LOGICAL + "SingleStatement": "SingleStatement (SQL scripting)",
    _LOGICAL + "RelationTimeTravel": "RelationTimeTravel (VERSION/TIMESTAMP AS OF)",
    _ANALYSIS + "NamedStreamingRelation": "NamedStreamingRelation (a STREAM read)",
    _ANALYSIS + "PlanWithUnresolvedIdentifier": "PlanWithUnresolvedIdentifier (IDENTIFIER(...) with a computed name)",
    _ANALYSIS + "UnresolvedExecuteImmediate": "UnresolvedExecuteImmediate (EXECUTE IMMEDIATE)",
}

#: Data source names Spark reads files with as `format.`path`` relations.
_FILE_FORMATS = frozenset(
    {"parquet", "delta", "csv", "json", "orc", "text", "avro", "binaryfile", "xml", "jdbc", "hive", "file"}
)

#: Leaves of an analysed plan that read nothing: literal rows and references to CTEs in the same plan.
SAFE_LEAVES: frozenset[str] = frozenset(
    {"LocalRelation", "ResolvedInlineTable", "OneRowRelation", "CTERelationRef", "UnionLoopRef"}
)

#: Subquery expressions, refused in a quality check (a row-level predicate reads its row only).
_SUBQUERIES = frozenset({"ScalarSubquery", "Exists", "ListQuery", "InSubquery", "LateralSubquery"})
_WINDOWS = frozenset({"WindowExpression", "UnresolvedWindowExpression", "WindowSpecDefinition"})
#: Function registry groups (ExpressionInfo.getGroup) of functions that are not row-level.
_NOT_ROW_LEVEL = {"agg_funcs": "aggregate", "window_funcs": "window", "generator_funcs": "generator"}

NodeKind = Literal["plan", "expression"]


@dataclass
class Node:
    """One plan or expression node of a Spark tree, as plain data the decisions below read."""

    kind: NodeKind
    cls: str
    """The JVM class name."""
    children: list[Node] = field(default_factory=list)
    """Every plan and expression the node holds, children or not (subqueries, CTE definitions, hint arguments)."""
    name: tuple[str, ...] = ()
    """Relation identifier, function or attribute name parts, hint name or table function name."""
    ctes: tuple[str, ...] = ()
    """UnresolvedWith: the CTE names in order; its children are their definitions, then the main query."""
    recursive: bool = False
    command: bool = False
    """The class implements Spark's Command (recorded for the message, only for refused classes)."""
    leaf: bool = False
    """A plan node without plan children (analysed plans)."""
    handle: Any = None
    """The JVM node, kept for leaves of analysed plans (compared with the inputs' relations)."""
    opaque: bool = False
    """An input's temporary view in an analysed plan: the build's own plan of the input, not walked."""

    @property
    def simple(self) -> str:
        return self.cls.rsplit(".", 1)[-1].rstrip("$")


def _sql_name(parts: Iterable[str]) -> str:
    return ".".join(f"`{p}`" if not p.replace("_", "a").isalnum() else p for p in parts)


def _denied_class(simple: str, denied: Collection[str]) -> bool:
    return simple in DENIED_EXPRESSIONS or simple in denied or any(f in simple for f in _DENIED_FRAGMENTS)


def _function_problem(node: Node, allowed_function: Callable[[str], bool]) -> str | None:
    """Why a function call (UnresolvedFunction/UnresolvedGenerator) is refused, if it is."""
    if len(node.name) != 1:
        return f"qualified function name {_sql_name(node.name)} (call built-in functions by their plain name)"
    if not allowed_function(node.name[0]):
        return f"function {node.name[0]}"
    return None


def _plan_problem(node: Node, scope: frozenset[str], views: frozenset[str]) -> str | None:
    if node.cls not in ALLOWED_PLANS:
        if node.cls in _DESCRIBED:
            return _DESCRIBED[node.cls]
        if node.simple == "UnresolvedTableValuedFunction":
            return f"table-valued function {_sql_name(node.name)} in FROM"
        if node.command:
            return f"{node.simple} (a command, not a query)"
        return f"{node.simple} (not a query construct the build allows)"
    if node.simple == "UnresolvedRelation":
        parts = node.name
        if len(parts) == 2 and parts[0].lower() in _FILE_FORMATS:
            return f"reading files through {parts[0]}.`{parts[1]}` (a path, not an input)"
        if len(parts) != 1 or parts[0].lower() not in views | scope:
            listed = ", ".join(sorted(views)) or "none"
            return f"table {_sql_name(parts)} (not one of the inputs: {listed})"
    if node.simple == "UnresolvedHint" and (not node.name or node.name[0].upper() not in ALLOWED_HINTS):
        return f"hint {'.'.join(node.name)} (only join and partitioning hints)"
    return None


def transform_refusal(tree: Node, views: Collection[str], allowed_function: Callable[[str], bool]) -> str | None:
    """What in the unresolved plan of a transform over input views `views` is not allowed; None when nothing.

    CTE names count as relations only where they are in scope: a WITH's main query sees all of its CTEs, a
    CTE definition the ones before it (and itself when the WITH is RECURSIVE)."""
    known = frozenset(v.lower() for v in views)
    stack: list[tuple[Node, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, scope = stack.pop()
        if node.kind == "plan":
            problem = _plan_problem(node, scope, known)
        elif node.simple in ("UnresolvedFunction", "UnresolvedGenerator"):
            problem = _function_problem(node, allowed_function)
        elif _denied_class(node.simple, ()):
            problem = node.simple
        else:
            problem = None
        if problem:
            return problem
        if node.simple == "UnresolvedWith" and node.kind == "plan":
            names = [n.lower() for n in node.ctes]
            for index, child in enumerate(node.children):
                visible = names[: index + 1] if node.recursive else names[:index]
                stack.append((child, scope | frozenset(visible if index < len(names) else names)))
        else:
            stack.extend((child, scope) for child in node.children)
    return None


def _unknown_column(parts: tuple[str, ...], known: Collection[str]) -> bool:
    return not parts or parts[0].lower() not in known


def expression_refusal(
    tree: Node,
    columns: Collection[str] | None,
    function_kinds: Mapping[str, str],
    allowed_function: Callable[[str], bool],
) -> str | None:
    """What in a quality check's parsed expression is not allowed; None when nothing.

    `function_kinds` maps lower-cased function names to "aggregate", "window" or "generator" (others are
    absent); `columns` are the result's columns (None: not known here, Spark's analysis reports unknown ones)."""
    known = None if columns is None else {c.lower() for c in columns}
    stack = [tree]
    while stack:
        node = stack.pop()
        simple = node.simple
        if node.kind == "plan" or simple in _SUBQUERIES:
            return f"a subquery ({simple})"
        if simple in _WINDOWS:
            return f"a window function ({simple})"
        if simple in ("UnresolvedFunction", "UnresolvedGenerator"):
            problem = _function_problem(node, allowed_function)
            if problem:
                return problem
            kind = function_kinds.get(node.name[0].lower())
            if kind:
                return f"{kind} function {node.name[0]} (a check is evaluated on each row)"
        elif _denied_class(simple, ()):
            return simple
        elif simple.startswith("UnresolvedStar"):
            return "a star (*) (name the columns)"
        elif simple == "UnresolvedAttribute" and known is not None and _unknown_column(node.name, known):
            listed = ", ".join(sorted(columns or ()))
            return f"column {_sql_name(node.name)} (not a column of the product's result: {listed})"
        stack.extend(node.children)
    return None


def analyzed_refusal(tree: Node, denied_classes: Collection[str], matched: Callable[[Node], bool]) -> str | None:
    """What in an analysed plan is not allowed: a command, a script transformation, a denied function class, or
    a leaf relation that is not literal rows and for which `matched` (one of the inputs' relations) is false.
    The inputs' own views are opaque nodes (see `read_tree`): what the build put there is not the tenant's."""
    stack = [tree]
    while stack:
        node = stack.pop()
        simple = node.simple
        if node.kind == "plan":
            if node.command or simple in ("ScriptTransformation", "InsertIntoDir", "InsertIntoStatement"):
                return _DESCRIBED.get(node.cls, f"{simple} (a command, not a query)")
            if node.leaf and simple not in SAFE_LEAVES and not matched(node):
                return f"relation {simple} {_describe_leaf(node)}(not one of the inputs' own relations)"
        elif _denied_class(simple, denied_classes):
            return f"{simple} (a denied function)"
        stack.extend(node.children)
    return None


def _describe_leaf(node: Node) -> str:
    try:
        text = one_line(str(node.handle.toString()), 200) if node.handle is not None else ""
    except Exception:  # only for the message
        text = ""
    return f"[{text}] " if text else ""


# ---------------------------------------------------------------------------------------------------------
# Reading JVM trees (py4j). Everything below talks to the JVM; every failure becomes a refusal.


class _Jvm:
    """The JVM classes the reader tells nodes apart with, and a per-walk cache of class name -> category."""

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark._jvm
        assert jvm is not None
        load = jvm.java.lang.Class.forName
        self.plan = load(_LOGICAL + "LogicalPlan")
        self.expression = load(_EXPRESSIONS + "Expression")
        self.command = load(_LOGICAL + "Command")
        self.iterable = load("scala.collection.Iterable")
        self.option = load("scala.Option")
        self.categories: dict[str, str] = {}

    def category(self, obj: Any, name: str) -> str:
        found = self.categories.get(name)
        if found is None:
            if self.plan.isInstance(obj):
                found = "plan"
            elif self.expression.isInstance(obj):
                found = "expression"
            elif self.iterable.isInstance(obj):
                found = "iterable"
            elif self.option.isInstance(obj):
                found = "option"
            elif name.startswith("scala.Tuple"):
                found = "tuple"
            else:
                found = "other"
            self.categories[name] = found
        return found


#: Classes whose fields hold no plan or expression worth the walk (LocalRelation: possibly many data rows).
_NO_FIELDS = frozenset(
    {
        _LOGICAL + "LocalRelation",
        _LOGICAL + "OneRowRelation",
        _EXPRESSIONS + "Literal",
        _EXPRESSIONS + "AttributeReference",
        _ANALYSIS + "UnresolvedAttribute",
        _ANALYSIS + "UnresolvedRelation",
    }
)


def _seq(value: Any) -> list[Any]:
    return [value.apply(i) for i in range(value.size())]


def _items(iterator: Any) -> list[Any]:
    found = []
    while iterator.hasNext():
        found.append(iterator.next())
    return found


class _Budget:
    def __init__(self) -> None:
        self.count = 0

    def spend(self, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise BuildError(SQL_REFUSED, f"more than {MAX_NODES} nodes to inspect")
        if depth > MAX_DEPTH:
            raise BuildError(SQL_REFUSED, f"nesting deeper than {MAX_DEPTH} levels")


def _input_view(obj: Any, views: Collection[str]) -> str | None:
    """The name of the temporary view `obj` (a View node) when it is one of the input views `views`."""
    if not bool(obj.isTempView()):
        return None
    identifier = obj.desc().identifier()
    name = str(identifier.table())
    return name if not identifier.database().isDefined() and name.lower() in views else None


def _details(node: Node, obj: Any, jvm: _Jvm, views: Collection[str] | None) -> list[Any] | None:
    """Fill in what the decisions need to know about `obj`; the nested objects to walk when not its fields.

    `views` (lower-cased input view names) is given for analysed plans only."""
    simple = node.simple
    if node.kind == "plan":
        if node.cls not in ALLOWED_PLANS:
            node.command = bool(jvm.command.isInstance(obj))
        if views is not None and obj.children().size() == 0:
            node.leaf, node.handle = True, obj
        if views is not None and node.cls == _LOGICAL + "View":
            view = _input_view(obj, views)
            if view is not None:
                # The input as the build read it (PII masking included, which may be a UDF): ours, not the tenant's.
                node.name, node.opaque = (view,), True
                return []
        if simple == "UnresolvedRelation":
            node.name = tuple(str(p) for p in _seq(obj.multipartIdentifier()))
        elif simple == "UnresolvedTableValuedFunction":
            node.name = tuple(str(p) for p in _seq(obj.name()))
        elif simple == "UnresolvedHint":
            node.name = (str(obj.name()),)
        elif simple == "UnresolvedWith" and node.cls in ALLOWED_PLANS:
            relations = _seq(obj.cteRelations())
            node.ctes = tuple(str(pair._1()) for pair in relations)
            try:
                node.recursive = bool(obj.allowRecursion())
            except Exception:  # an older Spark without recursive CTEs: no name is in scope of its own definition
                node.recursive = False
            return [pair._2() for pair in relations] + [obj.child()]
    elif simple in ("UnresolvedFunction", "UnresolvedAttribute"):
        node.name = tuple(str(p) for p in _seq(obj.nameParts()))
    elif simple == "UnresolvedGenerator":
        node.name = tuple(str(p) for p in _seq(obj.name().nameParts()))
    return None


def read_tree(spark: SparkSession, root: Any, input_views: Collection[str] | None = None) -> Node:
    """The JVM tree `root` as `Node`s: every plan and expression reachable through its fields (children,
    expressions, subquery plans, CTE definitions, options, tuples, collections), iteratively and bounded.

    For an analysed plan, `input_views` names the input views: their View nodes are kept opaque (see Node)."""
    from py4j.java_collections import JavaArray, JavaList, JavaMap, JavaSet  # type: ignore[import-untyped]
    from py4j.java_gateway import JavaObject  # type: ignore[import-untyped]

    jvm = _Jvm(spark)
    views = None if input_views is None else {v.lower() for v in input_views}
    budget = _Budget()
    top: list[Node] = []
    stack: list[tuple[Any, list[Node], int]] = [(root, top, 0)]
    while stack:
        obj, siblings, depth = stack.pop()
        budget.spend(depth)
        if isinstance(obj, JavaMap):
            nested = [*obj.keys(), *obj.values()]
        elif isinstance(obj, JavaList | JavaArray | JavaSet):
            nested = list(obj)
        elif isinstance(obj, JavaObject):
            cls = str(obj.getClass().getName())
            category = jvm.category(obj, cls)
            if category in ("plan", "expression"):
                node = Node("plan" if category == "plan" else "expression", cls)
                siblings.append(node)
                fields = _details(node, obj, jvm, views)
                if fields is None:
                    fields = [] if cls in _NO_FIELDS else _items(obj.productIterator())
                stack.extend((item, node.children, depth + 1) for item in reversed(fields))
                continue
            if category == "iterable":
                nested = _items(obj.iterator())
            elif category == "option":
                nested = [obj.get()] if obj.isDefined() else []
            elif category == "tuple":
                nested = _items(obj.productIterator())
            else:
                continue
        else:
            continue  # strings, numbers, booleans: nothing to inspect
        stack.extend((item, siblings, depth + 1) for item in reversed(nested))
    if len(top) != 1:
        raise BuildError(SQL_REFUSED, "the parser returned no plan to inspect")
    return top[0]


def _refused(subject: str, construct: str) -> BuildError:
    return BuildError(SQL_REFUSED, f"{subject} refused by the build: {construct} is not allowed")


def _inspection_failed(subject: str, error: BaseException) -> BuildError:
    if isinstance(error, BuildError):  # a bound of the walk
        return BuildError(SQL_REFUSED, f"{subject} refused by the build: cannot inspect it: {error.message}")
    detail = one_line(str(error), 300) or type(error).__name__
    return BuildError(SQL_REFUSED, f"{subject} refused by the build: cannot inspect it ({detail})")


def _parser(spark: SparkSession) -> Any:
    return spark._jsparkSession.sessionState().sqlParser()


def _is_parse_error(error: BaseException) -> bool:
    return type(error).__name__ == "ParseException"


def _allowed_function(name: str) -> bool:
    from datamesh.api.spark_functions import is_allowed_function

    return is_allowed_function(name)


def check_transform(spark: SparkSession, sql: str, views: Collection[str]) -> Any:
    """The unresolved plan of `sql`, parsed by Spark without running anything, once it is proven to be a query
    over `views` only; raises BuildError: SqlRefused naming the construct, or SqlError for a syntax error."""
    subject = "transform SQL"
    try:
        plan = _parser(spark).parsePlan(sql)
    except Exception as error:
        if _is_parse_error(error):
            raise BuildError("SqlError", f"{subject}: {error}") from error
        raise _inspection_failed(subject, error) from error
    try:
        problem = transform_refusal(read_tree(spark, plan), views, _allowed_function)
    except Exception as error:
        raise _inspection_failed(subject, error) from error
    if problem:
        raise _refused(subject, problem)
    return plan


def dataframe(spark: SparkSession, plan: Any) -> DataFrame:
    """The (lazy) frame of a checked query plan: Spark analyses it here and runs nothing yet."""
    from pyspark.sql import DataFrame

    jvm = spark._jvm
    assert jvm is not None
    return DataFrame(jvm.org.apache.spark.sql.classic.Dataset.ofRows(spark._jsparkSession, plan), spark)


def denied_classes(spark: SparkSession, names: Iterable[str]) -> frozenset[str]:
    """Simple class names of the built-in functions `names` (those the registry knows), for analysed plans."""
    jvm = spark._jvm
    assert jvm is not None
    registry = jvm.org.apache.spark.sql.catalyst.analysis.FunctionRegistry.builtin()
    identifier = jvm.org.apache.spark.sql.catalyst.FunctionIdentifier
    found = set()
    for name in names:
        info = registry.lookupFunction(identifier.apply(name))
        if info.isDefined():
            found.add(str(info.get().getClassName()).rsplit(".", 1)[-1])
    return frozenset(found)


def _leaves(spark: SparkSession, frames: Iterable[DataFrame]) -> list[Any]:
    leaves = []
    for frame in frames:
        tree = read_tree(spark, frame._jdf.queryExecution().analyzed(), ())
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.leaf:
                leaves.append(node.handle)
            stack.extend(node.children)
    return leaves


def _same_relation(leaf: Any, inputs: list[Any]) -> bool:
    """Whether `leaf` is one of the inputs' leaves: the same node, the same relation under new attribute ids (a
    view read twice), or the same result."""
    name = str(leaf.getClass().getName())
    for other in inputs:
        if leaf.equals(other):
            return True
        same_class = name.endswith(".LogicalRelation") and str(other.getClass().getName()) == name
        if same_class and leaf.relation().equals(other.relation()):
            return True
        if leaf.sameResult(other):
            return True
    return False


def check_analyzed(spark: SparkSession, frame: DataFrame, inputs: Mapping[str, DataFrame]) -> None:
    """Refuse (SqlRefused) an analysed transform that reads anything but the input frames' relations or holds a
    command, a script transformation or a denied function, however the SQL spelled it."""
    from datamesh.api.spark_functions import DENIED_FUNCTIONS

    subject = "transform SQL"
    known: list[Any] = []

    def matched(node: Node) -> bool:
        if not known:  # only for a leaf that is neither literal rows nor inside an input's view: rare
            known.extend(_leaves(spark, inputs.values()))
        return _same_relation(node.handle, known)

    try:
        tree = read_tree(spark, frame._jdf.queryExecution().analyzed(), list(inputs))
        denied = denied_classes(spark, DENIED_FUNCTIONS)
        problem = analyzed_refusal(tree, denied, matched)
    except Exception as error:
        raise _inspection_failed(subject, error) from error
    if problem:
        raise _refused(subject, problem)


def guarded_sql(spark: SparkSession, sql: str, inputs: Mapping[str, DataFrame]) -> DataFrame:
    """The lazy frame of a transform's SQL over its registered input views, after both checks passed."""
    plan = check_transform(spark, sql, list(inputs))
    frame = dataframe(spark, plan)
    check_analyzed(spark, frame, inputs)
    return frame


def function_kinds(spark: SparkSession, names: Iterable[str]) -> dict[str, str]:
    """Lower-cased name -> "aggregate"/"window"/"generator" for those of the built-in functions `names` that are
    not row-level, by registry group and, for generators outside that group (json_tuple), by class."""
    jvm = spark._jvm
    assert jvm is not None
    registry = jvm.org.apache.spark.sql.catalyst.analysis.FunctionRegistry.builtin()
    identifier = jvm.org.apache.spark.sql.catalyst.FunctionIdentifier
    load = jvm.java.lang.Class.forName
    bases = {
        "aggregate": load(_EXPRESSIONS + "aggregate.AggregateFunction"),
        "window": load(_EXPRESSIONS + "WindowFunction"),
        "generator": load(_EXPRESSIONS + "Generator"),
    }
    kinds = {}
    for name in {n.lower() for n in names}:
        info = registry.lookupFunction(identifier.apply(name))
        if not info.isDefined():
            continue
        group = str(info.get().getGroup() or "")
        kind = _NOT_ROW_LEVEL.get(group)
        if kind is None:
            cls = load(str(info.get().getClassName()))
            kind = next((k for k, base in bases.items() if base.isAssignableFrom(cls)), None)
        if kind:
            kinds[name] = kind
    return kinds


def _function_names(tree: Node) -> set[str]:
    names, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if node.simple in ("UnresolvedFunction", "UnresolvedGenerator") and len(node.name) == 1:
            names.add(node.name[0])
        stack.extend(node.children)
    return names


def check_expression(spark: SparkSession, expression: str, check: str, columns: Collection[str] | None) -> None:
    """Refuse (SqlRefused, naming the check) a quality check's sql expression that is not a row-level predicate
    over `columns` with allowed functions; a syntax error is SqlError. Parsed by Spark, nothing runs."""
    subject = f'quality check "{check}"'
    try:
        parsed = _parser(spark).parseExpression(expression)
    except Exception as error:
        if _is_parse_error(error):
            raise BuildError("SqlError", f"{subject}: {error}") from error
        raise _inspection_failed(subject, error) from error
    try:
        tree = read_tree(spark, parsed)
        kinds = function_kinds(spark, _function_names(tree))
        problem = expression_refusal(tree, columns, kinds, _allowed_function)
    except Exception as error:
        raise _inspection_failed(subject, error) from error
    if problem:
        raise _refused(subject, problem)
