"""The governance evaluator's answers as the planner and a local build ask them: compliance, access to inputs.

The operator's reconciler and `datamesh build --local` both decide with these functions, so a local build reads
exactly what a build pod would be allowed to read (see docs/governance.md).
"""

from __future__ import annotations

from datamesh import governance
from datamesh.api import DataProduct
from datamesh.api.dataproduct import Input
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

