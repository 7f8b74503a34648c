"""A small mesh for the API tests: three domains, products with quality, lineage, a REST output over a real Delta
table, and real ServiceAccount tokens whose groups make them members of domains."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from datamesh.api.domain import Domain
from datamesh.catalog.inventory import Inventory
from datamesh.catalog.sync import CatalogSync
from datamesh.mesh.world import World
from tests.catalog.conftest import make_domain, make_policy, make_product
from tests.conftest import Cluster

ROWS = 25


@dataclass
class Tokens:
    sales: str
    marketing: str
    analyst: str
    nobody: str
    analyst_group: str


def create_tokens(cluster: Cluster) -> Tokens:
    """One ServiceAccount per persona, each in its own namespace (its group is system:serviceaccounts:<ns>)."""
    suffix = uuid.uuid4().hex[:6]
    tokens: dict[str, str] = {}
    for persona in ("sales", "marketing", "analyst", "nobody"):
        namespace = f"cat-{persona}-{suffix}"
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
        tokens[persona] = cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    return Tokens(**tokens, analyst_group=f"system:serviceaccounts:cat-analyst-{suffix}")


def group_of(token_namespace_prefix: str, tokens: Tokens) -> str:
    return tokens.analyst_group.replace("cat-analyst-", f"cat-{token_namespace_prefix}-")


def write_delta_table(path: Path) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    from deltalake import write_deltalake

    table = pa.table(
        {
            "id": pa.array(range(1, ROWS + 1), pa.int64()),
            "email": [f"user{i}@example.com" for i in range(1, ROWS + 1)],
            "amount": [float(i) * 1.5 for i in range(1, ROWS + 1)],
        }
    )
    write_deltalake(str(path), table)


def build_world(tokens: Tokens, table: Path) -> World:
    sales_group = group_of("sales", tokens)
    marketing_group = group_of("marketing", tokens)
    domains: list[Domain] = [
        make_domain("sales", team_groups=[sales_group]),
        make_domain("marketing", team_groups=[marketing_group]),
        make_domain("finance"),
    ]
    products = [
        make_product("orders", "sales", quality=0.99, tags=["gold"], description="All orders, deduplicated"),
        make_product(
            "customers",
            "sales",
            quality=0.95,
            rest=True,
            location=str(table),
            grants=[{"domains": ["marketing"], "pii": "mask"}, {"groups": [tokens.analyst_group], "pii": "exclude"}],
        ),
        make_product("refunds", "sales"),
        make_product("hidden", "sales", quality=0.95),
        make_product(
            "campaigns",
            "marketing",
            quality=0.90,
            fresh=False,
            inputs=[{"product": "customers", "domain": "sales"}, {"source": "bronze.marketing.raw"}],
        ),
        make_product("leads", "marketing", quality=0.70, ready=False, owner="growth@company.com"),
        make_product("ledger", "finance", quality=0.99),
    ]
    policies = [
        make_policy(
            "catalog-test",
            [
                {
                    "name": "analysts-see-marketing",
                    "effect": "Permit",
                    "dnfCondition": [
                        [
                            {"attributeName": "principal.group", "attributeValueIncludes": tokens.analyst_group},
                            {"attributeName": "resource.domain", "attributeValueIncludes": "marketing"},
                        ]
                    ],
                },
                {
                    "name": "nobody-sees-hidden",
                    "effect": "Deny",
                    "dnfCondition": [[{"attributeName": "resource.product", "attributeValueIncludes": "hidden"}]],
                },
            ],
        )
    ]
    world = World()
    world.domains = {d.name: d for d in domains}
    world.products = {(str(p.metadata["namespace"]), p.name): p for p in products}
    world.policies = {str(p.metadata["name"]): p for p in policies}
    return world


def populate(catalog: CatalogSync, tokens: Tokens, table: Path) -> World:
    world = build_world(tokens, table)
    catalog.converge(world, Inventory.of(world))
    return world
