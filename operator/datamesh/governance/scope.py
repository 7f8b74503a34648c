"""Which products and domains a policy's product rules apply to."""

from __future__ import annotations

from datamesh.api.dataproduct import DataProduct
from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import PolicyScope
from datamesh.governance.attributes import glob_matches


def _domain_selected(scope: PolicyScope, domain: str) -> bool:
    return scope.domains is None or any(glob_matches(pattern, domain) for pattern in scope.domains)


def applies_to_product(scope: PolicyScope, product: DataProduct) -> bool:
    """Both selectors must hold: the product's domain matches a name or glob of `domains` (when set), and the
    product carries every label of `matchLabels` (when set). An empty scope selects every product."""
    labels = product.metadata.get("labels") or {}
    wanted = scope.match_labels or {}
    return _domain_selected(scope, product.spec.domain) and all(labels.get(k) == v for k, v in wanted.items())


def applies_to_domain(scope: PolicyScope, domain: Domain) -> bool:
    """A policy applies to a Domain when `domains` selects it and it does not narrow itself by `matchLabels`
    (labels select products, so a label-scoped policy is about some products, not about whole domains)."""
    return not scope.match_labels and _domain_selected(scope, domain.name)
