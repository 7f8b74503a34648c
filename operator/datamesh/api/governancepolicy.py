"""The GovernancePolicy kind: federated, computational rules for the whole mesh (cluster-scoped).

Two kinds of rules: access rules in the attribute-based shape of the seed (effect plus a condition in
disjunctive normal form) and product rules every DataProduct in scope must satisfy.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from datamesh.api.common import (
    CONDITIONS_LIST_SCHEMA,
    ApiModel,
    Classification,
    Condition,
    Description,
    Duration,
    Rule,
    ShortText,
)

AttributeName = Literal[
    "resource.domain",
    "resource.classification",
    "resource.product",
    "resource.column.classification",
    "principal.group",
    "principal.domain",
    "principal.user",
]
RequirableField = Literal["owner", "description", "sla", "version", "tags"]
AttributeValue = Annotated[str, Field(max_length=253)]


class AttributeMatch(ApiModel):
    """One attribute test; glob patterns such as PERSONAL.* are allowed in values."""

    rules = (
        Rule(
            "has(self.attributeValueIncludes) || has(self.attributeValueIncludedIn)"
            " || has(self.attributeValueExcludes)",
            "set attributeValueIncludes, attributeValueIncludedIn or attributeValueExcludes",
            lambda m: any(
                v is not None
                for v in (m.attribute_value_includes, m.attribute_value_included_in, m.attribute_value_excludes)
            ),
        ),
    )

    attribute_name: AttributeName
    """The attribute tested."""
    attribute_value_includes: AttributeValue | None = None
    """The attribute's values include this value (or match this glob)."""
    attribute_value_included_in: Annotated[list[AttributeValue], Field(max_length=100)] | None = None
    """Some value of the attribute is one of these (or matches one of these globs)."""
    attribute_value_excludes: Annotated[list[AttributeValue], Field(max_length=100)] | None = None
    """No value of the attribute is one of these (or matches one of these globs)."""


class AccessRule(ApiModel):
    """Permit or deny when the condition holds. Deny wins; without a matching Permit, access is denied."""

    name: ShortText | None = None
    """Name reported in decisions."""
    effect: Literal["Permit", "Deny"]
    """Permit or Deny when the condition holds."""
    dnf_condition: Annotated[
        list[Annotated[list[AttributeMatch], Field(min_length=1, max_length=20)]], Field(min_length=1, max_length=20)
    ]
    """A list of AND-clauses, OR-ed together."""


class RetentionBounds(ApiModel):
    """Allowed range of governance.retention."""

    min: Duration | None = None
    """Shortest retention allowed."""
    max: Duration | None = None
    """Longest retention allowed."""


class ProductRule(ApiModel):
    """Constraints a DataProduct in scope must satisfy; violations are reported under the rule's name."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$", max_length=128)]
    """Name reported with every violation."""
    description: Description | None = None
    """Why the rule exists, shown with violations."""
    required_fields: Annotated[list[RequirableField], Field(max_length=10)] | None = None
    """Fields that must be set and non-empty."""
    pii_requires_classification: bool | None = None
    """Every column marked pii must carry a classification."""
    allowed_classifications: Annotated[list[Classification], Field(max_length=4)] | None = None
    """Product classifications allowed."""
    retention: RetentionBounds | None = None
    """Bounds on governance.retention; when set, retention is required."""
    min_quality_score: Annotated[dict[str, Annotated[float, Field(ge=0, le=1)]], Field(max_length=4)] | None = None
    """Minimum sla.qualityScore per classification, e.g. {confidential: 0.99}."""
    name_pattern: Annotated[str, Field(max_length=253)] | None = None
    """Regular expression product names must match."""
    require_unique_key: bool | None = None
    """The product must declare a primaryKey and a uniqueness check over it."""


class PolicyScope(ApiModel):
    """Which products and domains a policy applies to (everything when empty)."""

    domains: Annotated[list[Annotated[str, Field(max_length=63)]], Field(max_length=100)] | None = None
    """Domain names or globs."""
    match_labels: Annotated[dict[str, Annotated[str, Field(max_length=63)]], Field(max_length=20)] | None = None
    """Labels the DataProduct must carry."""


class GovernancePolicySpec(ApiModel):
    """Federated governance rules."""

    description: Description | None = None
    """What the policy is for."""
    scope: PolicyScope = Field(default_factory=PolicyScope)
    """Which products the product rules apply to."""
    access_rules: Annotated[list[AccessRule], Field(max_length=100)] = Field(default_factory=list)
    """Attribute-based access rules."""
    product_rules: Annotated[list[ProductRule], Field(max_length=100)] = Field(default_factory=list)
    """Rules every product in scope must satisfy."""
    enforcement: Literal["Deny", "Audit"] = "Deny"
    """Deny: reject non-compliant objects at admission. Audit: admit them, report Compliant=False."""


class GovernancePolicyStatus(ApiModel):
    """Observed state of the policy."""

    observed_generation: int | None = None
    conditions: Annotated[list[Condition], Field(json_schema_extra=CONDITIONS_LIST_SCHEMA)] = Field(
        default_factory=list
    )
    non_compliant: int | None = None
    """Products in scope that violate a product rule."""


class GovernancePolicy(ApiModel):
    """A federated governance policy."""

    api_version: Literal["datamesh.dev/v1alpha1"] = "datamesh.dev/v1alpha1"
    kind: Literal["GovernancePolicy"] = "GovernancePolicy"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: GovernancePolicySpec
    status: GovernancePolicyStatus | None = None
