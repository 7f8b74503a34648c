"""The Domain kind: a team's self-serve workspace (cluster-scoped)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from datamesh.api import readeroptions
from datamesh.api.common import (
    CONDITIONS_LIST_SCHEMA,
    ApiModel,
    Classification,
    ClassificationLabel,
    ColumnName,
    Condition,
    Description,
    DnsLabel,
    DurationText,
    Quantity,
    QuotaCpuQuantity,
    QuotaMemoryQuantity,
    Rule,
    ShortText,
    TableName,
    duration_bounds,
)
from datamesh.api.dataproduct import Resources

SourceFormat = Literal["delta", "parquet", "csv", "json"]


class SourceColumn(ApiModel):
    """A column of a source table worth declaring: its PII flag and classification."""

    name: ColumnName
    """Column name in the source table."""
    pii: bool = False
    """Whether the column holds personally identifiable information."""
    classification: ClassificationLabel | None = None
    """Classification label, e.g. PERSONAL.EMAIL."""


#: Option names that look like credentials, matched case-insensitively anywhere in the name: a deny pattern on
#: NAMES, so it fails closed (a harmless option such as `fs.s3a.aws.credentials.provider` must go through
#: secretOptions too) and cannot see a credential hidden in an innocent-looking option.
CREDENTIAL_OPTION_PATTERN = re.compile(r"secret|passw|pwd|token|key|sas|credential|signature|jaas", re.IGNORECASE)
OPTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
#: Secrets the operator keeps in domain namespaces (the build Secret holds the mesh-wide masking key): a source
#: must not be able to route them into a reader option, where they could leave the pod (an endpoint, a path).
RESERVED_SECRET_PREFIX = "datamesh-"
MOUNT_PATH_PATTERN = r"^/(data|lake|mnt|srv|var/lib/datamesh)(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"


def _no_credentials(options: dict[str, str]) -> dict[str, str]:
    found = sorted(name for name in options if CREDENTIAL_OPTION_PATTERN.search(name))
    if found:
        raise ValueError(
            f"options {', '.join(found)} look like credentials; reader options travel in the clear (in the build"
            " request and the Job), so put them in secretOptions, which reads the value from a Secret"
        )
    return options


class SecretKeyRef(ApiModel):
    """A key of a Secret in the domain's namespace."""

    rules = (
        Rule(
            f"!self.name.startsWith('{RESERVED_SECRET_PREFIX}')",
            f"Secrets named {RESERVED_SECRET_PREFIX}* belong to the operator and cannot feed reader options",
            lambda m: not m.name.startswith(RESERVED_SECRET_PREFIX),
        ),
    )

    name: Annotated[str, Field(pattern=SECRET_NAME_PATTERN, min_length=1, max_length=253)]
    """Name of the Secret (in the domain's namespace)."""
    key: Annotated[str, Field(pattern=SECRET_KEY_PATTERN, min_length=1, max_length=253)]
    """Key of the value inside the Secret."""


class SecretOption(ApiModel):
    """A reader option whose value is read from a Secret when the build starts, never written anywhere."""

    option: Annotated[str, Field(pattern=OPTION_NAME_PATTERN, min_length=1, max_length=253)]
    """The reader option, e.g. fs.s3a.secret.key."""
    secret_key_ref: SecretKeyRef
    """Where the value is: a key of a Secret in the domain's namespace."""


class Source(ApiModel):
    """A raw table the domain ingests and offers to data products."""

    rules = (
        Rule(
            "!has(self.schema) || self.format in ['csv', 'json']",
            "schema applies to csv and json sources (delta and parquet files carry their own)",
            lambda m: m.schema_ is None or m.format in ("csv", "json"),
        ),
        Rule(
            "!has(self.secretOptions) || !has(self.options) || self.secretOptions.all(s, !(s.option in self.options))",
            "an option is set either in options or in secretOptions, not both",
            lambda m: not any(s.option in m.options for s in m.secret_options),
        ),
        Rule(
            "!has(self.secretOptions) || "
            "self.secretOptions.all(a, self.secretOptions.exists_one(b, b.option == a.option))",
            "each option appears at most once in secretOptions",
            lambda m: len({s.option for s in m.secret_options}) == len(m.secret_options),
        ),
    )

    name: TableName
    """Table name as products refer to it, e.g. bronze.crm.customers."""
    location: Annotated[str, Field(min_length=1, max_length=1024)]
    """Path or object-store URI of the table's files."""
    format: SourceFormat = "delta"
    """delta, parquet, csv or json."""
    options: Annotated[
        dict[str, Annotated[str, Field(max_length=1024)]], Field(max_length=50), AfterValidator(_no_credentials)
    ] = Field(default_factory=dict)
    """Reader options passed to Spark, e.g. {header: "true"} for csv. Written in the clear: names that look like
    credentials (containing secret, password, token, key, sas, credential...) are refused; use secretOptions."""
    secret_options: Annotated[list[SecretOption], Field(max_length=20)] = Field(default_factory=list)
    """Reader options whose values come from Secrets in the domain's namespace (object-store keys, tokens). Only
    products of this domain can read a source that has them: Secrets do not cross namespaces."""
    schema_: Annotated[str | None, Field(alias="schema", min_length=1, max_length=8192)] = None
    """Spark DDL schema of a csv or json source, e.g. `id STRING, n INT`: read as declared, never inferred."""
    description: Description | None = None
    """What the table holds."""
    classification: Classification = "internal"
    """Sensitivity of the table as a whole."""
    columns: Annotated[list[SourceColumn], Field(max_length=500)] = Field(default_factory=list)
    """Columns that carry PII or a classification (others need not be listed)."""

    @model_validator(mode="after")
    def _allowed_options(self) -> Source:
        problems = [
            readeroptions.problem(self.options, self.format, secret=False, field="options"),
            readeroptions.problem([s.option for s in self.secret_options], self.format, secret=True,
                                  field="secretOptions"),
        ]  # fmt: skip
        found = [p for p in problems if p]
        if found:
            raise ValueError("; ".join(found))
        return self


class PersistentVolume(ApiModel):
    """A PersistentVolumeClaim to hold the domain's products."""

    size: Quantity = "10Gi"
    """Requested size of the claim."""
    storage_class_name: ShortText | None = None
    """StorageClass of the claim (default: the cluster's default class)."""
    # Build pods mount the claim here (one subPath per table): never over the image's own files.
    mount_path: Annotated[str, Field(pattern=MOUNT_PATH_PATTERN, max_length=1024)] = "/data"
    """Where build pods mount the volume, under /data, /lake, /mnt, /srv or /var/lib/datamesh; products are stored
    below it."""


class Storage(ApiModel):
    """Where the domain's products are published."""

    rules = (
        Rule(
            "!has(self.volume) || !self.location.contains('://')",
            "a volume holds a filesystem path, not an object-store URI",
            lambda m: m.volume is None or "://" not in m.location,
        ),
    )

    location: Annotated[str, Field(min_length=1, max_length=1024)]
    """Filesystem path or object-store URI (s3a://, abfss://, gs://) under which products are written."""
    volume: PersistentVolume | None = None
    """Provision a PVC for the location (filesystem paths only)."""


class Quota(ApiModel):
    """ResourceQuota for the domain's namespace."""

    cpu: QuotaCpuQuantity | None = None
    """Total CPU requests and limits (at most 100000 cores)."""
    memory: QuotaMemoryQuantity | None = None
    """Total memory requests and limits (at most 1Pi)."""
    pods: Annotated[int, Field(ge=1, le=10000)] | None = None
    """Maximum number of pods."""


class WarmEngine(ApiModel):
    """The domain's Spark Connect server (`engine: connect`): one warm JVM its builds connect to."""

    resources: Resources = Field(default_factory=lambda: Resources(cpu="1", memory="3Gi"))
    """CPU and memory of the engine's pod (its JVM heap is sized from the memory)."""
    idle_after: Annotated[DurationText, duration_bounds("1 day", "1 minute")] = "15 minutes"
    """Scaled to zero replicas after this long without a build; started again by the next build."""


class DomainCompute(ApiModel):
    """Compute defaults for the domain's builds, and its quota."""

    engine: Literal["pod", "connect"] = "pod"
    """Where builds run Spark: `pod` starts a JVM in every build pod; `connect` runs a Spark Connect server for the
    domain (kept warm, scaled to zero when idle), and builds are small pods that connect to it. Products whose
    builds need what the engine cannot give (executors, merge output, object stores, a Python transform) still
    build in their own pod."""
    connect: WarmEngine = Field(default_factory=WarmEngine)
    """The warm engine, when `engine` is `connect`."""

    driver: Resources = Field(default_factory=Resources)
    """Default driver resources."""
    executor: Resources = Field(default_factory=Resources)
    """Default executor resources."""
    executors: Annotated[int, Field(ge=0, le=100)] = 0
    """Default executor count (0: Spark local mode inside the build pod)."""
    quota: Quota | None = None
    """Namespace ResourceQuota."""


class DomainSpec(ApiModel):
    """A team's workspace: who owns it, where it stores products, what raw tables it offers."""

    owner: Annotated[str, Field(min_length=1, max_length=253)]
    """Accountable owner of the domain."""
    description: Annotated[str, Field(min_length=1, max_length=4096)]
    """What the domain covers."""
    namespace: DnsLabel | None = None
    """Namespace the domain owns (default: the Domain's name)."""
    team_groups: Annotated[list[ShortText], Field(max_length=50)] = Field(default_factory=list)
    """Groups that may create and edit DataProducts in the domain."""
    reader_groups: Annotated[list[ShortText], Field(max_length=50)] = Field(default_factory=list)
    """Groups that may view the domain's DataProducts."""
    storage: Storage
    """Where products are published."""
    compute: DomainCompute = Field(default_factory=DomainCompute)
    """Compute defaults and quota."""
    sources: Annotated[list[Source], Field(max_length=200)] = Field(default_factory=list)
    """Raw tables the domain ingests."""


class DomainStatus(ApiModel):
    """Observed state of the domain's workspace."""

    observed_generation: int | None = None
    conditions: Annotated[list[Condition], Field(json_schema_extra=CONDITIONS_LIST_SCHEMA)] = Field(
        default_factory=list
    )
    """Ready, plus NamespaceReady, AccessReady, StorageReady, CatalogSynced."""
    namespace: str | None = None
    """The namespace provisioned for the domain."""
    products: int | None = None
    """Number of DataProducts in the domain."""
    storage_location: str | None = None
    """Resolved storage location."""


class Domain(ApiModel):
    """A domain: a team's self-serve workspace in the mesh."""

    api_version: Literal["datamesh.dev/v1alpha1"] = "datamesh.dev/v1alpha1"
    kind: Literal["Domain"] = "Domain"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: DomainSpec
    status: DomainStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace_name(self) -> str:
        return self.spec.namespace or self.name

    def source(self, name: str) -> Source | None:
        return next((s for s in self.spec.sources if s.name == name), None)
