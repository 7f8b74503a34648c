"""Turning manifests and a product name into a BuildRequest, the way the operator resolves it in a cluster.

Locations: a source is read where its Domain declares it; a product input from its upstream product's delta
output `location`, or `<upstream domain storage>/<product name>`; the output goes to the product's own delta
output location or `<domain storage>/<product name>`.
Access and PII follow the governance evaluator exactly as in the operator (mesh.resolve and mesh.access):
see docs/governance.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from datamesh.manifests import Mesh
from datamesh.mesh import access
from datamesh.mesh.contract import BuildRequest
from datamesh.mesh.resolve import output_location, resolve_inputs
from datamesh.mesh.world import World


def new_run_id(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def build_request(mesh: Mesh, ref: str, run_id: str | None = None, trigger: str = "manual") -> BuildRequest:
    """The request for product `ref` (`name` or `namespace/name`); raises LookupError for what cannot resolve."""
    product = mesh.find_product(ref)
    # The operator's own resolution and access decisions, so a local build reads exactly what a pod would.
    world = World(mesh.domains, mesh.products, mesh.policies)
    resolution = resolve_inputs(product, world, access.input_access(world), require_published=False)
    if not resolution.ok:
        raise LookupError(f"{resolution.problem_reason}: {resolution.problem_message}")
    location = output_location(product, world)
    if location is None:
        raise LookupError(f"product {product.name}: Domain {product.spec.domain!r} is not in the manifests")
    return BuildRequest(
        namespace=product.namespace or mesh.namespace_of(product.spec.domain),
        name=product.name,
        domain=product.spec.domain,
        generation=int(product.metadata.get("generation") or 0),
        run_id=run_id or new_run_id(),
        trigger=trigger,
        spec=product.spec,
        inputs=resolution.inputs,
        output_location=location,
    )
