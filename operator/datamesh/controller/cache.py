"""The operator's view of the cluster, kept current from watch events (an informer cache).

Reading an object never raises: a body the models cannot read, for whatever reason (a ValidationError, or a
RecursionError, OverflowError... from a value the models did not foresee), is recorded as invalid with a message,
so the reconcile reports it instead of skipping the object silently or failing on it in a loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.api.dataproduct import DataProductSpec, DataProductStatus
from datamesh.controller.jobs import LABEL_PRODUCT
from datamesh.controller.jobviews import is_finished
from datamesh.controller.shared_fields import FieldSets
from datamesh.manifests import Problem, problems_of
from datamesh.mesh.world import World

logger = logging.getLogger(__name__)
ProductKey = tuple[str, str]


def _older(meta: dict[str, Any], known: str | None) -> bool:
    """Whether an incoming object is older than the cached one. resourceVersions are opaque, but etcd's
    are increasing integers; anything else is taken as newer."""
    if known is None:
        return False
    incoming = str(meta.get("resourceVersion", ""))
    return incoming.isdigit() and known.isdigit() and int(incoming) < int(known)


def _slim_job(body: dict[str, Any]) -> dict[str, Any]:
    """What the planners read of a build Job: identity, labels, annotations and status. The pod template
    and managedFields are most of a Job's size, and a thousand products keep a thousand Jobs cached."""
    meta = body.get("metadata") or {}
    kept = ("name", "namespace", "uid", "labels", "annotations", "creationTimestamp", "resourceVersion")
    return {"metadata": {k: meta[k] for k in kept if k in meta}, "status": body.get("status") or {}}


def _controlled_by_product(meta: dict[str, Any], uid: str | None) -> bool:
    """Whether a Job's controller is a DataProduct (the one with `uid`, when the product is known)."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "DataProduct" and ref.get("controller") and (uid is None or ref.get("uid") == uid):
            return True
    return False


@dataclass
class InvalidProduct:
    body: dict[str, Any]
    problems: list[Problem]


class _Unreadable(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _problems(error: Exception, path: str, kind: str, name: str) -> list[Problem]:
    """What to report for an object that cannot be read; `path` is where a non-validation failure is placed."""
    if isinstance(error, _Unreadable):
        return error.problems
    if isinstance(error, ValidationError):
        return problems_of(error)
    # Not a validation message: a model bug or a value nobody foresaw. Keep the traceback for the operator's logs.
    logger.warning("cannot read %s %s", kind, name, exc_info=error)
    return [Problem(path, f"cannot be read: {type(error).__name__}: {error}"[:1024])]


def _read_product(body: dict[str, Any], meta: dict[str, Any]) -> DataProduct:
    try:
        spec = DataProductSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        raise _Unreadable(problems_of(error, "spec")) from error
    try:
        status = DataProductStatus.model_validate(body["status"]) if body.get("status") else None
    except Exception:  # the status is ours and only informative: a new one is computed from the spec
        logger.warning("ignoring unreadable status of %s/%s", meta.get("namespace", ""), meta.get("name", ""))
        status = None
    # managedFields is often the largest part of the metadata and nothing here reads it.
    metadata = {k: v for k, v in meta.items() if k != "managedFields"}
    return DataProduct(metadata=metadata, spec=spec, status=status)


@dataclass
class Cache:
    world: World = field(default_factory=World)
    invalid_products: dict[ProductKey, InvalidProduct] = field(default_factory=dict)
    #: resourceVersion of every product seen (valid or not): parsed models are kept, raw bodies are not.
    product_versions: dict[ProductKey, str] = field(default_factory=dict)
    invalid_domains: dict[str, tuple[dict[str, Any], list[Problem]]] = field(default_factory=dict)
    #: Policies that cannot be read, kept out of the world: why, for the policy's status.
    invalid_policies: dict[str, list[Problem]] = field(default_factory=dict)
    jobs: dict[ProductKey, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: The last build Job of a product deleted before it finished (by a user, not by us), so the product's
    #: reconcile can tell "deleted" from "its watch event has not arrived yet".
    lost_jobs: dict[ProductKey, dict[str, Any]] = field(default_factory=dict)
    #: Cached models share their sets of given fields (most of their memory): they are read-only.
    field_sets: FieldSets = field(default_factory=FieldSets)

    # ------------------------------------------------------------------ products
    def put_product(self, body: dict[str, Any]) -> bool:
        """Store a product; False when this version (or a newer one) is cached already, e.g. the watch event of
        our own status write, whose response was stored when it was made."""
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        known = self.product_versions.get(key)
        version = str(meta.get("resourceVersion", ""))
        if _older(meta, known) or (version and version == known):
            return False
        self.product_versions[key] = version
        try:
            product = _read_product(body, meta)
        except Exception as error:
            self.world.products.pop(key, None)
            self.invalid_products[key] = InvalidProduct(body, _problems(error, "spec", "DataProduct", "/".join(key)))
            return True
        self.field_sets.share(product)
        self.invalid_products.pop(key, None)
        self.world.products[key] = product
        return True

    def remember_product(self, body: dict[str, Any]) -> None:
        """The object as the API server returned it after our own write."""
        self.put_product(body)

    def drop_product(self, key: ProductKey) -> None:
        self.world.products.pop(key, None)
        self.invalid_products.pop(key, None)
        self.product_versions.pop(key, None)
        self.lost_jobs.pop(key, None)

    # ------------------------------------------------------------------ domains and policies
    def put_domain(self, body: dict[str, Any]) -> str:
        name = str(body.get("metadata", {}).get("name", ""))
        try:
            domain = Domain.model_validate(body)
            self.field_sets.share(domain)
            self.world.domains[name] = domain
            self.invalid_domains.pop(name, None)
        except Exception as error:
            self.world.domains.pop(name, None)
            self.invalid_domains[name] = (body, _problems(error, "spec", "Domain", name))
        return name

    def drop_domain(self, name: str) -> None:
        self.world.domains.pop(name, None)
        self.invalid_domains.pop(name, None)

    def put_policy(self, body: dict[str, Any]) -> None:
        name = str(body.get("metadata", {}).get("name", ""))
        try:
            policy = GovernancePolicy.model_validate(body)
            self.field_sets.share(policy)
            self.world.policies[name] = policy
            self.invalid_policies.pop(name, None)
        except Exception as error:
            self.world.policies.pop(name, None)
            self.invalid_policies[name] = _problems(error, "spec", "GovernancePolicy", name)
            logger.warning(
                "ignoring invalid GovernancePolicy %s: %s", name, "; ".join(map(str, self.invalid_policies[name]))
            )

    def drop_policy(self, name: str) -> None:
        self.world.policies.pop(name, None)
        self.invalid_policies.pop(name, None)

    # ------------------------------------------------------------------ build jobs
    def put_job(self, body: dict[str, Any], deleted: bool = False) -> ProductKey | None:
        meta = body.get("metadata", {})
        product = (meta.get("labels") or {}).get(LABEL_PRODUCT)
        if not product:
            return None
        key = (meta.get("namespace", ""), product)
        known = self.world.products.get(key)
        if not _controlled_by_product(meta, known.metadata.get("uid") if known is not None else None):
            # Labels are free for anyone who may create a Job: only the product's own Jobs count as its builds.
            return None
        jobs = self.jobs.setdefault(key, {})
        if deleted:
            jobs.pop(meta.get("name", ""), None)
            if not is_finished(body):
                self.lost_jobs[key] = _slim_job(body)
        else:
            jobs[meta.get("name", "")] = _slim_job(body)
            lost = self.lost_jobs.get(key)
            if lost is not None and lost.get("metadata", {}).get("name") != meta.get("name"):
                self.lost_jobs.pop(key, None)  # a newer build replaced it
        return key

    def cached_job(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The cached version of a build Job, if any."""
        meta = body.get("metadata", {})
        product = (meta.get("labels") or {}).get(LABEL_PRODUCT)
        return self.jobs.get((meta.get("namespace", ""), product), {}).get(meta.get("name", "")) if product else None

    def lost_job_of(self, key: ProductKey) -> dict[str, Any] | None:
        return self.lost_jobs.get(key)

    def jobs_of(self, key: ProductKey) -> list[dict[str, Any]]:
        return list(self.jobs.get(key, {}).values())
