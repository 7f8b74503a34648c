"""Who asks: a user with groups, and the domains those groups make it a member of."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datamesh.api.domain import Domain


@dataclass(frozen=True)
class Principal:
    """The subject of an access decision: a person (user and groups) or a consuming domain (domains only)."""

    user: str | None = None
    groups: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    """Domains the principal is a member of (see `member_domains`)."""

    def attributes(self) -> dict[str, frozenset[str]]:
        """principal.user, principal.group and principal.domain; an empty set means the attribute is missing."""
        return {
            "principal.user": frozenset({self.user}) if self.user else frozenset(),
            "principal.group": self.groups,
            "principal.domain": self.domains,
        }


def member_domains(groups: Iterable[str], domains: Iterable[Domain]) -> frozenset[str]:
    """Names of the domains that list one of `groups` among their teamGroups or readerGroups."""
    wanted = set(groups)
    return frozenset(
        domain.name for domain in domains if wanted & (set(domain.spec.team_groups) | set(domain.spec.reader_groups))
    )


def principal_for(user: str | None, groups: Iterable[str], domains: Iterable[Domain]) -> Principal:
    """A person's principal, with principal.domain derived from the Domains' teamGroups and readerGroups."""
    group_set = frozenset(groups)
    return Principal(user=user, groups=group_set, domains=member_domains(group_set, domains))


def domain_principal(domain: str, groups: Iterable[str] = ()) -> Principal:
    """A domain acting as a consumer (e.g. a product reading an input): no user, one domain."""
    return Principal(user=None, groups=frozenset(groups), domains=frozenset({domain}))
