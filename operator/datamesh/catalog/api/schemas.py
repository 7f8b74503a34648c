"""Response models of the discovery API: they give the OpenAPI document its shapes (camelCase on the wire)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


Health = Literal["healthy", "degraded", "failing", "unknown"]


class ProductSummary(Wire):
    """One row of the discovery query (the seed's columns first)."""

    name: str
    domain: str
    owner: str
    description: str
    sla_freshness: str | None = Field(description="The SLA's maximum data age, e.g. '1 hour'.")
    quality_score: float | None = Field(description="Quality score of the last build, 0 to 1.")
    last_updated: str | None = Field(description="When the published data was last refreshed (ISO 8601).")
    namespace: str
    classification: str
    version: str | None = None
    tags: list[str] = Field(default_factory=list)
    min_quality_score: float | None = Field(None, description="The SLA's minimum quality score.")
    ready: bool | None = None
    fresh: bool | None = None
    health: Health = Field(description="healthy, degraded (stale or below SLA quality), failing or unknown.")
    row_count: int | None = None
    readable: bool = Field(description="Whether the caller may read the data (REST output), per governance.")
    pii_mode: Literal["exclude", "mask", "clear"] = Field(description="What the caller sees of PII columns.")
    href: str


class SchemaColumn(Wire):
    name: str
    type: str
    description: str | None = None
    nullable: bool
    pii: bool
    classification: str | None = None
    primary_key: bool


class SlaView(Wire):
    freshness: str | None
    freshness_seconds: float | None
    availability: str | None
    quality_score: float | None


class FreshnessView(Wire):
    fresh: bool | None
    data_updated_at: str | None
    stale_after: str | None = Field(description="dataUpdatedAt plus the SLA freshness.")
    next_build_at: str | None
    reason: str | None


class QualityRun(Wire):
    run_id: str
    outcome: str
    reason: str | None
    trigger: str | None
    quality_score: float | None
    checks: list[dict[str, Any]]
    row_count: int | None
    table_version: int | None
    started_at: str | None
    finished_at: str | None


class LineageView(Wire):
    inputs: list[dict[str, Any]] = Field(description="Sources and upstream products the product reads.")
    outputs: list[dict[str, Any]] = Field(description="Output ports (delta, rest).")
    downstream: list[dict[str, Any]] = Field(description="Visible products that read this product.")


class VersionView(Wire):
    """A major version the product serves (docs/lifecycle.md)."""

    major: int
    version: str | None
    current: bool = Field(description="The contract's current major; the others are served for pinned readers.")
    location: str | None = Field(description="Its table (None while the current major has not published).")
    table_version: int | None
    consumers: list[str] = Field(description="namespace/name of the products pinning this (older) major.")
    until: str | None = Field(description="The sunset after which an older major is retired.")


class ProductDetail(ProductSummary):
    access_policy: str
    labels: dict[str, str]
    schema_: list[SchemaColumn] = Field(alias="schema")
    sla: SlaView
    freshness: FreshnessView
    status: dict[str, Any]
    quality_history: list[QualityRun] = Field(description="Finished builds, newest first (at most 50).")
    lineage: LineageView
    versions: list[VersionView] = Field(
        default_factory=list, description="The majors it serves, newest first: one entry each."
    )


class DomainView(Wire):
    name: str
    namespace: str
    owner: str
    description: str
    products: int
    member: bool = Field(description="Whether the caller belongs to the domain (team or reader group).")


class GraphNode(Wire):
    id: str
    kind: Literal["domain", "product", "source", "external"]
    name: str
    domain: str | None = None
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class GraphEdge(Wire):
    source: str
    target: str
    kind: Literal["input"]
    alias: str | None = None


class Graph(Wire):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class RowsResponse(Wire):
    product: str
    table_version: int = Field(description="Pass it as `version` to page through the same snapshot.")
    columns: list[str]
    pii_mode: Literal["exclude", "mask", "clear"]
    masked: list[str] = Field(description="Columns whose values are SHA-256 hex of the value.")
    offset: int
    limit: int
    next_offset: int | None
    rows: list[dict[str, Any]]


class WhoAmI(Wire):
    user: str
    groups: list[str]
    domains: list[str] = Field(description="Domains the caller is a member of.")
    visible_domains: list[str] = Field(description="Domains whose products the caller may discover.")
