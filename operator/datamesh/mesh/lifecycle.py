"""Who reads a data product, and which changes to its contract would break them.

A contract exists so that its consumers are not broken by surprise. The mesh knows every consumer (the products
whose inputs name this one) and, from their transforms' SQL, the columns each reads; so admission can refuse a
change that breaks a current consumer and let through one that breaks nobody. The rules follow datacontract-cli's
breaking-change rules where they overlap (their ids are reused); docs/lifecycle.md lists them with the decisions.

Everything here is pure: the admission webhook, the reconciler, `datamesh` and the kubectl plugin pass in the
products they know and get the same answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp, parse_one
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.scope import traverse_scope

from datamesh import governance
from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.api.dataproduct import ALL_COLUMNS, Consumer
from datamesh.api.durations import parse_duration
from datamesh.mesh.world import World

__all__ = [
    "ALL_COLUMNS",
    "RULES",
    "Breach",
    "Change",
    "Consumer",
    "ReaderAccess",
    "Rule",
    "breaking_changes",
    "columns_read",
    "consumers_of",
    "contract_changes",
    "is_major_bump",
    "major_version",
    "reader_access",
    "rules_table",
    "type_widens",
]

# ------------------------------------------------------------------------------------------------ consumers


def consumers_of(
    mesh: World | Iterable[DataProduct], product: DataProduct, *, domains: Mapping[str, Domain] | None = None
) -> list[Consumer]:
    """The products that read `product` (any domain), sorted by namespace/name, each with the columns of `product`
    its transform reads (["*"]: all of them, or it cannot tell).

    `mesh` is a World (the operator's cache) or any iterable of DataProducts (manifests, a `kubectl get` list).
    A consumer's input names a product by name and domain (default: the consumer's own), so with a plain iterable
    the match is by domain name; with a World, or `domains`, it is by the namespace the domain owns, exactly as
    the build resolves it (mesh/resolve.py). A product is never its own consumer."""
    if isinstance(mesh, World):
        world = mesh
        readers: Iterable[DataProduct] = world.products.reading(product.name)
    else:
        # A plain list is scanned once rather than indexed: admission asks once per update.
        world = World(dict(domains or {}))
        readers = (p for p in mesh if any(item.product == product.name for item in p.spec.inputs))
    key = (product.namespace or world.namespace_of(product.spec.domain), product.name)
    known = [c.name for c in product.spec.schema_]
    found: list[Consumer] = []
    for reader in readers:
        reader_key = (reader.namespace or world.namespace_of(reader.spec.domain), reader.name)
        if reader_key == key:
            continue
        views = [
            item.view
            for item in reader.spec.inputs
            if item.product == product.name
            and (
                world.namespace_of(item.domain or reader.spec.domain) == key[0]
                if world.domains
                else (item.domain or reader.spec.domain) == product.spec.domain
            )
        ]
        if not views:
            continue
        columns = _columns_of(reader, views, known)
        found.append(Consumer(namespace=reader_key[0], name=reader.name, domain=reader.spec.domain, columns=columns))
    return sorted(found, key=lambda c: (c.namespace, c.name))


def _columns_of(reader: DataProduct, views: list[str], known: list[str]) -> list[str]:
    sql = reader.spec.transform.sql if reader.spec.transform else None
    if sql is None:  # a Python transform (or none yet): nothing says which columns it reads
        return [ALL_COLUMNS]
    used: set[str] = set()
    for view in views:
        read = columns_read(sql, view, tuple(known))
        if read is None:
            return [ALL_COLUMNS]
        used |= read
    return [c for c in known if c in used]


@functools.lru_cache(maxsize=4096)
def columns_read(sql: str, view: str, known: tuple[str, ...]) -> frozenset[str] | None:
    """The columns of `known` (the producer's schema) that `sql` reads from the input `view`; None when it reads
    all of them or the SQL cannot be read column by column (a star over the input, a parse failure).

    Errs towards "reads it": an unqualified column in a scope that joins the input with something else counts as
    read from the input when the input has a column of that name, since the schema of the other side may not be
    known here."""
    try:
        return _columns_read(sql, view, known)
    except Exception:  # SQL the walk cannot follow reads, as far as anyone can tell, everything
        return None


def _columns_read(sql: str, view: str, known: tuple[str, ...]) -> frozenset[str] | None:
    tree = parse_one(sql, read="spark", error_level=ErrorLevel.IMMEDIATE)
    spelled = {c.lower(): c for c in known}
    target = view.lower()
    used: set[str] = set()
    for scope in traverse_scope(tree):
        ours = {
            alias.lower()
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and not source.args.get("db") and source.name.lower() == target
        }
        if not ours:
            continue
        alone = len(scope.sources) == len(ours)
        if isinstance(scope.expression, exp.Select):
            for projection in scope.expression.expressions:
                if isinstance(projection, exp.Star):
                    return None
                star = isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
                if star and projection.table.lower() in ours:
                    return None
        for column in scope.columns:
            name = column.name.lower()
            if column.table:
                if column.table.lower() in ours:
                    used.add(name)
            elif alone or name in spelled:
                used.add(name)
    return frozenset(spelled[name] for name in used if name in spelled)


# ------------------------------------------------------------------------------------------- breaking changes

Scope = Literal["column", "product", "consumer"]


@dataclass(frozen=True)
class Rule:
    """One breaking-change rule: what it catches and whom it concerns."""

    id: str
    """The rule's id; datacontract-cli's where the rules overlap."""
    catches: str
    scope: Scope
    """column: consumers that read the column; product: every consumer; consumer: each consumer judged alone."""
    datacontract: str | None
    """datacontract-cli's rule for the same change, when it has one."""


FIELD_REMOVED = Rule("field-removed", "a column is removed or renamed", "column", "field-removed")
TYPE_CHANGED = Rule(
    "type-changed", "a column's type changes other than by widening (table below)", "column", "type-changed"
)
REQUIRED_CHANGED = Rule(
    "required-changed", "a column's nullability changes, either way", "column", "required-changed"
)
KEY_CHANGED = Rule(
    "key-constraint-changed", "the primary key columns change", "product", "key-constraint-changed (a warning there)"
)
#: datacontract-cli reads SLA and ownership changes as metadata: reported, never breaking.
_METADATA = "metadata-or-unknown-change (info only there)"
FRESHNESS_LOOSENED = Rule("freshness-loosened", "sla.freshness grows (older data is allowed)", "product", _METADATA)
AVAILABILITY_LOWERED = Rule("availability-lowered", "sla.availability drops or is removed", "product", _METADATA)
QUALITY_SCORE_LOWERED = Rule("quality-score-lowered", "sla.qualityScore drops", "product", _METADATA)
DOMAIN_CHANGED = Rule(
    "domain-changed", "spec.domain changes (every reference to the product breaks)", "product", _METADATA
)
ACCESS_NARROWED = Rule(
    "access-narrowed", "a consumer that may read the product now may not (governance decision)", "consumer", None
)
PII_NARROWED = Rule(
    "pii-narrowed",
    "a consumer sees a column it reads less openly (clear to masked, masked to excluded): a column becomes PII, "
    "or a grant's pii mode narrows",
    "consumer",
    "field-pii-added (older datacontract-cli; a warning there)",
)

RULES: tuple[Rule, ...] = (
    FIELD_REMOVED,
    TYPE_CHANGED,
    REQUIRED_CHANGED,
    KEY_CHANGED,
    FRESHNESS_LOOSENED,
    AVAILABILITY_LOWERED,
    QUALITY_SCORE_LOWERED,
    DOMAIN_CHANGED,
    ACCESS_NARROWED,
    PII_NARROWED,
)


@dataclass(frozen=True)
class Change:
    """A change of the contract that breaks whoever relies on what changed."""

    rule: Rule
    path: str
    """Where in the object, e.g. `spec.schema[email].type`."""
    message: str
    column: str | None = None
    """The column concerned (column rules): only consumers reading it are broken."""


@dataclass(frozen=True)
class Breach:
    """A breaking change that breaks current consumers: admission refuses it (unless the major version moves)."""

    rule: str
    path: str
    message: str
    consumers: tuple[str, ...]
    """`namespace/name` of every consumer broken."""
    column: str | None = None

    def __str__(self) -> str:
        readers = ", ".join(self.consumers)
        what = f"reads column {self.column!r}" if self.column else "relies on it"
        verb = what if len(self.consumers) == 1 else what.replace("reads", "read").replace("relies", "rely")
        return f"{self.path}: {self.message} [{self.rule}], but consumer {readers} {verb}"


#: (consumer product, producer) -> whether and how the consumer may read it; see `reader_access`.
ReaderAccess = Callable[[DataProduct, Consumer], governance.ReadAccess]


def reader_access(
    policies: Iterable[GovernancePolicy] = (), domains: Mapping[str, Domain] | None = None
) -> ReaderAccess:
    """The governance decision the build's input resolution takes (mesh/access.py): the consumer's domain with the
    domain's team groups, under `policies` and the producer's contract."""
    policy_list = list(policies)
    known = dict(domains or {})

    def decide(producer: DataProduct, consumer: Consumer) -> governance.ReadAccess:
        domain = known.get(consumer.domain)
        groups = domain.spec.team_groups if domain else []
        return governance.decide_input_access(
            policy_list, producer, consumer_domain=consumer.domain, consumer_groups=groups
        )

    return decide


def major_version(product: DataProduct) -> int:
    """The contract's major version; a contract without spec.version counts as 0.0.0."""
    version = product.spec.version
    return int(version.split(".", 1)[0]) if version else 0


def is_major_bump(old: DataProduct, new: DataProduct) -> bool:
    """Whether `new` announces a new major version of the contract: breaking changes are then accepted."""
    return major_version(new) > major_version(old)


def breaking_changes(
    old: DataProduct, new: DataProduct, consumers: Iterable[Consumer], *, access: ReaderAccess | None = None
) -> list[Breach]:
    """The changes from `old` to `new` that break a current consumer, each naming the consumers broken; empty when
    the change may go through: it breaks nobody who reads the product now, or spec.version moves to a new major.

    `consumers` are `old`'s (consumers_of); `access` decides reads (default: the contracts alone, no policies)."""
    if is_major_bump(old, new):
        return []
    readers = list(consumers)
    if not readers:
        return []
    breaches = []
    for change in contract_changes(old, new):
        broken = tuple(c.ref for c in readers if change.column is None or c.uses(change.column))
        if broken:
            breaches.append(Breach(change.rule.id, change.path, change.message, broken, change.column))
    decide = access or reader_access()
    breaches.extend(_access_breaches(old, new, readers, decide))
    return breaches


def contract_changes(old: DataProduct, new: DataProduct) -> list[Change]:
    """Every breaking change from `old` to `new` judged on the contracts alone (no consumers, no access): what
    `datacontract breaking` would report, in this project's rules."""
    return [*_schema_changes(old, new), *_guarantee_changes(old, new)]


def _schema_changes(old: DataProduct, new: DataProduct) -> Iterator[Change]:
    after = {c.name.lower(): c for c in new.spec.schema_}
    before = {c.name.lower() for c in old.spec.schema_}
    added = [c for key, c in after.items() if key not in before]
    for column in old.spec.schema_:
        path = f"spec.schema[{column.name}]"
        now = after.get(column.name.lower())
        if now is None:
            namesakes = [c.name for c in added if _type(c.type) == _type(column.type)]
            hint = f" (renamed to {' or '.join(map(repr, namesakes))}?)" if namesakes else ""
            yield Change(FIELD_REMOVED, path, f"column {column.name!r} is removed{hint}", column.name)
            continue
        if not type_widens(column.type, now.type):
            yield Change(
                TYPE_CHANGED,
                f"{path}.type",
                f"column {column.name!r} changes type from {column.type} to {now.type}, which does not widen",
                column.name,
            )
        if column.nullable and not now.nullable:
            yield Change(REQUIRED_CHANGED, f"{path}.nullable", f"column {column.name!r} becomes required", column.name)
        elif not column.nullable and now.nullable:
            # A reader that relied on "never null" (joins, sums, NOT NULL targets) now meets nulls:
            # datacontract-cli's consumer perspective calls this breaking too.
            yield Change(REQUIRED_CHANGED, f"{path}.nullable", f"column {column.name!r} may now be null", column.name)
    old_key = [c.lower() for c in old.spec.primary_key]
    new_key = [c.lower() for c in new.spec.primary_key]
    if sorted(old_key) != sorted(new_key):
        yield Change(
            KEY_CHANGED,
            "spec.schema[*].primaryKey",
            f"the primary key changes from ({', '.join(old.spec.primary_key) or 'none'}) "
            f"to ({', '.join(new.spec.primary_key) or 'none'})",
        )


def _guarantee_changes(old: DataProduct, new: DataProduct) -> Iterator[Change]:
    before, after = old.spec.sla, new.spec.sla
    if parse_duration(after.freshness) > parse_duration(before.freshness):
        yield Change(
            FRESHNESS_LOOSENED,
            "spec.sla.freshness",
            f"freshness loosens from {before.freshness} to {after.freshness}",
        )
    if before.availability is not None and (
        after.availability is None or _percent(after.availability) < _percent(before.availability)
    ):
        yield Change(
            AVAILABILITY_LOWERED,
            "spec.sla.availability",
            f"availability drops from {before.availability} to {after.availability or 'none'}",
        )
    if after.quality_score < before.quality_score:
        yield Change(
            QUALITY_SCORE_LOWERED,
            "spec.sla.qualityScore",
            f"the quality score drops from {before.quality_score:g} to {after.quality_score:g}",
        )
    if old.spec.domain != new.spec.domain:
        yield Change(
            DOMAIN_CHANGED, "spec.domain", f"the product moves from domain {old.spec.domain!r} to {new.spec.domain!r}"
        )


_OPENNESS = {"exclude": 0, "mask": 1, "clear": 2}


def _access_breaches(
    old: DataProduct, new: DataProduct, readers: list[Consumer], decide: ReaderAccess
) -> Iterator[Breach]:
    old_pii = {c.name.lower() for c in old.spec.schema_ if c.pii}
    new_pii = {c.name.lower() for c in new.spec.schema_ if c.pii}
    columns = [c.name for c in old.spec.schema_ if c.name.lower() in {n.name.lower() for n in new.spec.schema_}]
    for consumer in readers:
        before = decide(old, consumer)
        if not before.allowed:
            continue  # already broken: this change takes nothing away
        after = decide(new, consumer)
        if not after.allowed:
            yield Breach(
                ACCESS_NARROWED.id,
                "spec.governance",
                f"{consumer.ref} may no longer read the product ({after.reason})",
                (consumer.ref,),
            )
            continue
        for column in columns:
            if not consumer.uses(column):
                continue
            seen_before = before.pii if column.lower() in old_pii else "clear"
            seen_after = after.pii if column.lower() in new_pii else "clear"
            if _OPENNESS[seen_after] < _OPENNESS[seen_before]:
                yield Breach(
                    PII_NARROWED.id,
                    f"spec.schema[{column}].pii",
                    f"{consumer.ref} would see column {column!r} {_SEEN[seen_after]} instead of {_SEEN[seen_before]}",
                    (consumer.ref,),
                    column,
                )


_SEEN = {"clear": "in clear", "mask": "masked", "exclude": "left out"}


def _percent(text: str) -> float:
    return float(text.rstrip("%"))


# ------------------------------------------------------------------------------------------------ type widening

#: Integer types by width, with the decimal digits each needs.
_INTEGERS = {"tinyint": (1, 3), "smallint": (2, 5), "int": (3, 10), "bigint": (4, 20)}
_ALIASES = {"byte": "tinyint", "short": "smallint", "integer": "int", "long": "bigint", "decimal": "decimal(10,0)"}
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


def _type(text: str) -> str:
    spelled = "".join(text.lower().split())
    return _ALIASES.get(spelled, spelled)


def type_widens(old: str, new: str) -> bool:
    """Whether every value of Spark type `old` is a value of `new` with the same meaning (so a reader of `old` reads
    `new` unchanged): the same type, a wider integer, float to double, an integer up to double or to a decimal with
    enough integer digits, a decimal with no fewer integer and fractional digits, date to timestamp_ntz. These are
    the widenings Delta Lake's type widening performs in place."""
    before, after = _type(old), _type(new)
    if before == after:
        return True
    if before in _INTEGERS:
        rank, digits = _INTEGERS[before]
        if after in _INTEGERS:
            return _INTEGERS[after][0] > rank
        if after == "double":
            return before != "bigint"  # a long does not fit a double's 53-bit mantissa
        decimal = _DECIMAL.match(after)
        return decimal is not None and int(decimal[1]) - int(decimal[2]) >= digits
    if before == "float":
        return after == "double"
    if before == "date":
        return after == "timestamp_ntz"
    old_decimal, new_decimal = _DECIMAL.match(before), _DECIMAL.match(after)
    if old_decimal and new_decimal:
        precision, scale = int(old_decimal[1]), int(old_decimal[2])
        new_precision, new_scale = int(new_decimal[1]), int(new_decimal[2])
        return new_scale >= scale and new_precision - new_scale >= precision - scale
    return False


def rules_table() -> str:
    """The rules as the Markdown table docs/lifecycle.md shows (a test keeps the two the same)."""
    who = {
        "column": "consumers that read the column",
        "product": "every consumer",
        "consumer": "each consumer, judged alone",
    }
    rows = [
        "| rule | breaking when | refused if it concerns | datacontract-cli |",
        "| --- | --- | --- | --- |",
        *(f"| `{r.id}` | {r.catches} | {who[r.scope]} | {r.datacontract or '—'} |" for r in RULES),
    ]
    return "\n".join(rows) + "\n"
