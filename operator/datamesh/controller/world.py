"""A read-only snapshot of the mesh the reconcilers plan against: domains, products, policies.

The operator keeps it current from watch events (see cache.py); tests and the CLI build it from
manifests. Planning functions take it as an argument and never call the API themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datamesh.api import DataProduct, Domain, GovernancePolicy


@dataclass
class World:
    domains: dict[str, Domain] = field(default_factory=dict)
    products: dict[tuple[str, str], DataProduct] = field(default_factory=dict)
    policies: dict[str, GovernancePolicy] = field(default_factory=dict)

    def namespace_of(self, domain: str) -> str:
        found = self.domains.get(domain)
        return found.namespace_name if found else domain

    def domain_of_namespace(self, namespace: str) -> Domain | None:
        return next((d for d in self.domains.values() if d.namespace_name == namespace), None)

    def product(self, domain: str, name: str) -> DataProduct | None:
        return self.products.get((self.namespace_of(domain), name))

    def products_in(self, domain: str) -> list[DataProduct]:
        return [p for p in self.products.values() if p.spec.domain == domain]

    def downstream_of(self, namespace: str, name: str) -> list[DataProduct]:
        """Products that read the given product."""
        out = []
        for product in self.products.values():
            for item in product.spec.inputs:
                if item.product == name and self.namespace_of(item.domain or product.spec.domain) == namespace:
                    out.append(product)
                    break
        return out
