"""API models of the datamesh.dev group: the single source of truth for the CRDs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from datamesh.api.common import API_VERSION, GROUP, VERSION
from datamesh.api.dataproduct import DataProduct, DataProductSpec, DataProductStatus
from datamesh.api.domain import Domain, DomainSpec, DomainStatus
from datamesh.api.governancepolicy import GovernancePolicy, GovernancePolicySpec, GovernancePolicyStatus


def _ready(column: str = "Ready") -> dict[str, Any]:
    return {"name": column, "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'}


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


@dataclass(frozen=True)
class Kind:
    """How one kind is served: names, scope, the models behind spec and status, and kubectl columns."""

    kind: str
    plural: str
    singular: str
    scope: str
    short_names: list[str]
    spec: type[BaseModel]
    status: type[BaseModel]
    model: type[BaseModel]
    description: str
    categories: list[str] = field(default_factory=lambda: ["datamesh"])
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    name_rule: tuple[str, str] | None = None

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


DOMAIN = Kind(
    kind="Domain",
    plural="domains",
    singular="domain",
    scope="Cluster",
    short_names=["dom"],
    spec=DomainSpec,
    status=DomainStatus,
    model=Domain,
    description="A team's self-serve workspace: namespace, access, storage, quota and source tables.",
    printer_columns=[
        {"name": "Owner", "type": "string", "jsonPath": ".spec.owner"},
        {"name": "Namespace", "type": "string", "jsonPath": ".status.namespace"},
        {"name": "Products", "type": "integer", "jsonPath": ".status.products"},
        _ready(),
        _AGE,
    ],
    name_rule=(
        "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
        "metadata.name must be a DNS label (lowercase letters, digits, '-', at most 63 characters)",
    ),
)

DATA_PRODUCT = Kind(
    kind="DataProduct",
    plural="dataproducts",
    singular="dataproduct",
    scope="Namespaced",
    short_names=["dp"],
    spec=DataProductSpec,
    status=DataProductStatus,
    model=DataProduct,
    description="A data product: contract, build, quality checks and publication of a Delta table.",
    printer_columns=[
        {"name": "Domain", "type": "string", "jsonPath": ".spec.domain"},
        {"name": "Owner", "type": "string", "jsonPath": ".spec.owner"},
        _ready(),
        {"name": "Quality", "type": "number", "jsonPath": ".status.qualityScore"},
        {
            "name": "Freshness",
            "type": "date",
            "jsonPath": ".status.dataUpdatedAt",
            "description": "Age of the published data",
        },
        {
            "name": "Reason",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        },
        {"name": "Version", "type": "integer", "priority": 1, "jsonPath": ".status.tableVersion"},
        {"name": "Consumers", "type": "integer", "priority": 1, "jsonPath": ".status.consumerCount"},
        _AGE,
    ],
    name_rule=(
        "self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
        "metadata.name must be a DNS label of at most 40 characters (it names the product's build Jobs)",
    ),
)

GOVERNANCE_POLICY = Kind(
    kind="GovernancePolicy",
    plural="governancepolicies",
    singular="governancepolicy",
    scope="Cluster",
    short_names=["gp"],
    spec=GovernancePolicySpec,
    status=GovernancePolicyStatus,
    model=GovernancePolicy,
    description="Federated governance: attribute-based access rules and rules every product must satisfy.",
    printer_columns=[
        {"name": "Enforcement", "type": "string", "jsonPath": ".spec.enforcement"},
        {"name": "Non-Compliant", "type": "integer", "jsonPath": ".status.nonCompliant"},
        _ready(),
        _AGE,
    ],
)

KINDS: tuple[Kind, ...] = (DOMAIN, DATA_PRODUCT, GOVERNANCE_POLICY)

__all__ = [
    "API_VERSION",
    "DATA_PRODUCT",
    "DOMAIN",
    "GOVERNANCE_POLICY",
    "GROUP",
    "KINDS",
    "VERSION",
    "DataProduct",
    "DataProductSpec",
    "DataProductStatus",
    "Domain",
    "DomainSpec",
    "DomainStatus",
    "GovernancePolicy",
    "GovernancePolicySpec",
    "GovernancePolicyStatus",
    "Kind",
]
