"""Turning manifests and a product name into a BuildRequest, the way the operator resolves it in a cluster.

Locations: a source is read where its Domain declares it; a product input from its upstream product's delta
output `location`, or `<upstream domain storage>/<product name>`; the output goes to the product's own delta
output location or `<domain storage>/<product name>`.
PII: sources and products of the building product's own domain are read in clear; another domain's product
is read as its grants allow the consuming domain (its most permissive matching grant, else mask); another
domain's source is masked.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from datamesh.api.dataproduct import DataProduct, Input
from datamesh.build.contract import BuildRequest, PiiMode, ResolvedInput
from datamesh.build.inputs import default_view
from datamesh.manifests import Mesh

_PERMISSIVENESS: dict[PiiMode, int] = {"exclude": 0, "mask": 1, "clear": 2}


def new_run_id(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _domain_storage(mesh: Mesh, domain: str, what: str) -> str:
    found = mesh.domains.get(domain)
    if found is None:
        raise LookupError(f"{what}: Domain {domain!r} is not in the manifests")
    return found.spec.storage.location.rstrip("/")


def product_location(mesh: Mesh, product: DataProduct) -> str:
    for output in product.spec.outputs:
        if output.format == "delta" and output.location:
            return output.location
    return f"{_domain_storage(mesh, product.spec.domain, f'product {product.name}')}/{product.name}"


def _product_pii(upstream: DataProduct, consumer_domain: str) -> PiiMode:
    if upstream.spec.domain == consumer_domain:
        return "clear"
    modes = [g.pii for g in upstream.spec.governance.grants if consumer_domain in (g.domains or [])]
    return max(modes, key=lambda m: _PERMISSIVENESS[m]) if modes else "mask"


def resolve_input(mesh: Mesh, product: DataProduct, item: Input) -> ResolvedInput:
    consumer = product.spec.domain
    domain_name = item.domain or consumer
    view = default_view(item)
    if item.source:
        domain = mesh.domains.get(domain_name)
        if domain is None:
            raise LookupError(f"input {item.source}: Domain {domain_name!r} is not in the manifests")
        source = domain.source(item.source)
        if source is None:
            raise LookupError(f"input {item.source}: Domain {domain_name!r} declares no such source")
        return ResolvedInput(
            view=view,
            kind="source",
            ref=item.source,
            domain=domain_name,
            location=source.location,
            format=source.format,
            options=dict(source.options),
            pii_columns=[c.name for c in source.columns if c.pii],
            pii="clear" if domain_name == consumer else "mask",
        )
    namespace = mesh.namespace_of(domain_name)
    upstream = mesh.find_product(f"{namespace}/{item.product}")
    return ResolvedInput(
        view=view,
        kind="product",
        ref=f"{namespace}/{item.product}",
        domain=domain_name,
        location=product_location(mesh, upstream),
        format="delta",
        pii_columns=[c.name for c in upstream.spec.schema_ if c.pii],
        pii=_product_pii(upstream, consumer),
    )


def build_request(mesh: Mesh, ref: str, run_id: str | None = None, trigger: str = "manual") -> BuildRequest:
    """The request for product `ref` (`name` or `namespace/name`); raises LookupError for what cannot resolve."""
    product = mesh.find_product(ref)
    return BuildRequest(
        namespace=product.namespace or mesh.namespace_of(product.spec.domain),
        name=product.name,
        domain=product.spec.domain,
        generation=int(product.metadata.get("generation") or 0),
        run_id=run_id or new_run_id(),
        trigger=trigger,
        spec=product.spec,
        inputs=[resolve_input(mesh, product, item) for item in product.spec.inputs],
        output_location=product_location(mesh, product),
    )
