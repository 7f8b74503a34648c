"""The governance evaluator's answers as the planner and a local build ask them: compliance, access to inputs.

The operator's reconciler and `datamesh build --local` both decide with these functions, so a local build reads
exactly what a build pod would be allowed to read (see docs/governance.md).
"""

from __future__ import annotations

from typing import Literal

from datamesh import governance
from datamesh.api import DataProduct
from datamesh.api.dataproduct import Input
from datamesh.governance import ReadAccess
from datamesh.mesh.resolve import Access, AccessDecider
from datamesh.mesh.world import World


def compliance(product: DataProduct, world: World) -> tuple[bool, bool, str]:
    """(compliant, blocking, message): blocking when a Deny-enforced product rule is violated."""
    violations = governance.check_product(world.policies.values(), product)
    if not violations:
        return True, False, ""
    return False, any(v.denies for v in violations), "; ".join(str(v) for v in violations)


def input_access(world: World) -> AccessDecider:
    def decide(consumer: DataProduct, item: Input, domain_name: str, producer: DataProduct | None) -> Access:
        consumer_domain = world.domains.get(consumer.spec.domain)
        groups = consumer_domain.spec.team_groups if consumer_domain else []
        policies = world.policies.values()
        if producer is None:
            domain = world.domains[domain_name]
            source = domain.source(item.source or "")
            if source is None:
                return Access(False, "exclude", f"domain {domain_name!r} has no source {item.source!r}")
            read = governance.decide_source_access(
                policies, domain, source, consumer_domain=consumer.spec.domain, consumer_groups=groups
            )
        else:
            read = governance.decide_input_access(
                policies, producer, consumer_domain=consumer.spec.domain, consumer_groups=groups
            )
        return Access(read.allowed, read.pii, read.reason)

    return decide


def share_readers(product: DataProduct, world: World) -> dict[str, ReadAccess]:
    """Every domain that may read `product` through its Delta share, with what it sees of PII: the catalog API's
    own rule (catalog/sharing/shares.py), i.e. a domain may read it exactly when a product of that domain could
    read it as an input."""
    policies = list(world.policies.values())
    readers: dict[str, ReadAccess] = {}
    for name in sorted(world.domains):
        read = governance.decide_input_access(
            policies, product, consumer_domain=name, consumer_groups=world.domains[name].spec.team_groups
        )
        if read.allowed:
            readers[name] = read
    return readers


def share_copies(product: DataProduct, world: World) -> list[Literal["mask", "exclude"]]:
    """The share copies a build of `product` writes: one per PII treatment other than clear that some recipient
    gets. The API serves such a recipient only a copy, even when the product declares no PII column, so the
    modes depend on the grants alone."""
    modes = {read.pii for read in share_readers(product, world).values()}
    return [mode for mode in ("mask", "exclude") if mode in modes]
