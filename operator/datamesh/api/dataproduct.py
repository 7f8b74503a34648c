"""The DataProduct kind: a data contract plus what it takes to build, check and publish it.

Vocabulary follows the Open Data Contract Standard where it fits (`schema`, `primaryKey`,
`classification`, quality `dimension`-style check types, SLA `freshness`/`availability`) so a contract
reads familiar to people who know ODCS.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from datamesh.api import sqlcheck
from datamesh.api.common import (
    CONDITIONS_LIST_SCHEMA,
    DNS_LABEL_PATTERN,
    ApiModel,
    Classification,
    ClassificationLabel,
    ColumnName,
    Condition,
    CpuQuantity,
    Description,
    DnsLabel,
    Duration,
    DurationText,
    MemoryQuantity,
    Rule,
    ShortText,
    TableName,
    duration_bounds,
)

SPARK_TYPE_PATTERN = (
    r"^(string|boolean|byte|tinyint|short|smallint|int|integer|long|bigint|float|double|date|timestamp"
    r"|timestamp_ntz|binary|decimal(\(\s*[0-9]{1,2}\s*,\s*[0-9]{1,2}\s*\))?)$"
)
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4}\S+)$"
ENTRY_POINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$"
SEMVER_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"
PERCENT_PATTERN = r"^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)%$"

Fraction = Annotated[float, Field(gt=0, le=1)]
"""A share of rows between 0 (exclusive) and 1."""


class Column(ApiModel):
    """One column of the published table: the contract consumers rely on."""

    name: ColumnName
    """Column name as it appears in the published table."""
    type: Annotated[str, Field(pattern=SPARK_TYPE_PATTERN, max_length=32)]
    """Spark SQL type: string, int, long, double, decimal or decimal(p,s), boolean, date, timestamp, ..."""
    description: Description | None = None
    """What the column means."""
    nullable: bool = False
    """Whether nulls are allowed. Non-nullable columns are subject to the completeness check."""
    pii: bool = False
    """Whether the column holds personally identifiable information; masked or excluded for consumers
    without clearance."""
    classification: ClassificationLabel | None = None
    """Data classification label of the column, e.g. PERSONAL.EMAIL."""
    primary_key: bool = False
    """Part of the product's key: used by merge writes and required-uniqueness governance rules."""


class Sla(ApiModel):
    """Service levels the product promises its consumers."""

    freshness: Annotated[DurationText, duration_bounds("5 years")]
    """Maximum age of the published data, e.g. "1 hour" (at most 5 years). Rebuilds are scheduled to stay within it."""
    availability: Annotated[str, Field(pattern=PERCENT_PATTERN)] | None = None
    """Target availability of the published outputs, e.g. "99.9%"."""
    quality_score: Annotated[float, Field(ge=0, le=1)] = 0.95
    """Minimum quality score (0 to 1) a build must reach to be published."""


class Input(ApiModel):
    """Something the product reads: a source table of a domain, or another data product."""

    rules = (
        Rule(
            "has(self.source) != has(self.product)",
            "set exactly one of source or product",
            lambda m: (m.source is None) != (m.product is None),
        ),
        Rule(
            "!has(self.version) || has(self.product)",
            "version pins the major version of a product input; a source has none",
            lambda m: m.version is None or m.product is not None,
        ),
    )

    source: TableName | None = None
    """A raw table registered by a Domain, e.g. bronze.crm.customers."""
    product: DnsLabel | None = None
    """The name of another DataProduct."""
    domain: DnsLabel | None = None
    """The domain that owns the source or product (default: this product's domain)."""
    alias: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)] | None = None
    """Name under which the transform sees this input. Default: the source name as written (quote it
    with backticks in SQL, e.g. `bronze.crm.customers`) or the product name with '-' turned into '_'."""
    version: Annotated[str, Field(pattern=r"^\^?(0|[1-9][0-9]{0,3})$", max_length=5)] | None = None
    """For a product input: the major version of its contract to read, e.g. "1" or "^1" (the same). While the
    product serves that major side by side with a newer one, this input keeps reading it; unset follows the
    current major (docs/lifecycle.md)."""

    @property
    def ref(self) -> str:
        return self.source or self.product or ""

    @property
    def view(self) -> str:
        """The name the transform reads this input under (see `alias`)."""
        if self.alias:
            return self.alias
        if self.source:
            return self.source
        return (self.product or "").replace("-", "_")


class Transform(ApiModel):
    """How the product is computed from its inputs."""

    rules = (
        Rule(
            "has(self.sql) != has(self.python)",
            "set exactly one of sql or python",
            lambda m: (m.sql is None) != (m.python is None),
        ),
    )

    sql: Annotated[str, Field(min_length=1, max_length=65536)] | None = None
    """A Spark SQL query over the inputs (each visible under its alias or quoted name)."""
    python: Annotated[str, Field(pattern=ENTRY_POINT_PATTERN, max_length=253)] | None = None
    """A Python entry point `module:function` called as function(spark, inputs) and returning a DataFrame."""
    allow_extra_columns: bool = False
    """Keep columns the transform returns beyond the declared schema instead of failing the build."""


OutputFormat = Literal["delta", "rest"]


class Output(ApiModel):
    """Where the product is published."""

    rules = (
        Rule(
            "self.format == 'delta' || !has(self.mode)",
            "mode applies to delta outputs only",
            lambda m: m.format == "delta" or m.mode is None,
        ),
    )

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][-A-Za-z0-9_]*$", max_length=128)]
    """Name of the output port."""
    format: OutputFormat
    """delta: a Delta Lake table; rest: rows served by the discovery API."""
    location: Annotated[str, Field(max_length=1024)] | None = None
    """Table location (path or object-store URI). Default: <domain storage>/<product name>."""
    endpoint: Annotated[str, Field(max_length=1024)] | None = None
    """Public address of a REST output, for the catalog."""
    mode: Literal["overwrite", "merge"] | None = None
    """overwrite (default) replaces the table; merge upserts on the primary key columns."""


_COLUMN_CHECKS = ("notNull", "acceptedValues", "range", "format", "freshness")
CheckType = Literal[
    "completeness", "uniqueness", "notNull", "acceptedValues", "range", "format", "rowCount", "freshness", "sql"
]


class QualityCheck(ApiModel):
    """A data-quality expectation, measured on every build before anything is published."""

    rules = (
        Rule(
            "self.type != 'uniqueness' || has(self.column) || has(self.columns)",
            "a uniqueness check needs column or columns",
            lambda m: m.type != "uniqueness" or m.column is not None or m.columns is not None,
        ),
        Rule(
            "!(self.type in ['notNull', 'acceptedValues', 'range', 'format', 'freshness']) || has(self.column)",
            "notNull, acceptedValues, range, format and freshness checks need column",
            lambda m: m.type not in _COLUMN_CHECKS or m.column is not None,
        ),
        Rule(
            "self.type != 'acceptedValues' || has(self.values)",
            "an acceptedValues check needs values",
            lambda m: m.type != "acceptedValues" or m.values is not None,
        ),
        Rule(
            "!(self.type in ['range', 'rowCount']) || has(self.min) || has(self.max)",
            "range and rowCount checks need min or max",
            lambda m: m.type not in ("range", "rowCount") or m.min is not None or m.max is not None,
        ),
        Rule(
            "self.type != 'format' || has(self.pattern)",
            "a format check needs pattern",
            lambda m: m.type != "format" or m.pattern is not None,
        ),
        Rule(
            "self.type != 'freshness' || has(self.maxAge)",
            "a freshness check needs maxAge",
            lambda m: m.type != "freshness" or m.max_age is not None,
        ),
        Rule(
            "self.type != 'sql' || has(self.expression)",
            "a sql check needs expression",
            lambda m: m.type != "sql" or m.expression is not None,
        ),
    )

    type: CheckType
    """completeness, uniqueness, notNull, acceptedValues, range, format, rowCount, freshness or sql."""
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$", max_length=128)] | None = None
    """Name reported in results (default: type, plus the column when there is one)."""
    column: ColumnName | None = None
    """The column checked."""
    columns: Annotated[list[ColumnName], Field(min_length=1, max_length=32)] | None = None
    """Columns checked together (uniqueness of a column set) or the subset of columns for completeness."""
    threshold: Fraction | None = None
    """Minimum share of rows that must pass (default 1.0; completeness defaults to 0.99)."""
    values: Annotated[list[Annotated[str, Field(max_length=1024)]], Field(max_length=1000)] | None = None
    """Accepted values (acceptedValues)."""
    min: float | None = None
    """Lower bound (range: column value; rowCount: number of rows)."""
    max: float | None = None
    """Upper bound (range: column value; rowCount: number of rows)."""
    pattern: Annotated[str, Field(max_length=1024)] | None = None
    """Java regular expression the values must match (format)."""
    max_age: Duration | None = None
    """Newest value of the timestamp column must be at most this old (freshness)."""
    expression: Annotated[str, Field(max_length=8192)] | None = None
    """A boolean Spark SQL expression every row must satisfy (sql), e.g. `session_count >= 0`."""
    severity: Literal["error", "warn"] = "error"
    """error: a failure blocks publishing; warn: reported only."""

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.column:
            return f"{self.type}.{self.column}"
        if self.columns:
            return f"{self.type}.{'+'.join(self.columns)}"
        return self.type


AccessPolicy = Literal["domain-internal", "organization", "public"]


class Grant(ApiModel):
    """An explicit grant of read access to consumers outside what the access policy allows."""

    rules = (
        Rule(
            "has(self.domains) || has(self.groups)",
            "a grant names domains or groups",
            lambda m: m.domains is not None or m.groups is not None,
        ),
    )

    domains: Annotated[list[DnsLabel], Field(max_length=100)] | None = None
    """Consumer domains granted read access."""
    groups: Annotated[list[ShortText], Field(max_length=100)] | None = None
    """Groups (as authenticated by Kubernetes) granted read access."""
    pii: Literal["exclude", "mask", "clear"] = "mask"
    """What these consumers see of PII columns: left out, masked (hashed), or in clear."""


class Governance(ApiModel):
    """Retention, access and quality rules of the product."""

    retention: Duration | None = None
    """How long rows are kept, e.g. "7 years". With retentionColumn, older rows are deleted on every build."""
    retention_column: ColumnName | None = None
    """The timestamp or date column retention is measured on."""
    access_policy: AccessPolicy = "domain-internal"
    """Who may read: domain-internal (the owning domain), organization (every domain), public."""
    grants: Annotated[list[Grant], Field(max_length=100)] = Field(default_factory=list)
    """Extra readers beyond the access policy."""
    quality_checks: Annotated[list[QualityCheck], Field(max_length=200)] = Field(default_factory=list)
    """Quality expectations checked on every build."""


class Resources(ApiModel):
    """CPU and memory of one Spark process (driver or executor)."""

    cpu: CpuQuantity = "1"
    """CPU request and limit, e.g. "1" or "500m" (1m to 64 cores)."""
    memory: MemoryQuantity = "2Gi"
    """Memory request and limit, e.g. "2Gi" (1Mi to 1Ti)."""


class Compute(ApiModel):
    """Compute used by the build (defaults come from the Domain)."""

    driver: Resources | None = None
    """Spark driver resources (the build pod itself)."""
    executor: Resources | None = None
    """Resources of each executor pod."""
    executors: Annotated[int, Field(ge=0, le=100)] | None = None
    """Number of executor pods; 0 runs Spark in local mode inside the build pod."""
    # It becomes the Job's activeDeadlineSeconds: whole seconds, at least one.
    timeout: Annotated[DurationText, duration_bounds("7 days", "1 second")] | None = None
    """A build running longer than this is failed (default 1 hour; 1 second to 7 days)."""


#: A schedule must fire within this long of any moment, or it is a typo (Feb 30 never comes, Feb 29 every 4 years).
SCHEDULE_HORIZON = timedelta(days=366)
_SCHEDULE_STARTS = 4


def schedule_problem(schedule: str, now: datetime) -> str | None:
    """Why `schedule` cannot drive rebuilds, or None: croniter must accept it, and it must fire within 366 days of
    `now` and of the start of each of the next 4 years. The search is bounded (croniter looks one year ahead)."""
    from croniter import CroniterBadDateError, CroniterError, croniter

    # Random (R) and hashed (H) fields draw a new time whenever the expression is read: no stable schedule.
    terms = [term for field in schedule.split() for term in field.split(",")]
    if any(term[:1] in ("R", "r", "H", "h") for term in terms):
        return f"invalid cron expression {schedule!r}: random (R) and hashed (H) values are not supported"
    try:
        if not croniter.is_valid(schedule):
            return f"invalid cron expression {schedule!r}"
        starts = [now, *(datetime(now.year + n, 1, 1, tzinfo=UTC) for n in range(1, _SCHEDULE_STARTS + 1))]
        for start in starts:
            following = croniter(schedule, start, max_years_between_matches=1).get_next(datetime)
            if following - start > SCHEDULE_HORIZON:
                return f"cron expression {schedule!r} does not fire within 366 days of {start:%Y-%m-%d}"
    except CroniterBadDateError:  # no match within croniter's one-year search
        return f"cron expression {schedule!r} does not fire within a year"
    except (CroniterError, ValueError, OverflowError, TypeError, KeyError, IndexError) as error:
        return f"invalid cron expression {schedule!r}: {error}"
    return None


ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _iso_date(value: str) -> str:
    # The pattern admits 2026-02-30; only a real calendar date may reach the sunset arithmetic.
    date.fromisoformat(value)
    return value


IsoDate = Annotated[
    str, Field(pattern=ISO_DATE_PATTERN, max_length=10, examples=["2027-01-31"]), AfterValidator(_iso_date)
]
"""A calendar date written YYYY-MM-DD (no time, no time zone)."""


class ProductRef(ApiModel):
    """Another DataProduct, named as an input names it."""

    product: DnsLabel
    """The product's name."""
    domain: DnsLabel | None = None
    """Its domain (default: this product's domain)."""


class Deprecation(ApiModel):
    """The product is on its way out: consumers are warned (a Deprecated condition and a Warning Event on each)
    and should move to `replacement` before `sunset`."""

    rules = (
        Rule(
            "self.sunset >= self.since",
            "deprecation.sunset must not be before deprecation.since",
            lambda m: m.sunset >= m.since,
        ),
    )

    since: IsoDate
    """When the product was deprecated, YYYY-MM-DD."""
    sunset: IsoDate
    """The date after which consumers must not rely on the product any more, YYYY-MM-DD."""
    replacement: ProductRef | None = None
    """The product consumers should read instead."""

    @property
    def sunset_date(self) -> date:
        return date.fromisoformat(self.sunset)


class DataProductSpec(ApiModel):
    """The data contract: what the product is, what it promises and how it is built."""

    rules = (
        Rule(
            "!self.outputs.exists(o, has(o.mode) && o.mode == 'merge') || self.schema.exists(c, c.primaryKey)",
            "a merge output needs a primaryKey column in schema",
            lambda m: not any(o.mode == "merge" for o in m.outputs) or any(c.primary_key for c in m.schema_),
        ),
    )

    domain: DnsLabel
    """The Domain that owns this product."""
    owner: Annotated[str, Field(min_length=1, max_length=253)]
    """Accountable owner: a team address or name, e.g. sales-data-team@company.com."""
    description: Annotated[str, Field(min_length=1, max_length=4096)]
    """What the product is for, in a sentence or two."""
    classification: Classification = "internal"
    """Sensitivity of the product as a whole: public, internal, confidential or restricted."""
    version: Annotated[str, Field(pattern=SEMVER_PATTERN, max_length=64)] | None = None
    """Semantic version of the contract."""
    tags: Annotated[list[Annotated[str, Field(max_length=63)]], Field(max_length=50)] = Field(default_factory=list)
    """Free-form tags for discovery."""
    sla: Sla
    """Service levels."""
    schema_: Annotated[list[Column], Field(alias="schema", min_length=1, max_length=500)]
    """Columns of the published table."""
    inputs: Annotated[list[Input], Field(min_length=1, max_length=50)]
    """What the product reads."""
    transform: Transform | None = None
    """How the product is computed. A contract without one is validated and catalogued but not built."""
    outputs: Annotated[list[Output], Field(min_length=1, max_length=10)]
    """Where the product is published."""
    governance: Governance = Field(default_factory=Governance)
    """Retention, access policy and quality checks."""
    compute: Compute | None = None
    """Resources of the build."""
    schedule: Annotated[str, Field(pattern=CRON_PATTERN, max_length=128)] | None = None
    """Cron schedule of rebuilds (UTC). Default: derived from sla.freshness."""
    suspend: bool = False
    """Stop scheduled and triggered rebuilds (the published data stays)."""
    deletion_policy: Literal["Retain", "Delete"] = "Retain"
    """What happens to the published data when the product is deleted."""
    deprecation: Deprecation | None = None
    """Deprecation notice: since, sunset and the replacement consumers should move to (docs/lifecycle.md)."""

    @field_validator("schema_")
    @classmethod
    def _unique_columns(cls, columns: list[Column]) -> list[Column]:
        seen: set[str] = set()
        for column in columns:
            key = column.name.lower()
            if key in seen:
                raise ValueError(f"duplicate column name {column.name!r}")
            seen.add(key)
        return columns

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        problem = schedule_problem(value, datetime.now(UTC)) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> DataProductSpec:
        names = {c.name for c in self.schema_}
        problems = []
        for check in self.governance.quality_checks:
            for column in [check.column, *(check.columns or [])]:
                if column and column not in names:
                    problems.append(f"quality check {check.display_name!r} names unknown column {column!r}")
        column = self.governance.retention_column
        if column and column not in names:
            problems.append(f"governance.retentionColumn names unknown column {column!r}")
        seen_aliases: set[str] = set()
        for item in self.inputs:
            key = item.view.lower()
            if key in seen_aliases:
                problems.append(f"input {item.view!r} is listed twice (give one an alias)")
            seen_aliases.add(key)
        if self.transform is not None and self.transform.sql is not None:
            problems.extend(sqlcheck.problems(self.transform.sql, [i.view for i in self.inputs]))
        columns = [c.name for c in self.schema_]
        for index, check in enumerate(self.governance.quality_checks):
            if check.type == "sql" and check.expression is not None:
                where = f"governance.qualityChecks[{index}].expression"
                problems.extend(sqlcheck.expression_problems(check.expression, columns, where))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.schema_ if c.primary_key]


class CheckResult(ApiModel):
    """The measured outcome of one quality check on the last build."""

    name: str
    type: CheckType
    value: float | None = None
    """Measured value (share of passing rows, row count, age in seconds, ...)."""
    threshold: float | None = None
    """What the value was compared with."""
    passed: bool
    severity: Literal["error", "warn"] = "error"
    message: Annotated[str, Field(max_length=1024)] | None = None


class BuildInfo(ApiModel):
    """The last build the operator ran for this product."""

    job: str | None = None
    """Name of the Kubernetes Job."""
    trigger: str | None = None
    """Why it ran: spec, schedule, upstream, manual, retry."""
    run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    outcome: Literal["Running", "Published", "QualityFailed", "Failed"] | None = None
    """Running, Published, QualityFailed or Failed."""
    reason: str | None = None
    """CamelCase reason of a failure, e.g. SqlError, SchemaViolation, DeadlineExceeded, Unschedulable."""
    message: Annotated[str, Field(max_length=4096)] | None = None
    attempt: int | None = None
    """1 for the first try of a trigger; retries count up."""
    generation: int | None = None
    """The metadata.generation the build was for."""
    token: str | None = None
    """What triggered it, as a stable key (deterministic Job names derive from it)."""


ALL_COLUMNS = "*"
"""A consumer's column list holding this reads every column (SELECT *, a Python transform, SQL that cannot be
read column by column)."""


class Consumer(ApiModel):
    """A product that reads this one as an input, and the columns its transform uses."""

    namespace: DnsLabel
    name: DnsLabel
    domain: DnsLabel
    columns: Annotated[
        list[Annotated[str, Field(pattern=r"^(\*|[A-Za-z_][A-Za-z0-9_]*)$", max_length=128)]], Field(max_length=501)
    ] = Field(default_factory=list)
    """Columns of this product the consumer's transform reads; ["*"] when it reads all of them or cannot tell."""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def reads_all(self) -> bool:
        return ALL_COLUMNS in self.columns

    def uses(self, column: str) -> bool:
        """Whether the consumer reads `column` (Spark column names are case-insensitive)."""
        return self.reads_all or column.lower() in {c.lower() for c in self.columns}


class PreviousVersion(ApiModel):
    """An older major version of the contract, still served at its own table for the consumers that pin it."""

    major: Annotated[int, Field(ge=0)]
    """The major version."""
    version: str | None = None
    """The last spec.version published under this major, when known."""
    location: str
    """Where its table lies (operator-computed, never written by a tenant)."""
    table_version: int | None = None
    """The Delta table version last published under this major."""
    consumers: list[str] = Field(default_factory=list)
    """namespace/name of the products whose inputs pin this major."""
    until: str | None = None
    """spec.deprecation.sunset (YYYY-MM-DD) when set: after it the major is retired even with consumers left."""


class Share(ApiModel):
    """One recipient of the product's Delta share (docs/sharing.md)."""

    recipient: DnsLabel
    """The consumer domain."""
    table: Annotated[str, Field(max_length=256)]
    """The table it reads, as `share.schema.table` (the profile's `#` suffix)."""
    pii: Literal["clear", "mask", "exclude"]
    """What the recipient sees of PII columns (its grant)."""
    secret: Annotated[str, Field(max_length=512)]
    """Where its profile file is: `namespace/name` of the Secret, then `:key`."""
    expires_at: datetime
    """When its token expires; it is rotated before that."""
    token_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    """SHA-256 of the token (what the catalog stores; opens nothing), so a rotation or revocation removes it."""


class DataProductStatus(ApiModel):
    """Observed state of the product: conditions, quality and freshness of the published data."""

    observed_generation: int | None = None
    """The metadata.generation the status reflects."""
    conditions: Annotated[list[Condition], Field(json_schema_extra=CONDITIONS_LIST_SCHEMA)] = Field(
        default_factory=list
    )
    """Validated, InputsReady, Built, QualityPassed, Fresh, Compliant, CatalogSynced and the Ready summary."""
    quality_score: float | None = None
    """Quality score of the last build (mean of check scores, 0 to 1)."""
    checks: list[CheckResult] = Field(default_factory=list)
    """Per-check results of the last build."""
    row_count: int | None = None
    """Rows in the published table."""
    table_version: int | None = None
    """Delta table version currently published."""
    published_generation: int | None = None
    """The metadata.generation the published data was built from."""
    data_updated_at: datetime | None = None
    """When the published data was last refreshed."""
    location: str | None = None
    """Location of the published Delta table."""
    last_build: BuildInfo | None = None
    """The most recent build."""
    next_build_at: datetime | None = None
    """When the next scheduled build is due."""
    upstream_versions: dict[str, int] = Field(default_factory=dict)
    """Table versions of the upstream products the published data was built from."""
    handled_rebuild_request: str | None = None
    """The last datamesh.dev/rebuild annotation value acted on."""
    consumers: list[Consumer] = Field(default_factory=list)
    """The products that read this one, with the columns they use (docs/lifecycle.md)."""
    consumer_count: int | None = None
    """How many products read this one (the length of consumers, for `kubectl get dp -o wide`)."""
    # -- side-by-side majors (docs/lifecycle.md): kept as one block at the end of the status.
    published_version: str | None = None
    """spec.version of the contract the published data was built from."""
    home_major: int | None = None
    """The major version the product first published: its table keeps the product's location; every other major
    publishes to the sibling <location>@v<major>."""
    previous_versions: Annotated[list[PreviousVersion], Field(max_length=100)] = Field(default_factory=list)
    """Older major versions still served side by side with the current one, each at its own table, until no
    consumer pins it any more or spec.deprecation.sunset passes."""
    retired_locations: Annotated[list[str], Field(max_length=100)] = Field(default_factory=list)
    """Tables of retired major versions: no longer served, kept, and deleted with the product under
    deletionPolicy Delete (operator-computed, never written by a tenant)."""
    # --- Delta Sharing recipients (issue 16): kept as one block at the end of the status.
    shares: Annotated[list[Share], Field(max_length=1000)] = Field(default_factory=list)
    """The domains that read this product through its Delta share, the table each reads and where its profile is."""
    handled_share_rotation: str | None = None
    """The last datamesh.dev/rotate-share annotation value acted on (every recipient's token was rotated)."""


class DataProduct(ApiModel):
    """A data product: a contract the operator validates, builds, checks, publishes and catalogues."""

    api_version: Literal["datamesh.dev/v1alpha1"] = "datamesh.dev/v1alpha1"
    kind: Literal["DataProduct"] = "DataProduct"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: DataProductSpec
    status: DataProductStatus | None = None

    @model_validator(mode="after")
    def _name_fits_job_names(self) -> DataProduct:
        name = self.metadata.get("name")
        if name is not None and not (isinstance(name, str) and len(name) <= 40 and re.match(DNS_LABEL_PATTERN, name)):
            raise ValueError(
                "metadata.name must be a DNS label of at most 40 characters (it names the product's build Jobs)"
            )
        replacement = self.spec.deprecation.replacement if self.spec.deprecation else None
        if replacement is not None and replacement.product == name and replacement.domain in (None, self.spec.domain):
            raise ValueError("spec.deprecation.replacement names the product itself")
        return self

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        value = self.metadata.get("namespace")
        return str(value) if value else None
