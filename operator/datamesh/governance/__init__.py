"""Federated governance, as pure functions: access decisions, product rules, input access and PII modes.

Shared by the admission webhook, the reconcile loop, `datamesh validate` and the catalog; nothing here talks to
Kubernetes. The semantics are documented in docs/governance.md.
"""

from __future__ import annotations

from datamesh.governance.access import (
    AccessDecision,
    Effect,
    RuleMatches,
    accessible_domains,
    evaluate_access,
    matching_rules,
)
from datamesh.governance.attributes import condition_holds, glob_matches, match_holds
from datamesh.governance.inputs import (
    DEFAULT_PII_MODE,
    PiiMode,
    ReadAccess,
    decide_input_access,
    decide_product_read,
    decide_source_access,
    matching_grants,
    pii_mode_for,
)
from datamesh.governance.policies import RuleRef, policy_name
from datamesh.governance.policy_checks import check_policy
from datamesh.governance.principal import Principal, domain_principal, member_domains, principal_for
from datamesh.governance.product_rules import Enforcement, Violation, check_domain, check_product
from datamesh.governance.resources import (
    Resource,
    domain_resource,
    product_column_resource,
    product_resource,
    source_resource,
)
from datamesh.governance.scope import applies_to_domain, applies_to_product

__all__ = [
    "DEFAULT_PII_MODE",
    "AccessDecision",
    "Effect",
    "Enforcement",
    "PiiMode",
    "Principal",
    "ReadAccess",
    "Resource",
    "RuleMatches",
    "RuleRef",
    "Violation",
    "accessible_domains",
    "applies_to_domain",
    "applies_to_product",
    "check_domain",
    "check_policy",
    "check_product",
    "condition_holds",
    "decide_input_access",
    "decide_product_read",
    "decide_source_access",
    "domain_principal",
    "domain_resource",
    "evaluate_access",
    "glob_matches",
    "match_holds",
    "matching_grants",
    "matching_rules",
    "member_domains",
    "pii_mode_for",
    "policy_name",
    "principal_for",
    "product_column_resource",
    "product_resource",
    "source_resource",
]
