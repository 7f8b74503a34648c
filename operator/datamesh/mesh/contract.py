"""What the operator hands a build and what the build hands back.

The operator resolves everything a build needs (input locations, access decisions, output location)
into a `BuildRequest`; the build pod runs `python -m datamesh.build` with it and reports a `BuildResult`
on stdout and in `/dev/termination-log`, where the operator reads it from the pod status. Both sides
import this module, so the wire format cannot drift.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from datamesh import masking, settings
from datamesh.api.common import ApiModel
from datamesh.api.dataproduct import CheckResult, DataProductSpec
from datamesh.api.domain import SourceFormat

#: Kubernetes keeps at most 4096 bytes of a container's termination message.
TERMINATION_MESSAGE_LIMIT = 4096
REQUEST_ENV = settings.BUILD_REQUEST.name
#: JSON pod template of Spark's executor pods, when the build runs executors (the build writes it to a file).
EXECUTOR_TEMPLATE_ENV = settings.EXECUTOR_POD_TEMPLATE.name
#: The executor container's name in that template.
EXECUTOR_CONTAINER = "executor"
#: The mesh-wide PII masking key (hex) in the build pod: a secretKeyRef to the domain's build Secret.
MASKING_KEY_ENV = masking.MASKING_KEY_ENV
#: Where the kubelet reads a container's termination message (the container spec's default path).
TERMINATION_LOG = "/dev/termination-log"

PiiMode = Literal["exclude", "mask", "clear"]


def secret_env(input_index: int, option_index: int) -> str:
    """The build pod's environment variable holding secret option `option_index` of input `input_index`."""
    return settings.SECRET_OPTION.name.replace("<input>", str(input_index)).replace("<option>", str(option_index))


class SecretOptionRef(ApiModel):
    """A reader option whose value the build reads from its environment: the request names the variable and the
    Secret it comes from (in the build's namespace), never the value."""

    option: str
    env: Annotated[str, Field(pattern=r"^DATAMESH_SECRET_[0-9]+_[0-9]+$")]
    """The environment variable holding the value (see `secret_env`)."""
    secret: str
    """Name of the Secret in the build's namespace."""
    key: str
    """Key of the value inside the Secret."""


class ResolvedInput(ApiModel):
    """An input with its location resolved and the consumer's view of its PII columns decided."""

    view: str
    """Name the transform sees: the input's alias, or its source name (backtick-quoted in SQL)."""
    kind: Literal["source", "product"]
    ref: str
    """The source table name or `namespace/product` reference as declared."""
    domain: str
    location: str
    format: SourceFormat = "delta"
    options: dict[str, str] = Field(default_factory=dict)
    """Reader options written in the clear (never credentials: those are in secret_options)."""
    secret_options: list[SecretOptionRef] = Field(default_factory=list)
    """Reader options whose values the build reads from its environment."""
    read_schema: str | None = None
    """Spark DDL schema to read a csv/json source with (the source's `schema`); None: the files' or inferred."""
    pii_columns: list[str] = Field(default_factory=list)
    """Columns of this input that hold PII."""
    pii: PiiMode = "clear"
    """What the consuming product may see of pii_columns: exclude, mask (HMAC-SHA256 with the mesh-wide key, hex)
    or clear."""


class BuildRequest(ApiModel):
    """Everything one build needs; serialised as JSON into the build pod's environment."""

    namespace: str
    name: str
    domain: str
    generation: int = 0
    run_id: str
    trigger: str = "spec"
    spec: DataProductSpec
    inputs: list[ResolvedInput]
    output_location: str
    """Where the Delta table is published."""
    storage_root: str | None = None
    """The domain's storage root: the build refuses to write outside it (build/confine.py). None only in local
    builds (`datamesh build --local`), which write where the user's own manifests say."""
    no_op: bool = False
    """Skip Spark entirely and report success: the scale benchmark measures only the control loop."""
    product_uid: str = ""
    """The DataProduct's metadata.uid: the publish commit carries it, so the operator can tell its own commits."""
    share_copies: list[Literal["mask", "exclude"]] = Field(default_factory=list)
    """The Delta Sharing copies (datamesh.sharing_copy) to write after the publish: one per PII treatment that a
    recipient domain's grant gives, decided by the operator (mesh.access.share_copies)."""

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BuildRequest:
        return cls.model_validate_json(text)


class DeleteRequest(ApiModel):
    """What a deletion Job (`deletionPolicy: Delete`) removes: one product's table, strictly inside its storage."""

    action: Literal["delete"] = "delete"
    namespace: str
    name: str
    domain: str
    product_uid: str
    """Only a Delta table whose commits carry this uid (and no other product's) is deleted."""
    location: str
    """The table's location, as the operator computes it."""
    storage_root: str
    """The domain's storage location: the table must lie strictly inside it."""

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"))


Outcome = Literal["Published", "QualityFailed", "Failed", "NoOp"]


class RetentionResult(ApiModel):
    column: str
    cutoff: datetime
    rows_removed: int


class BuildResult(ApiModel):
    """The outcome of one build."""

    outcome: Outcome
    run_id: str | None = None
    message: Annotated[str, Field(max_length=2048)] | None = None
    """One line saying why a build did not publish."""
    reason: str | None = None
    """CamelCase reason for conditions: InputMissing, SqlError, SchemaViolation, QualityFailed, StorageError..."""
    quality_score: float | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    row_count: int | None = None
    table_version: int | None = None
    location: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    data_updated_at: datetime | None = None
    input_versions: dict[str, int] = Field(default_factory=dict)
    retention: RetentionResult | None = None
    warnings: Annotated[list[Annotated[str, Field(max_length=512)]], Field(max_length=8)] = Field(default_factory=list)
    """Steps that failed after the publish, which left the new version live: vacuum, metastore registration."""

    @property
    def published(self) -> bool:
        return self.outcome in ("Published", "NoOp")

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"))

    def to_termination_message(self) -> str:
        """The result as JSON of at most 4096 bytes: passing checks go first, then messages shrink."""
        text = self.to_json()
        if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
            return text
        slim = self.model_copy(deep=True)
        slim.checks = [c for c in slim.checks if not c.passed]
        slim.input_versions = {}
        for check in slim.checks:
            check.message = None
        text = slim.to_json()
        while len(text.encode()) > TERMINATION_MESSAGE_LIMIT and slim.checks:
            slim.checks.pop()
            text = slim.to_json()
        if len(text.encode()) > TERMINATION_MESSAGE_LIMIT and (slim.message or slim.warnings):
            slim.message = slim.message[:500] if slim.message else None
            slim.warnings = [w[:200] for w in slim.warnings[:4]]
            text = slim.to_json()
        return text

    @classmethod
    def from_json(cls, text: str) -> BuildResult:
        return cls.model_validate_json(text)
