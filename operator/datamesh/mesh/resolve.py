"""Resolving a product's inputs against the mesh: locations, readiness, cycles and access.

The reconciler resolves with these functions before it starts a build pod, and `datamesh build --local` before it
runs a build in-process: one resolution, so both read the same places under the same access decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from datamesh import placement
from datamesh.api import DataProduct
from datamesh.api.dataproduct import Input
from datamesh.mesh import versions
from datamesh.mesh.contract import PiiMode, ResolvedInput, SecretOptionRef, secret_env
from datamesh.mesh.world import World


@dataclass(frozen=True)
class Access:
    """Whether the consuming domain may read an input, and what it sees of the PII columns."""

    allowed: bool
    pii: PiiMode = "clear"
    reason: str = ""


#: (consumer product, input, owning domain of the input, producing product or None for a source) -> Access
AccessDecider = Callable[[DataProduct, Input, str, DataProduct | None], Access]


def allow_all(consumer: DataProduct, item: Input, domain: str, producer: DataProduct | None) -> Access:
    return Access(True, "clear" if domain == consumer.spec.domain else "mask")


@dataclass
class Resolution:
    inputs: list[ResolvedInput] = field(default_factory=list)
    upstream_versions: dict[str, int] = field(default_factory=dict)
    """`namespace/name` of each upstream product -> its published table version."""
    problem_reason: str | None = None
    problem_message: str = ""

    @property
    def ok(self) -> bool:
        return self.problem_reason is None


def output_location(product: DataProduct, world: World, *, major: int | None = None) -> str | None:
    """Where the product publishes its current major (or `major`), as placement computes it: its own location
    (base_location) for the first major it published, the sibling <location>@v<N> for any other
    (mesh/versions.py); None when its Domain is unknown or the place is refused. Nothing may be built or deleted
    at None."""
    base = base_location(product, world)
    return None if base is None else versions.table_location(product, base, major)


def base_location(product: DataProduct, world: World) -> str | None:
    """The product's own location (<domain storage>/<name>, or its delta output's location when that lies strictly
    inside the domain's storage root); None when its Domain is unknown or the place is refused (outside the root,
    or overlapping another product's table, a source or another domain's root)."""
    domain = world.domains.get(product.spec.domain)
    if domain is None:
        return None
    if placement.product_problems(product, world.domains, world.products, seniority=True):
        return None
    return placement.product_location(product, domain)


def find_cycle(product: DataProduct, world: World) -> list[str] | None:
    """A path of product references leading back to `product`, if there is one."""
    start = (product.namespace or world.namespace_of(product.spec.domain), product.name)

    def upstreams(of: DataProduct) -> list[tuple[str, str]]:
        return [
            (world.namespace_of(i.domain or of.spec.domain), i.product) for i in of.spec.inputs if i.product is not None
        ]

    stack: list[tuple[tuple[str, str], list[str]]] = [(key, [f"{start[0]}/{start[1]}"]) for key in upstreams(product)]
    seen: set[tuple[str, str]] = set()
    while stack:
        key, path = stack.pop()
        path = [*path, f"{key[0]}/{key[1]}"]
        if key == start:
            return path
        if key in seen:
            continue
        seen.add(key)
        upstream = world.products.get(key)
        if upstream is not None:
            stack.extend((nxt, path) for nxt in upstreams(upstream))
    return None


def resolve_inputs(
    product: DataProduct, world: World, decide: AccessDecider = allow_all, *, require_published: bool = True
) -> Resolution:
    """Every input resolved, or the first problem: DomainNotFound, SourceNotFound, UpstreamNotFound,
    UpstreamNotReady, Cycle, AccessDenied or CredentialsUnavailable (the reason names the input).

    `require_published=False` is for local builds from manifests, which carry no status: an upstream product is
    then read where it publishes (its delta output or <domain storage>/<name>)."""
    resolution = Resolution()
    cycle = find_cycle(product, world)
    if cycle:
        resolution.problem_reason = "Cycle"
        resolution.problem_message = "inputs form a cycle: " + " -> ".join(cycle)
        return resolution
    for item in product.spec.inputs:
        domain_name = item.domain or product.spec.domain
        domain = world.domains.get(domain_name)
        label = item.source or item.product
        if domain is None:
            return _fail(resolution, "DomainNotFound", f"input {label}: domain {domain_name!r} does not exist")
        if item.source is not None:
            source = domain.source(item.source)
            if source is None:
                return _fail(
                    resolution, "SourceNotFound", f"input {label}: domain {domain_name!r} has no source {label!r}"
                )
            access = decide(product, item, domain_name, None)
            if not access.allowed:
                return _fail(resolution, "AccessDenied", f"input {label}: {access.reason}")
            consumer_namespace = product.namespace or world.namespace_of(product.spec.domain)
            if source.secret_options and domain.namespace_name != consumer_namespace:
                # A build pod can only read Secrets of its own namespace; reading the owner's would take a copy of
                # its credentials into another tenant's namespace.
                return _fail(
                    resolution,
                    "CredentialsUnavailable",
                    f"input {label}: the source needs credentials kept in namespace {domain.namespace_name!r}; "
                    f"read it through a data product of domain {domain_name!r} instead",
                )
            index = len(resolution.inputs)
            resolution.inputs.append(
                ResolvedInput(
                    view=item.view,
                    kind="source",
                    ref=item.source,
                    domain=domain_name,
                    location=source.location,
                    format=source.format,
                    options=dict(source.options),
                    secret_options=[
                        SecretOptionRef(
                            option=s.option,
                            env=secret_env(index, n),
                            secret=s.secret_key_ref.name,
                            key=s.secret_key_ref.key,
                        )
                        for n, s in enumerate(source.secret_options)
                    ],
                    read_schema=source.schema_,
                    pii_columns=[c.name for c in source.columns if c.pii],
                    pii=access.pii,
                )
            )
            continue
        namespace = domain.namespace_name
        upstream = world.products.get((namespace, item.product or ""))
        ref = f"{namespace}/{item.product}"
        if upstream is None:
            return _fail(resolution, "UpstreamNotFound", f"input {ref}: no such DataProduct")
        access = decide(product, item, domain_name, upstream)
        if not access.allowed:
            return _fail(resolution, "AccessDenied", f"input {ref}: {access.reason}")
        found = _product_table(upstream, item, world, require_published)
        if found.reason is not None:
            return _fail(resolution, found.reason, f"input {ref}: {found.message}")
        if found.table_version is not None:
            resolution.upstream_versions[_version_key(ref, upstream, found.location, world)] = found.table_version
        location = found.location
        resolution.inputs.append(
            ResolvedInput(
                view=item.view,
                kind="product",
                ref=ref,
                domain=domain_name,
                location=location,
                format="delta",
                pii_columns=[c.name for c in upstream.spec.schema_ if c.pii],
                pii=access.pii,
            )
        )
    return resolution


def _product_table(upstream: DataProduct, item: Input, world: World, require_published: bool) -> versions.PinnedTable:
    """The table an input reads of `upstream`: the major it pins (mesh/versions.py), else the published one."""
    pin = versions.pinned_major(item)
    if pin is not None:
        found = versions.pinned_table(upstream, pin, base_location(upstream, world))
        if found.reason is None or require_published:
            return found
        return versions.PinnedTable(output_location(upstream, world, major=pin) or "")
    status = upstream.status
    if status is not None and status.table_version is not None and status.location:
        return versions.PinnedTable(status.location, status.table_version)
    if require_published:
        return versions.PinnedTable(reason="UpstreamNotReady", message="has not published data yet")
    return versions.PinnedTable(output_location(upstream, world) or "")


def _version_key(ref: str, upstream: DataProduct, location: str, world: World) -> str:
    """The upstream_versions key of the table read: `namespace/name`, or `namespace/name@v<major>` for a major's
    sibling table. Each table numbers its Delta versions from 0, so without the major a consumer moving from v1's
    version 0 to v2's version 0 would not see a change and would not rebuild."""
    base = base_location(upstream, world)
    major = placement.location_major(location, base, -1) if base and location else None
    return ref if major is None or major == -1 else f"{ref}{placement.MAJOR_MARK}{major}"


def _fail(resolution: Resolution, reason: str, message: str) -> Resolution:
    resolution.problem_reason = reason
    resolution.problem_message = message
    return resolution
