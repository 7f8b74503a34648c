"""Product rules: what every DataProduct (and, where it makes sense, every Domain) in a policy's scope must satisfy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from datamesh.api.dataproduct import DataProduct, DataProductSpec, QualityCheck
from datamesh.api.domain import Domain
from datamesh.api.durations import parse_duration
from datamesh.api.governancepolicy import GovernancePolicy, ProductRule
from datamesh.governance.policies import in_name_order, policy_name
from datamesh.governance.regex import PatternError, regex_fullmatches
from datamesh.governance.scope import applies_to_domain, applies_to_product

Enforcement = Literal["Deny", "Audit"]
ANY_CLASSIFICATION = "*"
"""minQualityScore key that applies to classifications without a key of their own."""


@dataclass(frozen=True)
class Violation:
    """A product rule an object breaks, with the field to fix first."""

    policy: str
    rule: str
    path: str
    message: str
    enforcement: Enforcement = "Deny"
    """Deny: reject at admission and fail `datamesh validate`. Audit: admit and report only."""

    @property
    def denies(self) -> bool:
        return self.enforcement == "Deny"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}[{self.policy}/{self.rule}] {self.message}"


Finding = tuple[str, str]
"""(field path, message) before it is attributed to a policy and rule."""


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return value is None


def _required_fields(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    spec = product.spec
    for field in rule.required_fields or []:
        if _blank(getattr(spec, field)):
            yield f"spec.{field}", f"{field} is required and must not be empty"


def _pii_classification(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    if not rule.pii_requires_classification:
        return
    for index, column in enumerate(product.spec.schema_):
        if column.pii and not column.classification:
            yield f"spec.schema[{index}].classification", f"PII column {column.name!r} must carry a classification"


def _allowed_classification(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    allowed = rule.allowed_classifications
    if allowed is not None and product.spec.classification not in allowed:
        yield (
            "spec.classification",
            f"classification {product.spec.classification!r} is not allowed (allowed: {', '.join(allowed) or 'none'})",
        )


def _retention(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    bounds = rule.retention
    if bounds is None:
        return
    written = product.spec.governance.retention
    wanted = " and ".join(
        f"{side} {value!r}" for side, value in (("at least", bounds.min), ("at most", bounds.max)) if value
    )
    if written is None:
        yield "spec.governance.retention", f"retention is required{f' ({wanted})' if wanted else ''}"
        return
    retention = parse_duration(written)
    if bounds.min is not None and retention < parse_duration(bounds.min):
        yield "spec.governance.retention", f"retention {written!r} is shorter than the minimum {bounds.min!r}"
    if bounds.max is not None and retention > parse_duration(bounds.max):
        yield "spec.governance.retention", f"retention {written!r} is longer than the maximum {bounds.max!r}"


def minimum_quality_score(rule: ProductRule, classification: str) -> float | None:
    """The rule's floor for a classification: its own key, else the `*` key, else none."""
    floors = rule.min_quality_score or {}
    return floors.get(classification, floors.get(ANY_CLASSIFICATION))


def _quality_score(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    spec = product.spec
    floor = minimum_quality_score(rule, spec.classification)
    if floor is not None and spec.sla.quality_score < floor:
        yield (
            "spec.sla.qualityScore",
            f"qualityScore {spec.sla.quality_score:g} is below the minimum {floor:g}"
            f" for {spec.classification} products",
        )


def _name_pattern(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    if rule.name_pattern is None:
        return
    try:
        matches = regex_fullmatches(rule.name_pattern, product.name)
    except PatternError as error:
        # Fail closed: a broken policy (admitted before check_policy refused such patterns) must not silently
        # admit everything.
        yield "metadata.name", f"cannot check the name: namePattern {error}"
        return
    if not matches:
        yield "metadata.name", f"name {product.name!r} does not match the pattern {rule.name_pattern!r}"


def _guards_key(check: QualityCheck, key: set[str]) -> bool:
    # A unique subset of the key columns makes the whole key unique, so it satisfies the rule too.
    columns = {c for c in [check.column, *(check.columns or [])] if c}
    return (
        check.type == "uniqueness"
        and bool(columns)
        and columns <= key
        and (check.threshold is None or check.threshold >= 1.0)
        and check.severity == "error"
    )


def _unique_key(rule: ProductRule, product: DataProduct) -> Iterator[Finding]:
    if not rule.require_unique_key:
        return
    spec: DataProductSpec = product.spec
    key = spec.primary_key
    if not key:
        yield "spec.schema", "declare the product's key: mark its column(s) primaryKey"
        return
    if not any(_guards_key(check, set(key)) for check in spec.governance.quality_checks):
        yield (
            "spec.governance.qualityChecks",
            f"add a uniqueness check over the primary key ({', '.join(key)}) with threshold 1.0 and severity error",
        )


PRODUCT_CHECKS: tuple[Callable[[ProductRule, DataProduct], Iterator[Finding]], ...] = (
    _required_fields,
    _pii_classification,
    _allowed_classification,
    _retention,
    _quality_score,
    _name_pattern,
    _unique_key,
)


def check_product_rule(rule: ProductRule, product: DataProduct) -> list[Finding]:
    """Every breach of one rule by one product, ignoring scope."""
    return [finding for check in PRODUCT_CHECKS for finding in check(rule, product)]


def check_product(policies: Iterable[GovernancePolicy], product: DataProduct) -> list[Violation]:
    """Every product-rule violation of `product` under the policies whose scope selects it (policy-name order)."""
    return [
        Violation(policy_name(policy), rule.name, path, message, policy.spec.enforcement)
        for policy in in_name_order(policies)
        if applies_to_product(policy.spec.scope, product)
        for rule in policy.spec.product_rules
        for path, message in check_product_rule(rule, product)
    ]


def _domain_findings(rule: ProductRule, domain: Domain) -> Iterator[Finding]:
    for field in ("owner", "description"):
        if field in (rule.required_fields or []) and _blank(getattr(domain.spec, field)):
            yield f"spec.{field}", f"{field} is required and must not be empty"
    if rule.pii_requires_classification:
        for s, source in enumerate(domain.spec.sources):
            for c, column in enumerate(source.columns):
                if column.pii and not column.classification:
                    yield (
                        f"spec.sources[{s}].columns[{c}].classification",
                        f"PII column {column.name!r} of source {source.name!r} must carry a classification",
                    )


def check_domain(policies: Iterable[GovernancePolicy], domain: Domain) -> list[Violation]:
    """The product rules that make sense for a Domain: required owner/description, and PII columns of its
    sources carrying a classification (access rules rely on those labels). Label-scoped policies are skipped."""
    return [
        Violation(policy_name(policy), rule.name, path, message, policy.spec.enforcement)
        for policy in in_name_order(policies)
        if applies_to_domain(policy.spec.scope, domain)
        for rule in policy.spec.product_rules
        for path, message in _domain_findings(rule, domain)
    ]
