"""The admission decision for Domains, DataProducts and GovernancePolicies, as pure functions.

The API server's CRD schema already enforces types, enums, patterns and CEL rules; this adds what only
Python knows (the full model validators: duplicate columns, cron, unknown check columns) and the
federated governance rules in force, so `kubectl apply` names every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from datamesh import governance
from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.manifests import problems_of


def _spec_unchanged(body: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Updates that do not touch the spec (finalizers, annotations, labels) are never refused: a policy
    that changed after admission must not stop the operator from managing or deleting the object."""
    if old is None:
        return False
    return bool(body.get("spec") == old.get("spec") or (body.get("metadata") or {}).get("deletionTimestamp"))


def review_product(body: dict[str, Any], old: dict[str, Any] | None, policies: Iterable[GovernancePolicy]) -> list[str]:
    """Every reason to refuse this DataProduct; empty to admit it."""
    if _spec_unchanged(body, old):
        return []
    try:
        product = DataProduct.model_validate({**body, "status": None})
    except ValidationError as error:
        return [str(p) for p in problems_of(error)]
    return [str(v) for v in governance.check_product(policies, product) if v.denies]


def review_domain(body: dict[str, Any], old: dict[str, Any] | None, policies: Iterable[GovernancePolicy]) -> list[str]:
    if _spec_unchanged(body, old):
        return []
    try:
        domain = Domain.model_validate({**body, "status": None})
    except ValidationError as error:
        return [str(p) for p in problems_of(error)]
    return [str(v) for v in governance.check_domain(policies, domain) if v.denies]


def review_policy(body: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    if _spec_unchanged(body, old):
        return []
    try:
        policy = GovernancePolicy.model_validate({**body, "status": None})
    except ValidationError as error:
        return [str(p) for p in problems_of(error)]
    return [str(p) for p in governance.check_policy(policy)]
