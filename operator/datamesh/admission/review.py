"""The admission decision for Domains, DataProducts and GovernancePolicies, as pure functions.

The API server's CRD schema already enforces types, enums, patterns and CEL rules; this adds what only
Python knows (the full model validators: duplicate columns, cron, unknown check columns) and the
federated governance rules in force, and where things may live (storage locations, namespaces: see
datamesh.placement), so `kubectl apply` names every problem at once. Placement is judged against the mesh as
the operator's cache knows it; a conflict with anything there is refused (no seniority at admission). An update
that breaks a product reading this one is refused too, naming the consumer and the column (mesh/lifecycle.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec

from pydantic import ValidationError

from datamesh import governance, placement
from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.api.entrypoints import entry_point_problems
from datamesh.manifests import problems_of
from datamesh.mesh import lifecycle

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")


def _fail_closed(review: Callable[_P, list[str]]) -> Callable[_P, list[str]]:
    """A review that raises refuses: an object that cannot be checked is not admitted (the webhook's failure
    policy would otherwise decide, and it is Ignore)."""

    @functools.wraps(review)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> list[str]:
        try:
            return review(*args, **kwargs)
        except Exception as error:
            logger.warning("admission review %s failed", review.__name__, exc_info=error)
            return [f"cannot be checked ({type(error).__name__}: {error}"[:512] + "); refused"]

    return guarded


def _spec_unchanged(body: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Updates that do not touch the spec (finalizers, annotations, labels) are never refused: a policy
    that changed after admission must not stop the operator from managing or deleting the object."""
    if old is None:
        return False
    return bool(body.get("spec") == old.get("spec") or (body.get("metadata") or {}).get("deletionTimestamp"))


@_fail_closed
def review_product(
    body: dict[str, Any],
    old: dict[str, Any] | None,
    policies: Iterable[GovernancePolicy],
    *,
    domains: Mapping[str, Domain],
    products: Iterable[DataProduct],
    python_modules: Iterable[str] = (),
) -> list[str]:
    """Every reason to refuse this DataProduct; empty to admit it. `domains` and `products` are the mesh as the
    operator knows it: the product's table must lie inside its domain's storage and apart from every other
    product's table, every source and every other domain's storage (datamesh.placement). A Python transform must
    name a function of an allowed module (`python_modules`, the operator's configuration)."""
    if _spec_unchanged(body, old):
        return []
    try:
        product = DataProduct.model_validate({**body, "status": None})
    except ValidationError as error:
        return [str(p) for p in problems_of(error)]
    python = product.spec.transform.python if product.spec.transform else None
    policy_list = list(policies)
    return [
        *(str(v) for v in governance.check_product(policy_list, product) if v.denies),
        *placement.product_problems(product, domains, products),
        *(entry_point_problems(python, python_modules) if python else []),
        *(_breaking_problems(old, product, policy_list, domains, products) if old is not None else []),
    ]


def _breaking_problems(
    old_body: dict[str, Any],
    product: DataProduct,
    policies: list[GovernancePolicy],
    domains: Mapping[str, Domain],
    products: Iterable[DataProduct],
) -> list[str]:
    """Why this update breaks a product that reads this one (docs/lifecycle.md)."""
    try:
        old = DataProduct.model_validate({**old_body, "status": None})
    except ValidationError:
        # A stored spec the current models refuse was never a contract in force (the operator marks it InvalidSpec
        # and builds nothing from it): there is nothing to compare with, and refusing would make it unfixable.
        return []
    consumers = lifecycle.consumers_of(products, old, domains=domains)
    breaches = lifecycle.breaking_changes(old, product, consumers, access=lifecycle.reader_access(policies, domains))
    if not breaches:
        return []
    major = lifecycle.major_version(old) + 1
    return [
        *(str(b) for b in breaches),
        f"to keep consumers working, publish the change as a new product and deprecate this one; to break them "
        f"deliberately, move spec.version to {major}.0.0 (docs/lifecycle.md)",
    ]


@_fail_closed
def review_domain(
    body: dict[str, Any],
    old: dict[str, Any] | None,
    policies: Iterable[GovernancePolicy],
    *,
    domains: Mapping[str, Domain],
    products: Iterable[DataProduct],
    operator_namespace: str,
    reserved_namespaces: Iterable[str] = (),
) -> list[str]:
    """Every reason to refuse this Domain: its storage and sources must stay apart from other domains' storage,
    sources and tables, and its namespace must be neither a system or reserved one nor another Domain's."""
    if _spec_unchanged(body, old):
        return []
    try:
        domain = Domain.model_validate({**body, "status": None})
    except ValidationError as error:
        return [str(p) for p in problems_of(error)]
    return [
        *(str(v) for v in governance.check_domain(policies, domain) if v.denies),
        *placement.domain_problems(domain, domains, products),
        *placement.namespace_problems(domain, domains, operator_namespace, reserved_namespaces),
    ]


@_fail_closed
def review_policy(body: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    if _spec_unchanged(body, old):
        return []
    try:
        policy = GovernancePolicy.model_validate({**body, "status": None})
    except ValidationError as error:
        return [str(p) for p in problems_of(error)]
    return [str(p) for p in governance.check_policy(policy)]
