"""Naming and ordering of policies and their rules, shared by every evaluator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datamesh.api.governancepolicy import AccessRule, GovernancePolicy


def policy_name(policy: GovernancePolicy) -> str:
    return str(policy.metadata.get("name") or "<unnamed>")


def in_name_order(policies: Iterable[GovernancePolicy]) -> list[GovernancePolicy]:
    """Policies sorted by name, so decisions and reports do not depend on the order policies were listed."""
    return sorted(policies, key=policy_name)


@dataclass(frozen=True, order=True)
class RuleRef:
    """A rule as reported: `policy/rule`; unnamed access rules are named by position, e.g. `accessRules[2]`."""

    policy: str
    rule: str

    def __str__(self) -> str:
        return f"{self.policy}/{self.rule}"


def access_rules(policies: Iterable[GovernancePolicy]) -> list[tuple[RuleRef, AccessRule]]:
    """Every access rule of every policy, in policy-name order then in the order written."""
    return [
        (RuleRef(policy_name(policy), rule.name or f"accessRules[{index}]"), rule)
        for policy in in_name_order(policies)
        for index, rule in enumerate(policy.spec.access_rules)
    ]
