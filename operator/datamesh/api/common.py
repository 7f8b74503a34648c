"""Building blocks shared by every kind: the base model, condition shape and constrained scalars.

Every model here is the single source of truth for its CRD schema: field docstrings become the
descriptions `kubectl explain` prints, constraints become OpenAPI validations, and class-level
`x-kubernetes-validations` carry the CEL rules that span fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from datamesh.api.durations import DURATION_PATTERN, MAX_DURATION_TEXT, parse_duration

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


def duration_bounds(maximum: str, minimum: str | None = None) -> AfterValidator:
    """A Duration field's own bounds, e.g. `Annotated[DurationText, duration_bounds("7 days", "1s")]`: the operator
    turns durations into deadlines and dates, so what is not meant must not reach that arithmetic."""
    longest = parse_duration(maximum)
    shortest = parse_duration(minimum) if minimum is not None else None

    def check(value: str) -> str:
        parsed = parse_duration(value, maximum=longest, maximum_text=maximum)
        if shortest is not None and parsed < shortest:
            raise ValueError(f"{value.strip()} is shorter than the minimum of {minimum}")
        return value

    return AfterValidator(check)


DurationText = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=64, examples=["1 hour", "90m", "7 years"])]
"""A duration's wire shape only; give a field of this type its bounds with `duration_bounds`."""

Duration = Annotated[DurationText, duration_bounds(MAX_DURATION_TEXT)]
"""A human-written duration such as "1 hour", "1h", "90m", "1h30m" or "7 years", at most 100 years."""

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
QuantityText = Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=32, examples=["500m", "2Gi"])]
"""A quantity's wire shape only; give a field of this type its bounds with `quantity_bounds`."""

_QUANTITY_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{suffix: Decimal(1000) ** power for power, suffix in enumerate(("k", "M", "G", "T", "P", "E"), start=1)},
    **{suffix: Decimal(1024) ** power for power, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), start=1)},
}


class QuantityError(ValueError):
    """A quantity outside the QUANTITY_PATTERN subset, or out of bounds."""


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity written in the QUANTITY_PATTERN subset (`500m`, `2`, `4Gi`): cores or
    bytes. Exact: a Decimal, whatever the number of digits."""
    number = text.rstrip("kmMGTPEi")
    suffix = text[len(number) :]
    whole, dot, fraction = number.partition(".")
    digits = whole.isascii() and whole.isdigit() and (not dot or (fraction.isascii() and fraction.isdigit()))
    if suffix not in _QUANTITY_SUFFIXES or not digits:
        raise QuantityError(f"invalid quantity {text!r}: write a number and an optional unit, e.g. '500m', '2Gi'")
    with localcontext(prec=len(number) + 32):  # enough digits for the largest suffix: no rounding
        return Decimal(number) * _QUANTITY_SUFFIXES[suffix]


def quantity_bounds(minimum: str, maximum: str, unit: str = "") -> AfterValidator:
    """A Quantity field's bounds, e.g. `Annotated[QuantityText, quantity_bounds("1m", "64", " cores")]`: a quantity is
    handed to Kubernetes and Spark as written (e.g. `local[<cores>]`), so an absurd one must be refused here."""
    least, most = parse_quantity(minimum), parse_quantity(maximum)

    def check(value: str) -> str:
        parsed = parse_quantity(value)
        if parsed > most:
            raise QuantityError(f"{value} is more than the maximum of {maximum}{unit}")
        if parsed < least:
            raise QuantityError(f"{value} is less than the minimum of {minimum}{unit}")
        return value

    return AfterValidator(check)


Quantity = Annotated[QuantityText, quantity_bounds("0", "1Ei")]
"""A Kubernetes resource quantity such as `500m`, `2` or `4Gi`."""

CpuQuantity = Annotated[QuantityText, quantity_bounds("1m", "64", " cores")]
"""CPU of one process: at least 1m, at most 64 cores."""

MemoryQuantity = Annotated[QuantityText, quantity_bounds("1Mi", "1Ti")]
"""Memory of one process: at least 1Mi, at most 1Ti."""

QuotaCpuQuantity = Annotated[QuantityText, quantity_bounds("1m", "100000", " cores")]
"""CPU of a whole namespace quota."""

QuotaMemoryQuantity = Annotated[QuantityText, quantity_bounds("1Mi", "1Pi")]
"""Memory of a whole namespace quota."""

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
