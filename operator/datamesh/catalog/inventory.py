"""What may be tombstoned: the catalog marks a product or domain deleted only when a complete, fresh list of what
exists in the cluster proves it gone, and only inside the namespaces this operator watches.

The operator's in-memory world is not such a list: it fills up from watch streams (slow at first), holds only
the watched namespaces, and leaves out objects whose spec does not parse. Deciding deletions from it erased the
history of products that still existed; these pure functions decide from an `Inventory` (a LIST through the API,
invalid objects included) and a `Scope` instead.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from datamesh.mesh.world import World

ProductKey = tuple[str, str]
# A Kubernetes namespace name (RFC 1123 label): anything else given to --namespace is a kopf pattern.
_NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Inventory:
    """Keys of every object that exists (valid or not), from one fresh LIST of each kind."""

    products: frozenset[ProductKey]
    domains: frozenset[str]
    policies: frozenset[str]

    @classmethod
    def of(cls, world: World) -> Inventory:
        """The world's own keys: for a world that is known to be complete (tests, imports)."""
        return cls(
            products=frozenset(world.products),
            domains=frozenset(world.domains),
            policies=frozenset(world.policies),
        )


@dataclass(frozen=True)
class Scope:
    """The namespaces the operator watches: its `--namespace` values as kopf reads them (exact names or
    comma-separated globs with `!` exclusions), or every namespace when there are none."""

    patterns: tuple[str, ...] = ()

    @property
    def clusterwide(self) -> bool:
        return not self.patterns

    @property
    def exact_namespaces(self) -> frozenset[str] | None:
        """The namespaces by name when every pattern is a plain name (they can be listed one by one); None when
        the scope is cluster-wide or uses globs (only a cluster-wide list is complete then)."""
        if self.clusterwide or not all(_NAMESPACE_NAME.fullmatch(p) for p in self.patterns):
            return None
        return frozenset(self.patterns)

    def covers(self, namespace: str) -> bool:
        return self.clusterwide or any(_matches(namespace, pattern) for pattern in self.patterns)


def _matches(name: str, pattern: str) -> bool:
    """kopf's namespace pattern semantics (kopf._cogs.structs.references.match_namespace, tested against it):
    the first inclusive glob matches, later `!` globs exclude, later inclusive ones re-include what an exclusion
    removed; a leading exclusion implies a catch-all before it."""
    globs = [glob.strip() for glob in pattern.split(",")]
    if not globs or globs[0].startswith("!"):
        globs.insert(0, "*")
    matches = first = fnmatch.fnmatchcase(name, globs[0])
    for glob in globs[1:]:
        if glob.startswith("!"):
            matches = matches and not fnmatch.fnmatchcase(name, glob.lstrip("!"))
        else:
            matches = matches or (first and fnmatch.fnmatchcase(name, glob))
    return matches


def products_gone(stored: Iterable[ProductKey], existing: Iterable[ProductKey], scope: Scope) -> list[ProductKey]:
    """Stored live products to tombstone: in the scope and in no list of what exists."""
    present = set(existing)
    return sorted(key for key in set(stored) if key not in present and scope.covers(key[0]))


def domains_gone(stored: Iterable[tuple[str, str]], existing: Iterable[str], scope: Scope) -> list[str]:
    """Stored live domains, as (name, namespace), to tombstone: whose namespace is in the scope and which no
    list of what exists holds. (Domains are cluster-scoped and listed cluster-wide; the scope still bounds what
    a namespaced operator touches.)"""
    present = set(existing)
    return sorted(name for name, namespace in set(stored) if name not in present and scope.covers(namespace))


def policies_gone(stored: Iterable[str], existing: Iterable[str]) -> list[str]:
    """Stored policies to remove: those no list of what exists holds. Policies carry no history (the discovery
    API decides access from the live ones), so they are deleted, not tombstoned."""
    present = set(existing)
    return sorted(set(stored) - present)
