"""Which tables a recipient domain may read, and with which PII treatment: governance asked at every request.

A recipient is a consumer domain. It may read a product exactly when a product of that domain could read it as an
input (`governance.decide_input_access` with the domain's team groups, as mesh/access.py asks for a build), so
the contract's accessPolicy and grants and the access rules' Denies decide, and nothing is cached: a revoked grant
stops the next request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.catalog.access import product_model
from datamesh.catalog.models import ColumnRow, DomainRow, PolicyRow, ProductRow
from datamesh.governance import ReadAccess, decide_input_access


class RecipientGone(Exception):
    """The recipient's Domain no longer exists: its tokens open nothing."""


@dataclass(frozen=True)
class SharedTable:
    """One product as one recipient sees it through its share."""

    share: str
    schema: str
    name: str
    product_id: int
    location: str
    access: ReadAccess
    pii_columns: frozenset[str]
    declared_columns: frozenset[str]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.share.lower(), self.schema.lower(), self.name.lower())


def share_names(product: ProductRow) -> tuple[str, str, str]:
    """(share, schema, table) of a product: `<product>.<domain>.<product>`."""
    return (product.name, product.domain, product.name)


def recipient_tables(session: Session, recipient: str) -> list[SharedTable]:
    """Every published product `recipient` may read, sorted by share, schema and table.

    Two live products with the same name in one domain (different namespaces) would share one table name: both
    are left out rather than one served under the other's name."""
    spec = session.execute(
        select(DomainRow.spec).where(DomainRow.name == recipient, DomainRow.deleted_at.is_(None))
    ).scalar_one_or_none()
    if spec is None:
        raise RecipientGone(f"domain {recipient!r} does not exist (any more)")
    domain = Domain.model_validate({"metadata": {"name": recipient}, "spec": spec})
    policies = [GovernancePolicy.model_validate(body) for body in session.execute(select(PolicyRow.body)).scalars()]
    rows = session.execute(
        select(ProductRow).where(ProductRow.deleted_at.is_(None), ProductRow.location.is_not(None))
    ).scalars()
    by_name: dict[tuple[str, str, str], list[ProductRow]] = {}
    for row in rows:
        share, schema, name = share_names(row)
        by_name.setdefault((share.lower(), schema.lower(), name.lower()), []).append(row)
    tables: list[SharedTable] = []
    for candidates in by_name.values():
        if len(candidates) != 1:
            continue
        row = candidates[0]
        access = decide_input_access(
            policies, product_model(row), consumer_domain=recipient, consumer_groups=domain.spec.team_groups
        )
        if not access.allowed:
            continue
        columns = session.execute(select(ColumnRow.name, ColumnRow.pii).where(ColumnRow.product_id == row.id)).all()
        share, schema, name = share_names(row)
        tables.append(
            SharedTable(
                share=share,
                schema=schema,
                name=name,
                product_id=row.id,
                location=str(row.location),
                access=access,
                pii_columns=frozenset(n for n, pii in columns if pii),
                declared_columns=frozenset(n for n, _ in columns),
            )
        )
    return sorted(tables, key=lambda t: t.key)
