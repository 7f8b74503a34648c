"""resource.classification = the product's (or source's) classification plus its column labels."""

from __future__ import annotations

import pytest

from datamesh.api.domain import Source
from datamesh.governance import domain_resource, product_column_resource, product_resource, source_resource
from tests.governance.factories import product

COLUMNS = [
    {"name": "customer_id", "type": "string", "primaryKey": True},
    {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
    {"name": "segment", "type": "string", "classification": "BUSINESS.SEGMENT"},
]
CUSTOMERS = product("customers", "sales", classification="confidential", schema=COLUMNS)


def test_product_resource() -> None:
    resource = product_resource(CUSTOMERS)
    assert resource.attributes() == {
        "resource.domain": {"sales"},
        "resource.product": {"customers"},
        "resource.classification": {"confidential", "PERSONAL.EMAIL", "BUSINESS.SEGMENT"},
        "resource.column.classification": {"PERSONAL.EMAIL", "BUSINESS.SEGMENT"},
    }


def test_column_resource_carries_only_its_own_label() -> None:
    email = product_column_resource(CUSTOMERS, "email").attributes()
    assert email["resource.classification"] == {"confidential", "PERSONAL.EMAIL"}
    assert email["resource.column.classification"] == {"PERSONAL.EMAIL"}
    unlabelled = product_column_resource(CUSTOMERS, "customer_id").attributes()
    assert unlabelled["resource.column.classification"] == frozenset()


def test_column_resource_of_an_unknown_column() -> None:
    with pytest.raises(KeyError, match="no column 'nope'"):
        product_column_resource(CUSTOMERS, "nope")


def test_source_resource_has_no_product() -> None:
    source = Source.model_validate(
        {
            "name": "bronze.crm.customers",
            "location": "/lake",
            "classification": "confidential",
            "columns": [{"name": "email", "pii": True, "classification": "PERSONAL.EMAIL"}, {"name": "id"}],
        }
    )
    attributes = source_resource("sales", source).attributes()
    assert attributes["resource.product"] == frozenset()
    assert attributes["resource.classification"] == {"confidential", "PERSONAL.EMAIL"}
    assert attributes["resource.column.classification"] == {"PERSONAL.EMAIL"}


def test_domain_resource_only_names_the_domain() -> None:
    attributes = domain_resource("sales").attributes()
    assert attributes["resource.domain"] == {"sales"}
    assert not any(attributes[name] for name in attributes if name != "resource.domain")
