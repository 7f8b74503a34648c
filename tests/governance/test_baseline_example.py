"""The seed's two access rules as shipped in examples/policies/baseline.yaml, against the example mesh."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamesh.governance import (
    Principal,
    evaluate_access,
    principal_for,
    product_column_resource,
    product_resource,
)
from datamesh.manifests import Mesh, load_mesh

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return load_mesh([EXAMPLES])


def test_domain_members_are_permitted_on_their_products(mesh: Mesh) -> None:
    sales_team = principal_for("ann", ["sales-data-team"], mesh.domains.values())
    decision = evaluate_access(
        [mesh.policies["baseline"]], sales_team, product_resource(mesh.find_product("customer-360"))
    )
    assert decision.allowed
    assert str(decision.rule) == "baseline/own-domain"


def test_outsiders_are_not_permitted_on_products_with_personal_columns(mesh: Mesh) -> None:
    marketing_team = principal_for("bob", ["marketing-data-team"], mesh.domains.values())
    assert marketing_team.domains == {"marketing"}
    decision = evaluate_access(
        [mesh.policies["baseline"]], marketing_team, product_resource(mesh.find_product("customer-360"))
    )
    assert not decision.allowed
    assert decision.effect is None


def test_anyone_is_permitted_on_non_personal_columns(mesh: Mesh) -> None:
    customer_360 = mesh.find_product("customer-360")
    outsider = Principal(user="eve")
    baseline = [mesh.policies["baseline"]]
    assert evaluate_access(baseline, outsider, product_column_resource(customer_360, "lifetime_value")).allowed
    assert not evaluate_access(baseline, outsider, product_column_resource(customer_360, "email")).allowed


def test_readers_of_every_domain_are_members_of_every_domain(mesh: Mesh) -> None:
    analyst = principal_for("cy", ["analysts"], mesh.domains.values())
    assert analyst.domains == {"sales", "marketing", "customer-success"}
    assert evaluate_access(
        [mesh.policies["baseline"]], analyst, product_resource(mesh.find_product("customer-360"))
    ).allowed
