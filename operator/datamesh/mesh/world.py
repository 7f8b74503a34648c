"""A read-only snapshot of the mesh the reconcilers plan against: domains, products, policies.

The operator keeps it current from watch events (see controller/cache.py); tests and the CLI build it from
manifests. Planning functions take it as an argument and never call the API themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from datamesh.api import DataProduct, Domain, GovernancePolicy

ProductKey = tuple[str, str]


class ProductTable(dict[ProductKey, DataProduct]):
    """Products by (namespace, name), indexed by domain and by the product names they read.

    Every watch event asks "who reads this product?" and every domain status asks "how many products?":
    scanning all products for each made the operator quadratic in the number of products. So did every
    reconcile asking "whose table collides with mine?" and "who has my name in my domain?" (90 % of the
    operator's CPU at 10,000 products): products are indexed by (domain, name) too, and those whose Delta
    table has an explicit location are kept apart (they can be anywhere; the others are at <root>/<name>).
    """

    def __init__(self, items: Mapping[ProductKey, DataProduct] | None = None) -> None:
        super().__init__()
        self._by_domain: dict[str, set[ProductKey]] = {}
        self._readers: dict[str, set[ProductKey]] = {}
        self._by_name: dict[tuple[str, str], set[ProductKey]] = {}
        self._located: set[ProductKey] = set()
        for key, product in (items or {}).items():
            self[key] = product

    def __setitem__(self, key: ProductKey, product: DataProduct) -> None:
        self._unindex(key)
        super().__setitem__(key, product)
        self._by_domain.setdefault(product.spec.domain, set()).add(key)
        self._by_name.setdefault((product.spec.domain, product.name), set()).add(key)
        if _located(product):
            self._located.add(key)
        for item in product.spec.inputs:
            if item.product:
                self._readers.setdefault(item.product, set()).add(key)

    def __delitem__(self, key: ProductKey) -> None:
        self._unindex(key)
        super().__delitem__(key)

    def pop(self, key: ProductKey, *default: DataProduct | None) -> DataProduct | None:  # type: ignore[override]
        self._unindex(key)
        return super().pop(key, *default)

    def update(self, *args: object, **kwargs: object) -> None:
        raise TypeError("ProductTable.update would bypass the index; assign items one by one")

    def setdefault(self, *args: object) -> DataProduct:
        raise TypeError("ProductTable.setdefault would bypass the index; assign items one by one")

    def in_domain(self, domain: str) -> list[DataProduct]:
        return [self[key] for key in sorted(self._by_domain.get(domain, ()))]

    def named(self, domain: str, name: str) -> list[DataProduct]:
        """The products of `domain` called `name` (one per namespace the domain's products were put in)."""
        return [self[key] for key in sorted(self._by_name.get((domain, name), ()))]

    def located(self) -> list[DataProduct]:
        """The products whose Delta output names its own location."""
        return [self[key] for key in sorted(self._located)]

    def reading(self, product_name: str) -> list[DataProduct]:
        """Products with an input naming a product called `product_name` (in any domain)."""
        return [self[key] for key in sorted(self._readers.get(product_name, ()))]

    def _unindex(self, key: ProductKey) -> None:
        old = self.get(key)
        if old is None:
            return
        _discard(self._by_domain, old.spec.domain, key)
        keys = self._by_name.get((old.spec.domain, old.name))
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_name[(old.spec.domain, old.name)]
        self._located.discard(key)
        for item in old.spec.inputs:
            if item.product:
                _discard(self._readers, item.product, key)


def _located(product: DataProduct) -> bool:
    return any(output.format == "delta" and output.location for output in product.spec.outputs)


def _discard(index: dict[str, set[ProductKey]], name: str, key: ProductKey) -> None:
    keys = index.get(name)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[name]


class World:
    def __init__(
        self,
        domains: dict[str, Domain] | None = None,
        products: Mapping[ProductKey, DataProduct] | None = None,
        policies: dict[str, GovernancePolicy] | None = None,
    ) -> None:
        self.domains: dict[str, Domain] = {} if domains is None else domains
        self.products = products if isinstance(products, ProductTable) else ProductTable(products)
        self.policies: dict[str, GovernancePolicy] = {} if policies is None else policies

    def namespace_of(self, domain: str) -> str:
        found = self.domains.get(domain)
        return found.namespace_name if found else domain

    def domain_of_namespace(self, namespace: str) -> Domain | None:
        return next((d for d in self.domains.values() if d.namespace_name == namespace), None)

    def product(self, domain: str, name: str) -> DataProduct | None:
        return self.products.get((self.namespace_of(domain), name))

    def products_in(self, domain: str) -> list[DataProduct]:
        return self.products.in_domain(domain)

    def downstream_of(self, namespace: str, name: str) -> list[DataProduct]:
        """Products that read the given product."""
        return [
            product
            for product in self.products.reading(name)
            if any(
                item.product == name and self.namespace_of(item.domain or product.spec.domain) == namespace
                for item in product.spec.inputs
            )
        ]
