"""Attribute-based access decisions: Deny wins over Permit, and without a matching Permit access is denied."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.governance.attributes import condition_holds
from datamesh.governance.policies import RuleRef, access_rules
from datamesh.governance.principal import Principal
from datamesh.governance.resources import Resource, domain_resource

Effect = Literal["Permit", "Deny"]


@dataclass(frozen=True)
class AccessDecision:
    """The outcome of the access rules for one principal and one resource."""

    allowed: bool
    effect: Effect | None
    """The effect of the deciding rule; None when no rule matched (denied by default)."""
    rule: RuleRef | None
    """The deciding rule: the first matching Deny, else the first matching Permit (policy-name order)."""
    reason: str


@dataclass(frozen=True)
class RuleMatches:
    """Every access rule whose condition holds for a request, by effect."""

    permits: tuple[RuleRef, ...]
    denies: tuple[RuleRef, ...]


def matching_rules(policies: Iterable[GovernancePolicy], principal: Principal, resource: Resource) -> RuleMatches:
    attributes = {**principal.attributes(), **resource.attributes()}
    permits: list[RuleRef] = []
    denies: list[RuleRef] = []
    for ref, rule in access_rules(policies):
        if condition_holds(rule.dnf_condition, attributes):
            (denies if rule.effect == "Deny" else permits).append(ref)
    return RuleMatches(tuple(permits), tuple(denies))


def evaluate_access(policies: Iterable[GovernancePolicy], principal: Principal, resource: Resource) -> AccessDecision:
    """Decide by the access rules alone: any matching Deny denies, else any matching Permit permits, else deny."""
    matches = matching_rules(policies, principal, resource)
    if matches.denies:
        rule = matches.denies[0]
        return AccessDecision(False, "Deny", rule, f"denied by access rule {rule} (Deny wins over Permit)")
    if matches.permits:
        rule = matches.permits[0]
        return AccessDecision(True, "Permit", rule, f"permitted by access rule {rule}")
    return AccessDecision(False, None, None, "no access rule permits it (denied by default)")


def accessible_domains(
    policies: Iterable[GovernancePolicy], principal: Principal, domains: Iterable[Domain | str]
) -> set[str]:
    """Names of the domains whose products the principal may discover in the catalog.

    A principal may access its own domains (membership acts as a Permit) and every domain an access rule
    permits it on; a matching Deny rule removes a domain either way. The domain is judged as a resource with
    only resource.domain set: its products are judged one by one when read.
    """
    policy_list = list(policies)
    names = {domain if isinstance(domain, str) else domain.name for domain in domains}
    accessible = set()
    for name in names:
        matches = matching_rules(policy_list, principal, domain_resource(name))
        if not matches.denies and (name in principal.domains or matches.permits):
            accessible.add(name)
    return accessible
