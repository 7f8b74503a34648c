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
from collections.abc import Iterable, Mapping

from sqlglot import exp, parse_one
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.scope import traverse_scope

from datamesh.api import DataProduct, Domain
from datamesh.api.dataproduct import ALL_COLUMNS, Consumer
from datamesh.mesh.world import World

__all__ = ["ALL_COLUMNS", "Consumer", "columns_read", "consumers_of"]

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
    else:
        world = World(dict(domains or {}), {(p.namespace or p.spec.domain, p.name): p for p in mesh})
    key = (product.namespace or world.namespace_of(product.spec.domain), product.name)
    known = [c.name for c in product.spec.schema_]
    found: list[Consumer] = []
    for reader in world.products.reading(product.name):
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
