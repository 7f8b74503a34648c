"""What is accessed, as attributes: a data product, one of its columns, a domain's source table, or a domain.

`resource.classification` is everything a resource is labelled with: the classification of the product (or
source) as a whole *and* the classification labels of its columns. So a rule that permits resources whose
classification excludes `PERSONAL.*` does not permit a product carrying a `PERSONAL.EMAIL` column.
`resource.column.classification` holds only the column labels (of all columns for a whole product, of the one
column for a column resource). A domain as a resource has only `resource.domain`.
"""

from __future__ import annotations

from dataclasses import dataclass

from datamesh.api.dataproduct import Column, DataProduct
from datamesh.api.domain import Source


@dataclass(frozen=True)
class Resource:
    """The object of an access decision."""

    domain: str
    product: str | None = None
    classification: frozenset[str] = frozenset()
    column_classification: frozenset[str] = frozenset()

    def attributes(self) -> dict[str, frozenset[str]]:
        """The resource.* attributes; an empty set means the attribute is missing."""
        return {
            "resource.domain": frozenset({self.domain}) if self.domain else frozenset(),
            "resource.product": frozenset({self.product}) if self.product else frozenset(),
            "resource.classification": self.classification,
            "resource.column.classification": self.column_classification,
        }


def _labels(columns: list[Column]) -> frozenset[str]:
    return frozenset(c.classification for c in columns if c.classification)


def product_resource(product: DataProduct) -> Resource:
    """A whole data product: its classification plus every column label."""
    labels = _labels(product.spec.schema_)
    return Resource(
        domain=product.spec.domain,
        product=product.name,
        classification=frozenset({product.spec.classification}) | labels,
        column_classification=labels,
    )


def product_column_resource(product: DataProduct, column_name: str) -> Resource:
    """One column of a data product: the product's classification plus that column's label."""
    column = next((c for c in product.spec.schema_ if c.name == column_name), None)
    if column is None:
        raise KeyError(f"DataProduct {product.name!r} has no column {column_name!r}")
    label = frozenset({column.classification}) if column.classification else frozenset()
    return Resource(
        domain=product.spec.domain,
        product=product.name,
        classification=frozenset({product.spec.classification}) | label,
        column_classification=label,
    )


def source_resource(domain: str, source: Source) -> Resource:
    """A domain's source table: its classification plus the labels of its declared columns (no resource.product)."""
    labels = frozenset(c.classification for c in source.columns if c.classification)
    return Resource(
        domain=domain,
        classification=frozenset({source.classification}) | labels,
        column_classification=labels,
    )


def domain_resource(domain: str) -> Resource:
    """A domain as a whole (catalog discovery): only resource.domain is set."""
    return Resource(domain=domain)
