"""Building blocks shared by every kind: the base model, condition shape and constrained scalars.

Every model here is the single source of truth for its CRD schema: field docstrings become the
descriptions `kubectl explain` prints, constraints become OpenAPI validations, and class-level
`x-kubernetes-validations` carry the CEL rules that span fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from datamesh.api.durations import DURATION_PATTERN, parse_duration

GROUP = "datamesh.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Rule:
    """A rule spanning fields, enforced twice from one place: as CEL by the API server (`cel`) and in
    Python (`check`) by offline validation and the operator, so both give the same message."""

    cel: str
    message: str
    check: Callable[[Any], bool]


class ApiModel(BaseModel):
    """Base for every API object: camelCase on the wire, snake_case in Python, unknown fields refused."""

    rules: ClassVar[tuple[Rule, ...]] = ()

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=False,
    )

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        for rule in type(self).rules:
            if not rule.check(self):
                raise ValueError(rule.message)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        if cls.rules:
            target = handler.resolve_ref_schema(schema)
            target["x-kubernetes-validations"] = [{"rule": r.cel, "message": r.message} for r in cls.rules]
        return schema

    def to_wire(self) -> dict[str, Any]:
        """The object as Kubernetes stores it: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, max_length=64, examples=["1 hour", "90m", "7 years"]),
    AfterValidator(_check_duration),
]
"""A human-written duration such as "1 hour", "1h", "90m", "1h30m" or "7 years"."""

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
"""A Kubernetes DNS label (namespaces, object names): lowercase letters, digits and '-'."""

TABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
TableName = Annotated[str, Field(pattern=TABLE_NAME_PATTERN, min_length=1, max_length=253)]
"""A dotted table name such as `bronze.crm.customers`."""

COLUMN_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ColumnName = Annotated[str, Field(pattern=COLUMN_NAME_PATTERN, min_length=1, max_length=128)]

CLASSIFICATION_LABEL_PATTERN = r"^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)*$"
ClassificationLabel = Annotated[
    str, Field(pattern=CLASSIFICATION_LABEL_PATTERN, max_length=128, examples=["PERSONAL.EMAIL"])
]
"""A dotted, upper-case data classification label for a column, e.g. `PERSONAL.EMAIL`."""

QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=32, examples=["500m", "2Gi"])]
"""A Kubernetes resource quantity such as `500m`, `2` or `4Gi`."""

ShortText = Annotated[str, Field(max_length=253)]
Description = Annotated[str, Field(max_length=4096)]

Classification = Literal["public", "internal", "confidential", "restricted"]
"""How sensitive a product is as a whole: public < internal < confidential < restricted."""

ConditionStatus = Literal["True", "False", "Unknown"]


CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


class Condition(ApiModel):
    """One aspect of the object's state, in the shape of Kubernetes' metav1.Condition."""

    type: Annotated[str, Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    """The aspect this condition describes, e.g. Ready, Validated, QualityPassed, Fresh."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]
    """A CamelCase word for why the condition has its status, for machines and dashboards."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """A human-readable explanation."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the condition was computed from."""
    last_transition_time: datetime
    """When the status last changed (not when the condition was last written)."""


CONDITIONS_LIST_SCHEMA: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
