"""Small builders for governance tests: valid models with only the interesting parts spelled out."""

from __future__ import annotations

from typing import Any, Literal

from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.api.governancepolicy import AccessRule, AttributeMatch


def match(attribute: str, **operators: Any) -> AttributeMatch:
    """`match("resource.domain", includes="sales")`; operators: includes, included_in, excludes."""
    return AttributeMatch.model_validate(
        {"attributeName": attribute, **{f"attribute_value_{name}": value for name, value in operators.items()}}
    )


def rule(effect: Literal["Permit", "Deny"], *clauses: list[AttributeMatch], name: str | None = None) -> AccessRule:
    return AccessRule(name=name, effect=effect, dnf_condition=[list(clause) for clause in clauses])


def policy(
    name: str = "p",
    *,
    access_rules: list[AccessRule] | None = None,
    product_rules: list[dict[str, Any]] | None = None,
    scope: dict[str, Any] | None = None,
    enforcement: str = "Deny",
) -> GovernancePolicy:
    return GovernancePolicy.model_validate(
        {
            "apiVersion": "datamesh.dev/v1alpha1",
            "kind": "GovernancePolicy",
            "metadata": {"name": name},
            "spec": {
                "scope": scope or {},
                "accessRules": [r.model_dump(by_alias=True, exclude_none=True) for r in access_rules or []],
                "productRules": product_rules or [],
                "enforcement": enforcement,
            },
        }
    )


def product_body(name: str = "orders", domain: str = "sales", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name},
        "spec": {
            "domain": domain,
            "owner": "team@company.com",
            "description": "Orders.",
            "sla": {"freshness": "1 hour"},
            "schema": [{"name": "order_id", "type": "string"}],
            "inputs": [{"source": "bronze.crm.orders"}],
            "outputs": [{"name": "out", "format": "delta"}],
        },
    }
    body["spec"].update(spec)
    return body


def product(
    name: str = "orders", domain: str = "sales", *, labels: dict[str, str] | None = None, **spec: Any
) -> DataProduct:
    body = product_body(name, domain, **spec)
    if labels:
        body["metadata"]["labels"] = labels
    return DataProduct.model_validate(body)


def domain(
    name: str = "sales", *, team: list[str] | None = None, readers: list[str] | None = None, **spec: Any
) -> Domain:
    return Domain.model_validate(
        {
            "apiVersion": "datamesh.dev/v1alpha1",
            "kind": "Domain",
            "metadata": {"name": name},
            "spec": {
                "owner": f"{name}@company.com",
                "description": f"The {name} domain.",
                "teamGroups": team if team is not None else [f"{name}-team"],
                "readerGroups": readers or [],
                "storage": {"location": f"/lake/{name}"},
                **spec,
            },
        }
    )
