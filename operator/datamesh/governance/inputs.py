"""Who may read a data product or a domain's source table, and what they see of its PII columns.

Data products: the producer's contract decides who reads (domain ownership): members of the owning domain,
then `accessPolicy` (organization: any member of some domain; public: anyone) and `grants`. Access rules can
only take away: a matching Deny rule denies, a Permit rule does not widen the contract.

Source tables have no contract: every domain of the organization may read them; the owning domain sees PII in
clear, others masked unless an access rule permits them on the source. A matching Deny rule denies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from datamesh.api.dataproduct import DataProduct, Grant
from datamesh.api.domain import Domain, Source
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.governance.access import matching_rules
from datamesh.governance.policies import RuleRef
from datamesh.governance.principal import Principal, domain_principal
from datamesh.governance.resources import product_resource, source_resource

PiiMode = Literal["exclude", "mask", "clear"]
_OPENNESS: dict[PiiMode, int] = {"exclude": 0, "mask": 1, "clear": 2}
DEFAULT_PII_MODE: PiiMode = "mask"
"""What readers outside the owning domain see of PII columns when no grant says otherwise."""


@dataclass(frozen=True)
class ReadAccess:
    """Whether a principal (or consuming domain) may read, and how PII columns reach it."""

    allowed: bool
    pii: PiiMode
    """exclude (left out), mask (hashed) or clear. Always exclude when not allowed."""
    reason: str
    rule: RuleRef | None = None
    """The access rule that decided, when one did (a Deny, or the Permit that cleared a source's PII)."""


def _denied(reason: str, rule: RuleRef | None = None) -> ReadAccess:
    return ReadAccess(False, "exclude", reason, rule)


def matching_grants(principal: Principal, product: DataProduct) -> list[Grant]:
    """Grants naming one of the principal's domains or groups."""
    return [
        grant
        for grant in product.spec.governance.grants
        if principal.domains & set(grant.domains or []) or principal.groups & set(grant.groups or [])
    ]


def pii_mode_for(principal: Principal, product: DataProduct) -> PiiMode:
    """PII mode by the contract alone: clear for the owning domain; otherwise the most open mode among the
    matching grants (grants add up); otherwise mask. Check `decide_product_read` first for whether to serve."""
    if product.spec.domain in principal.domains:
        return "clear"
    grants = matching_grants(principal, product)
    if not grants:
        return DEFAULT_PII_MODE
    return max((grant.pii for grant in grants), key=_OPENNESS.__getitem__)


def _contract_reason(principal: Principal, product: DataProduct) -> str | None:
    """Why the contract lets the principal read, or None when it does not."""
    spec = product.spec
    if spec.domain in principal.domains:
        return f"member of the owning domain {spec.domain!r}"
    grants = matching_grants(principal, product)
    if grants:
        named = sorted(principal.domains & {d for g in grants for d in g.domains or []}) or sorted(
            principal.groups & {g for grant in grants for g in grant.groups or []}
        )
        return f"granted to {', '.join(named)} by the product's governance.grants"
    if spec.governance.access_policy == "public":
        return "the product's accessPolicy is public"
    if spec.governance.access_policy == "organization" and principal.domains:
        return "the product's accessPolicy is organization"
    return None


def decide_product_read(policies: Iterable[GovernancePolicy], principal: Principal, product: DataProduct) -> ReadAccess:
    """Whether `principal` may read `product` and with which PII mode (catalog, REST output, inputs)."""
    denied_by = matching_rules(policies, principal, product_resource(product)).denies
    if denied_by:
        return _denied(f"denied by access rule {denied_by[0]}", denied_by[0])
    reason = _contract_reason(principal, product)
    if reason is None:
        spec = product.spec
        asker = ", ".join(sorted(principal.domains)) or "no domain"
        return _denied(
            f"{product.name!r} is {spec.governance.access_policy} to domain {spec.domain!r} and no grant names"
            f" the reader ({asker})"
        )
    return ReadAccess(True, pii_mode_for(principal, product), reason)


def decide_input_access(
    policies: Iterable[GovernancePolicy],
    producer: DataProduct,
    *,
    consumer_domain: str,
    consumer_groups: Iterable[str] = (),
) -> ReadAccess:
    """Whether a product of `consumer_domain` may read `producer` as an input, and what it sees of PII."""
    return decide_product_read(policies, domain_principal(consumer_domain, consumer_groups), producer)


def decide_source_access(
    policies: Iterable[GovernancePolicy],
    domain: Domain,
    source: Source,
    *,
    consumer_domain: str,
    consumer_groups: Iterable[str] = (),
) -> ReadAccess:
    """Whether a product of `consumer_domain` may read `domain`'s source table, and what it sees of PII."""
    principal = domain_principal(consumer_domain, consumer_groups)
    matches = matching_rules(policies, principal, source_resource(domain.name, source))
    if matches.denies:
        return _denied(f"denied by access rule {matches.denies[0]}", matches.denies[0])
    if consumer_domain == domain.name:
        return ReadAccess(True, "clear", f"member of the owning domain {domain.name!r}")
    if matches.permits:
        return ReadAccess(
            True, "clear", f"PII in clear: permitted by access rule {matches.permits[0]}", matches.permits[0]
        )
    return ReadAccess(
        True, DEFAULT_PII_MODE, f"sources are readable by every domain; PII masked outside {domain.name!r}"
    )
