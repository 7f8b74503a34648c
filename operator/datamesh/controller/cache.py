"""The operator's view of the cluster, kept current from watch events (an informer cache)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.api.dataproduct import DataProductSpec, DataProductStatus
from datamesh.controller.jobs import LABEL_PRODUCT
from datamesh.controller.world import World
from datamesh.manifests import Problem, problems_of

logger = logging.getLogger(__name__)
ProductKey = tuple[str, str]


def _older(meta: dict[str, Any], known: dict[str, Any] | None) -> bool:
    """Whether an incoming object is older than the cached one. resourceVersions are opaque, but etcd's
    are increasing integers; anything else is taken as newer."""
    if known is None:
        return False
    incoming, current = str(meta.get("resourceVersion", "")), str(known.get("metadata", {}).get("resourceVersion", ""))
    return incoming.isdigit() and current.isdigit() and int(incoming) < int(current)


@dataclass
class InvalidProduct:
    body: dict[str, Any]
    problems: list[Problem]


@dataclass
class Cache:
    world: World = field(default_factory=World)
    invalid_products: dict[ProductKey, InvalidProduct] = field(default_factory=dict)
    raw_products: dict[ProductKey, dict[str, Any]] = field(default_factory=dict)
    invalid_domains: dict[str, tuple[dict[str, Any], list[Problem]]] = field(default_factory=dict)
    jobs: dict[ProductKey, dict[str, dict[str, Any]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ products
    def put_product(self, body: dict[str, Any]) -> ProductKey:
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if _older(meta, self.raw_products.get(key)):
            return key  # a late event: the cache already holds what our own status patch returned
        self.raw_products[key] = body
        try:
            spec = DataProductSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            self.world.products.pop(key, None)
            self.invalid_products[key] = InvalidProduct(body, problems_of(error, "spec"))
            return key
        try:
            status = DataProductStatus.model_validate(body["status"]) if body.get("status") else None
        except ValidationError:
            logger.warning("ignoring unreadable status of %s/%s", *key)
            status = None
        self.invalid_products.pop(key, None)
        self.world.products[key] = DataProduct(metadata=dict(meta), spec=spec, status=status)
        return key

    def remember_product(self, body: dict[str, Any]) -> None:
        """The object as the API server returned it after our own write."""
        self.put_product(body)

    def drop_product(self, key: ProductKey) -> None:
        self.world.products.pop(key, None)
        self.invalid_products.pop(key, None)
        self.raw_products.pop(key, None)

    # ------------------------------------------------------------------ domains and policies
    def put_domain(self, body: dict[str, Any]) -> str:
        name = str(body.get("metadata", {}).get("name", ""))
        try:
            self.world.domains[name] = Domain.model_validate(body)
            self.invalid_domains.pop(name, None)
        except ValidationError as error:
            self.world.domains.pop(name, None)
            self.invalid_domains[name] = (body, problems_of(error))
        return name

    def drop_domain(self, name: str) -> None:
        self.world.domains.pop(name, None)
        self.invalid_domains.pop(name, None)

    def put_policy(self, body: dict[str, Any]) -> None:
        name = str(body.get("metadata", {}).get("name", ""))
        try:
            self.world.policies[name] = GovernancePolicy.model_validate(body)
        except ValidationError as error:
            logger.warning("ignoring invalid GovernancePolicy %s: %s", name, error)
            self.world.policies.pop(name, None)

    def drop_policy(self, name: str) -> None:
        self.world.policies.pop(name, None)

    # ------------------------------------------------------------------ build jobs
    def put_job(self, body: dict[str, Any], deleted: bool = False) -> ProductKey | None:
        meta = body.get("metadata", {})
        product = (meta.get("labels") or {}).get(LABEL_PRODUCT)
        if not product:
            return None
        key = (meta.get("namespace", ""), product)
        jobs = self.jobs.setdefault(key, {})
        if deleted:
            jobs.pop(meta.get("name", ""), None)
        else:
            jobs[meta.get("name", "")] = body
        return key

    def jobs_of(self, key: ProductKey) -> list[dict[str, Any]]:
        return list(self.jobs.get(key, {}).values())
