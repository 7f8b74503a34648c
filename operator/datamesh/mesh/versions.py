"""Older major versions served side by side with the current one: where each major's table lies, when to record an
older one, when to retire it, and which table an input that pins a major reads.

A breaking change is accepted when spec.version moves to a new major (mesh/lifecycle.py); the consumers that are not
ready for it pin the old major in their input (`version: "1"`) and keep reading its table, which the product stops
building but keeps serving. The first major a product publishes (its home major) keeps the product's table, so no
location published before majors were placed side by side ever moves; every other major publishes to the sibling
`<table>@v<N>` (placement.major_place). The status lists what is still served (status.previousVersions); an entry
goes when no consumer pins it any more and the new major has published, or when spec.deprecation.sunset has passed.

Pure: the reconciler and `datamesh build --local` pass in what they know (no I/O, no sqlglot: the build imports
mesh/resolve.py, which uses this module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from datamesh import placement
from datamesh.api import DataProduct
from datamesh.api.dataproduct import DataProductStatus, Input, PreviousVersion
from datamesh.mesh.world import World

#: Why an input that pins a major cannot be resolved (the InputsReady reason).
NOT_SERVED = "UpstreamVersionNotServed"


def major_of(version: str | None) -> int:
    """The major of a semantic version; a contract without spec.version counts as 0.0.0."""
    return int(version.split(".", 1)[0]) if version else 0


def home_major(product: DataProduct, base: str) -> int:
    """The major whose table is the product's own location `base` (see the module docstring).

    Recorded in status.homeMajor when the product first launches a build or is seen published. Before that: the
    major of what is published at `base` (status.publishedVersion), else the current major (a table published by
    an operator that recorded neither: nothing tells which major its data is, and building in place is what that
    operator did; a product that has not published is at home wherever its current major is)."""
    status = product.status or DataProductStatus()
    if status.home_major is not None:
        return status.home_major
    current = major_of(product.spec.version)
    if status.location and placement.location_major(status.location, base, -1) == -1 and status.published_version:
        return major_of(status.published_version)
    return current


def table_location(product: DataProduct, base: str, major: int | None = None) -> str:
    """Where `major` (default: the current one) of the product publishes, given its own location `base`."""
    wanted = major_of(product.spec.version) if major is None else major
    return str(placement.major_place(placement.parse_location(base, "location"), wanted, home_major(product, base)))


def pinned_major(item: Input) -> int | None:
    """The major an input pins ("1" and "^1" are the same pin), or None when it follows the current major."""
    return None if item.version is None else int(item.version.removeprefix("^"))


def pins(world: World, product: DataProduct) -> dict[int, list[str]]:
    """major -> namespace/name of the products whose inputs pin that major of `product` (sorted)."""
    namespace = product.namespace or world.namespace_of(product.spec.domain)
    found: dict[int, set[str]] = {}
    for reader in world.products.reading(product.name):
        reader_namespace = reader.namespace or world.namespace_of(reader.spec.domain)
        if (reader_namespace, reader.name) == (namespace, product.name):
            continue
        for item in reader.spec.inputs:
            major = pinned_major(item)
            if (
                major is not None
                and item.product == product.name
                and world.namespace_of(item.domain or reader.spec.domain) == namespace
            ):
                found.setdefault(major, set()).add(f"{reader_namespace}/{reader.name}")
    return {major: sorted(refs) for major, refs in found.items()}


@dataclass
class Served:
    """The previous majors to keep listing, and those retired now (their tables are kept: see docs/lifecycle.md)."""

    kept: list[PreviousVersion] = field(default_factory=list)
    retired: list[PreviousVersion] = field(default_factory=list)
    home: int | None = None
    """status.homeMajor to record (None: not yet published, nothing to record)."""


def plan_previous(
    product: DataProduct,
    base: str | None,
    *,
    pinned: Mapping[int, list[str]],
    today: date,
) -> Served:
    """The previous majors to serve after this reconcile.

    `base` is the product's own location (resolve.base_location), None when it cannot be placed now: then nothing
    is recorded or retired (the product builds nothing either). The published table (status.location) is recorded
    when it belongs to another major than the current contract's, before the new major publishes elsewhere. An
    entry is retired when the sunset has passed, or when no consumer pins it and the current major has published
    (until then unpinned consumers still read it through status.location)."""
    status = product.status or DataProductStatus()
    if base is None:
        return Served(kept=[p.model_copy(deep=True) for p in status.previous_versions], home=status.home_major)
    home = home_major(product, base)
    current = major_of(product.spec.version)
    published = placement.location_major(status.location, base, home) if status.location else None
    entries = {p.major: p.model_copy(deep=True) for p in status.previous_versions}
    if published is not None and published != current and status.table_version is not None:
        entries[published] = PreviousVersion(
            major=published, version=status.published_version, location=status.location or "",
            table_version=status.table_version,
        )  # fmt: skip
    sunset = product.spec.deprecation.sunset_date if product.spec.deprecation is not None else None
    served = Served(home=home if status.location else status.home_major)
    for major in sorted(entries):
        entry = entries[major]
        if major == current:
            continue  # the current contract serves this major again (it moved back): not a previous one
        entry.consumers = list(pinned.get(major, []))
        entry.until = sunset.isoformat() if sunset is not None else None
        sunset_passed = sunset is not None and today > sunset
        moved_on = not entry.consumers and published == current
        (served.retired if sunset_passed or moved_on else served.kept).append(entry)
    return served


@dataclass(frozen=True)
class PinnedTable:
    """Where an input that pins a major reads, or why it cannot."""

    location: str = ""
    table_version: int | None = None
    reason: str | None = None
    message: str = ""


def pinned_table(upstream: DataProduct, major: int, base: str | None) -> PinnedTable:
    """The table of `upstream` that serves `major`: its published table when that is of the major, else a previous
    major it still serves. Fails closed: an input never reads another major than the one it pins."""
    status = upstream.status or DataProductStatus()
    current = major_of(upstream.spec.version)
    location, version = status.location, status.table_version
    home = home_major(upstream, base) if base is not None else -1
    if location and version is not None and base and placement.location_major(location, base, home) == major:
        return PinnedTable(location, version)
    for entry in status.previous_versions:
        if entry.major == major and entry.table_version is not None and entry.location:
            return PinnedTable(entry.location, entry.table_version)
    if major == current:
        return PinnedTable(reason="UpstreamNotReady", message=f"has not published major version {major} yet")
    served = sorted({current, *(p.major for p in status.previous_versions)})
    return PinnedTable(
        reason=NOT_SERVED,
        message=f"pins major version {major}, which is not served (served: {', '.join(map(str, served))})",
    )
