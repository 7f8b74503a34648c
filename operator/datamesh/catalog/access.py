"""Access decisions of the discovery API, made from the catalog's copies of Domains and GovernancePolicies with
the pure functions of `datamesh.governance` (the same ones the operator and admission use)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamesh.api.dataproduct import DataProduct
from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.catalog.models import DomainRow, PolicyRow, ProductRow
from datamesh.governance import (
    Principal,
    ReadAccess,
    accessible_domains,
    decide_product_read,
    matching_rules,
    principal_for,
    product_resource,
)


@dataclass(frozen=True)
class Caller:
    """An authenticated user, as the TokenReview reported it."""

    user: str
    groups: frozenset[str]


@dataclass
class AccessView:
    """What one caller may see: its principal and the domains whose products it may discover."""

    principal: Principal
    policies: list[GovernancePolicy]
    domains: dict[str, Domain]
    visible_domains: set[str]

    def hides(self, product: DataProduct) -> bool:
        """Hidden when a Deny access rule matches the product; otherwise shown when its domain is accessible (the
        seed's discovery rule) or its contract lets the caller read it (accessPolicy, grants)."""
        if matching_rules(self.policies, self.principal, product_resource(product)).denies:
            return True
        return product.spec.domain not in self.visible_domains and not self.read_access(product).allowed

    def read_access(self, product: DataProduct) -> ReadAccess:
        return decide_product_read(self.policies, self.principal, product)

    def namespace_of(self, domain: str) -> str:
        found = self.domains.get(domain)
        return found.namespace_name if found else domain


def _stored_domains(session: Session) -> dict[str, Domain]:
    # A deleted Domain (a tombstone) makes nobody a member of anything.
    rows = session.execute(select(DomainRow.name, DomainRow.spec).where(DomainRow.deleted_at.is_(None))).all()
    return {name: Domain.model_validate({"metadata": {"name": name}, "spec": spec}) for name, spec in rows}


def _stored_policies(session: Session) -> list[GovernancePolicy]:
    return [GovernancePolicy.model_validate(body) for body in session.execute(select(PolicyRow.body)).scalars()]


def access_view(session: Session, caller: Caller) -> AccessView:
    """The caller's principal (domain membership from the stored Domains' team and reader groups) and the
    domains it may discover: the seed's `user_domain_access`, computed by `accessible_domains`."""
    domains = _stored_domains(session)
    policies = _stored_policies(session)
    principal = principal_for(caller.user, caller.groups, domains.values())
    product_domains: Iterable[str] = session.execute(
        select(ProductRow.domain).where(ProductRow.deleted_at.is_(None)).distinct()
    ).scalars()
    names = set(domains) | set(product_domains)
    return AccessView(principal, policies, domains, accessible_domains(policies, principal, names))


def product_model(row: ProductRow) -> DataProduct:
    """The DataProduct as stored (metadata reduced to what governance looks at)."""
    metadata = {"name": row.name, "namespace": row.namespace, "labels": row.labels}
    return DataProduct.model_validate({"metadata": metadata, "spec": row.spec})
