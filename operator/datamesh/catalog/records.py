"""Translate Domains, DataProducts and GovernancePolicies into catalog rows (pure: no database access)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datamesh.api.common import Condition
from datamesh.api.dataproduct import DataProduct
from datamesh.api.domain import Domain
from datamesh.api.durations import parse_duration
from datamesh.mesh.versions import major_of

#: Build outcomes that end a run and therefore belong in the quality history (Running does not).
FINISHED_OUTCOMES = ("Published", "QualityFailed", "Failed")


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; everything the catalog stores is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def content_hash(*parts: Any) -> str:
    """A stable digest of JSON-able values: lets an upsert skip rewriting rows that did not change."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def condition(conditions: list[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def condition_flag(conditions: list[Condition], kind: str) -> bool | None:
    """True/False for a condition with that status; None when it is missing or Unknown."""
    found = condition(conditions, kind)
    if found is None or found.status == "Unknown":
        return None
    return found.status == "True"


@dataclass
class DomainRecord:
    name: str
    values: dict[str, Any]
    owners: list[dict[str, Any]]
    spec_hash: str


def domain_record(domain: Domain) -> DomainRecord:
    spec = domain.spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    owners = [{"principal": domain.spec.owner, "role": "owner"}]
    owners += [{"principal": group, "role": "team"} for group in domain.spec.team_groups]
    owners += [{"principal": group, "role": "reader"} for group in domain.spec.reader_groups]
    digest = content_hash(spec)
    return DomainRecord(
        name=domain.name,
        values={
            "namespace": domain.namespace_name,
            "owner": domain.spec.owner,
            "description": domain.spec.description,
            "storage_location": domain.spec.storage.location,
            "spec": spec,
            "spec_hash": digest,
        },
        owners=owners,
        spec_hash=digest,
    )


@dataclass
class ProductRecord:
    """Everything the catalog stores about one product, split by table."""

    namespace: str
    name: str
    spec_hash: str
    """Digest of what the spec-derived tables hold: they are rewritten only when it changes."""
    product: dict[str, Any]
    columns: list[dict[str, Any]]
    tags: list[str]
    sla: dict[str, Any]
    lineage: list[dict[str, Any]]
    owners: list[dict[str, Any]]
    freshness: dict[str, Any]
    quality_run: dict[str, Any] | None = field(default=None)
    """The last build, when it has finished: recorded once per run id."""
    versions: list[dict[str, Any]] = field(default_factory=list)
    """The majors the product serves: the current one and status.previousVersions (one catalog entry each)."""


def _spec_rows(product: DataProduct) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    spec = product.spec
    columns = [
        {
            "position": position,
            "name": column.name,
            "type": column.type,
            "description": column.description,
            "nullable": column.nullable,
            "pii": column.pii,
            "classification": column.classification,
            "primary_key": column.primary_key,
        }
        for position, column in enumerate(spec.schema_)
    ]
    lineage = [
        {
            "direction": "input",
            "kind": "source" if item.source else "product",
            "ref": item.ref,
            "domain": item.domain or spec.domain,
            "alias": item.alias,
            "location": None,
            "endpoint": None,
        }
        for item in spec.inputs
    ]
    lineage += [
        {
            "direction": "output",
            "kind": output.format,
            "ref": output.name,
            "domain": spec.domain,
            "alias": None,
            "location": output.location,
            "endpoint": output.endpoint,
        }
        for output in spec.outputs
    ]
    sla = {
        "freshness": spec.sla.freshness,
        "freshness_seconds": parse_duration(spec.sla.freshness).total_seconds(),
        "availability": spec.sla.availability,
        "min_quality_score": spec.sla.quality_score,
    }
    return columns, lineage, sla


def _quality_run(product: DataProduct) -> dict[str, Any] | None:
    status = product.status
    build = status.last_build if status else None
    if status is None or build is None or not build.run_id or build.outcome not in FINISHED_OUTCOMES:
        return None
    measured = build.outcome in ("Published", "QualityFailed")
    return {
        "run_id": build.run_id,
        "outcome": build.outcome,
        "reason": build.reason,
        "trigger": build.trigger,
        "quality_score": status.quality_score if measured else None,
        "checks": [check.to_wire() for check in status.checks] if measured else [],
        "row_count": status.row_count if build.outcome == "Published" else None,
        "table_version": status.table_version if build.outcome == "Published" else None,
        "started_at": build.started_at,
        "finished_at": build.finished_at,
    }


def product_record(product: DataProduct) -> ProductRecord:
    spec = product.spec
    status = product.status
    conditions = status.conditions if status else []
    wire_spec = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    labels = dict(product.metadata.get("labels") or {})
    columns, lineage, sla = _spec_rows(product)
    data_updated_at = status.data_updated_at if status else None
    fresh = condition(conditions, "Fresh")
    stale_after = data_updated_at + parse_duration(spec.sla.freshness) if data_updated_at else None
    build = status.last_build if status else None
    return ProductRecord(
        namespace=str(product.metadata.get("namespace") or "default"),
        name=product.name,
        spec_hash=content_hash(wire_spec, labels),
        product={
            "domain": spec.domain,
            "owner": spec.owner,
            "description": spec.description,
            "classification": spec.classification,
            "version": spec.version,
            "access_policy": spec.governance.access_policy,
            "shared": spec.governance.access_policy != "domain-internal" or bool(spec.governance.grants),
            "labels": labels,
            "spec": wire_spec,
            "generation": product.metadata.get("generation"),
            "conditions": [c.to_wire() for c in conditions],
            "ready": condition_flag(conditions, "Ready"),
            "quality_score": status.quality_score if status else None,
            "row_count": status.row_count if status else None,
            "table_version": status.table_version if status else None,
            "location": status.location if status else None,
            "data_updated_at": data_updated_at,
            "last_run_id": build.run_id if build else None,
            "last_outcome": build.outcome if build else None,
        },
        columns=columns,
        tags=sorted(set(spec.tags)),
        sla=sla,
        lineage=lineage,
        owners=[{"principal": spec.owner, "role": "owner"}],
        freshness={
            "data_updated_at": data_updated_at,
            "stale_after": stale_after,
            "fresh": condition_flag(conditions, "Fresh"),
            "reason": (fresh.message or fresh.reason)[:1024] if fresh else None,
            "next_build_at": status.next_build_at if status else None,
        },
        quality_run=_quality_run(product),
        versions=_versions(product),
    )


def _versions(product: DataProduct) -> list[dict[str, Any]]:
    """One row per served major. While a new major builds, status.location still names the previous major's table
    (listed among the previous ones): the current major then has no table yet."""
    status = product.status
    previous = status.previous_versions if status else []
    old_tables = {p.location for p in previous}
    published = status is not None and status.location is not None and status.location not in old_tables
    current: dict[str, Any] = {
        "major": major_of(product.spec.version),
        "version": product.spec.version,
        "current": True,
        "location": status.location if published and status else None,
        "table_version": status.table_version if published and status else None,
        "consumers": [],
        "until": None,
    }
    older = [
        {"major": p.major, "version": p.version, "current": False, "location": p.location,
         "table_version": p.table_version, "consumers": list(p.consumers), "until": p.until}
        for p in previous
        if p.major != current["major"]
    ]  # fmt: skip
    return [current, *older]
