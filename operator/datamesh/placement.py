"""Where things live in the lake and which namespace a Domain owns, decided here and nowhere else.

Every location a tenant writes is hostile: a product's `outputs[].location` could name another domain's
storage, a raw source, another product's table or climb out with `..`, and the operator would write there
and, under `deletionPolicy: Delete`, remove it. So locations are *computed*: a product's table is
`<domain storage root>/<product name>`, a written location is accepted only strictly inside the product's own
root, and no table, storage root or source may equal, contain or lie inside a place another object owns.
Namespaces are claimed once: never a system namespace, the operator's own, a reserved one or another Domain's.

Admission, `datamesh validate`, the reconciler and the build's own wall (build/confine.py) all call these
functions, so one spelling of the rules holds everywhere. Pure: no I/O, only `datamesh.api` and the standard
library (the build pod imports this module too).

Normalisation, and why each refusal:
- A location is an absolute path or a URI of an allowed scheme (file, s3, s3a, gs, abfs, abfss). `file:/x`,
  `file:///x` and `/x` are one place. Scheme and bucket/host compare case-insensitively (they are DNS-like);
  paths case-sensitively (Linux and object stores are).
- `s3`/`s3a` and `abfs`/`abfss` are compared as one store each: two spellings of one bucket must not dodge
  an overlap check.
- Refused: `.`/`..` segments; `%` (percent-encoding gives one place two spellings); `\\`; non-printable
  characters; `~`; `?`/`#` (query, fragment); glob characters `*[]{}` (Spark expands globs when it reads
  parquet/csv/json, so `/lake/*/gold/x` would read other domains' tables); `:` and `,` inside a path (Hadoop
  reads them as a scheme or a path separator); quotes and backticks (the location ends up in SQL text when a
  table is registered in a metastore); relative paths; empty or malformed bucket/host, user info or ports.
- Trailing slashes are dropped (`/x/` and `/x` are one folder for a filesystem and for Hadoop), but `//`
  inside a path is refused rather than collapsed: in an object store `s3a://b//x` and `s3a://b/x` are
  different keys, so collapsing would make two places compare equal, or keep two equal ones apart.

Who wins a conflict that exists anyway (created while the webhook was down, failurePolicy Ignore): with
`seniority=True` (the reconciler) an object does not yield to a younger one, so an intruder cannot stop its
victim's builds. A product that has published at its current place (status, which tenants cannot write) beats
any claim that has not; otherwise the earlier creationTimestamp wins; without timestamps (manifests) both are
refused. Admission and `datamesh validate` use `seniority=False`: whatever conflicts is refused.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlparse

from datamesh.api import DataProduct, Domain
from datamesh.mesh.world import ProductKey, ProductTable

#: The products to check against: the indexed table, or any iterable of them.
Products = ProductTable | Iterable[DataProduct]

#: Allowed schemes and the store each addresses (two spellings of one store compare as one).
SCHEMES: dict[str, str] = {"file": "file", "s3": "s3", "s3a": "s3", "gs": "gs", "abfs": "abfs", "abfss": "abfs"}
#: Namespaces no Domain may claim, whatever the configuration says (plus every `kube-*`).
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
#: Label the operator puts on the namespaces it creates for a Domain.
DOMAIN_LABEL = "datamesh.dev/domain"
#: Label an admin puts on an existing namespace to let a Domain adopt it.

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_BUCKET = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_CONTAINER = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_REFUSED_CHARACTERS: dict[str, str] = {
    "\\": "a backslash",
    "%": "percent-encoding",
    "~": "'~'",
    "?": "a query string",
    "#": "a fragment",
    "*": "a glob character",
    "[": "a glob character",
    "]": "a glob character",
    "{": "a glob character",
    "}": "a glob character",
    "'": "a quote",
    '"': "a quote",
    "`": "a backtick",
    ",": "a comma",
}


class PlacementError(ValueError):
    """A location or claim that is refused; the message names the field first."""


@dataclass(frozen=True)
class Place:
    """A normalised location: scheme (lower case), bucket or host (lower case, empty for files), path segments."""

    scheme: str
    authority: str
    parts: tuple[str, ...]

    @property
    def store(self) -> tuple[str, str]:
        """What must be equal for two places to be in the same namespace of names."""
        return SCHEMES[self.scheme], self.authority

    def __str__(self) -> str:
        path = "/" + "/".join(self.parts)
        if self.scheme == "file":
            return path
        return f"{self.scheme}://{self.authority}" + (path if self.parts else "")

    def child(self, name: str) -> Place:
        return Place(self.scheme, self.authority, (*self.parts, name))

    def contains(self, other: Place) -> bool:
        """`other` is this place or lies below it."""
        return self.store == other.store and other.parts[: len(self.parts)] == self.parts

    def strictly_contains(self, other: Place) -> bool:
        return self.contains(other) and len(other.parts) > len(self.parts)

    def relation(self, other: Place) -> str | None:
        """How this place collides with `other`: "is", "is inside", "contains", or None when apart."""
        if self.store != other.store:
            return None
        if self.parts == other.parts:
            return "is"
        if other.strictly_contains(self):
            return "is inside"
        if self.strictly_contains(other):
            return "contains"
        return None


@lru_cache(maxsize=65536)
def _parse(location: str) -> Place:
    """The place `location` names; raises ValueError with the reason (without the field)."""
    if not location:
        raise ValueError("is empty")
    for char in location:
        if not char.isprintable():
            raise ValueError(f"holds the non-printable character {char!r}")
        if char in _REFUSED_CHARACTERS:
            raise ValueError(f"holds {_REFUSED_CHARACTERS[char]} ({char!r})")
    found = _SCHEME.match(location)
    if found is None:
        if not location.startswith("/"):
            raise ValueError("is a relative path (write an absolute path or an object-store URI)")
        return Place("file", "", _segments(location))
    scheme, rest = found.group(1).lower(), found.group(2)
    if scheme not in SCHEMES:
        raise ValueError(f"has the scheme {found.group(1)!r}; allowed: {', '.join(sorted(SCHEMES))}")
    if scheme == "file":
        if rest.startswith("//"):
            authority, _, path = rest[2:].partition("/")
            if authority:
                raise ValueError("names a host in a file: URI (write file:/path)")
            rest = "/" + path
        if not rest.startswith("/"):
            raise ValueError("is a relative file: URI (write file:/path)")
        return Place("file", "", _segments(rest))
    if not rest.startswith("//"):
        raise ValueError(f"is not of the form {scheme}://bucket/path")
    authority, slash, path = rest[2:].partition("/")
    return Place(scheme, _authority(scheme, authority), _segments(slash + path) if slash else ())


def _authority(scheme: str, raw: str) -> str:
    authority = raw.lower()
    if not authority:
        raise ValueError("has no bucket or container")
    if SCHEMES[scheme] == "abfs":
        container, at, host = authority.partition("@")
        if not at or not _CONTAINER.match(container) or not _HOST.match(host):
            raise ValueError(f"has the authority {raw!r}; expected container@account.host (no port, no user info)")
    elif not _BUCKET.match(authority):
        raise ValueError(f"has the bucket {raw!r}; expected a bucket name (no port, no user info)")
    return authority


def _segments(path: str) -> tuple[str, ...]:
    trimmed = path.rstrip("/")
    if not trimmed:
        return ()
    segments = tuple(trimmed[1:].split("/"))
    for segment in segments:
        if segment == "":
            raise ValueError("holds '//' (an empty path segment)")
        if segment in (".", ".."):
            raise ValueError(f"holds a {segment!r} segment")
        if ":" in segment:
            raise ValueError("holds ':' inside the path")
        if segment != segment.strip():
            raise ValueError(f"has a path segment starting or ending with whitespace ({segment!r})")
    return segments


def parse_location(location: str, field: str) -> Place:
    """The normalised place of `location`; raises PlacementError naming `field` when it is refused."""
    try:
        return _parse(location)
    except ValueError as error:
        raise PlacementError(f"{field}: location {location!r} is refused: {error}") from None


def normalise(location: str, field: str = "location") -> str:
    """The canonical spelling of `location` (raises PlacementError naming `field`)."""
    return str(parse_location(location, field))


def is_local(location: str) -> bool:
    """`location` is a path on a filesystem the process mounts (no scheme, `file:`), not an object store."""
    scheme = urlparse(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive, not a scheme


def local_path(location: str) -> str:
    """The filesystem path of a local location (`file:/x` and `file:///x` are `/x`)."""
    return urlparse(location).path if location.startswith("file:") else location


# ---------------------------------------------------------------------------------------------------- products
def storage_root(domain: Domain) -> Place:
    """The Domain's storage root; raises PlacementError when it is unusable."""
    place = parse_location(domain.spec.storage.location, "spec.storage.location")
    if not place.parts and place.scheme == "file":
        raise PlacementError(f"spec.storage.location: {domain.spec.storage.location!r} is refused: '/' is not a folder")
    return place


def _table(product: DataProduct, root: Place) -> tuple[str, Place]:
    """(the field that decides it, the place) of the product's table, whether or not it is allowed."""
    for index, output in enumerate(product.spec.outputs):
        if output.format == "delta" and output.location:
            field = f"spec.outputs[{index}].location"
            return field, parse_location(output.location, field)
    return "metadata.name", root.child(product.name)


def product_place(product: DataProduct, domain: Domain) -> Place:
    """Where the product's table lives: `<domain storage root>/<name>`, or its delta output's `location` when
    that lies strictly inside the root. Raises PlacementError for anything else."""
    try:
        root = storage_root(domain)
    except PlacementError as error:
        raise PlacementError(f"spec.domain: Domain {domain.name!r} has no usable storage root: {error}") from None
    field, place = _table(product, root)
    if not root.strictly_contains(place):
        raise PlacementError(_outside(field, place, root, domain))
    return place


def product_location(product: DataProduct, domain: Domain) -> str:
    """The canonical location of the product's table (see product_place); raises PlacementError."""
    return str(product_place(product, domain))


#: Joins a product's table folder to the major version of a sibling table: `<table>@v2`. Kubernetes names cannot
#: hold '@' and written product locations may not either, so no other product's table can ever be spelled so.
MAJOR_MARK = "@v"


def major_place(base: Place, major: int, home: int) -> Place:
    """The table of `major` next to the product's table `base`: `base` itself for its home major (the first one it
    published), the sibling `<base>@v<major>` for any other. A sibling rather than a subfolder: a subfolder would
    sit inside the older major's table, where that table's VACUUM and its deletion would remove the newer one; and
    a sibling named with '@' lies in no other object's place when `base` lies in none (see MAJOR_MARK)."""
    if major == home:
        return base
    return Place(base.scheme, base.authority, (*base.parts[:-1], f"{base.parts[-1]}{MAJOR_MARK}{major}"))


def location_major(location: str, base: str, home: int) -> int | None:
    """The major whose table `location` is, for a product whose home table is `base`; None when it is not one of
    the product's tables."""
    try:
        place, table = _parse(location), _parse(base)
    except ValueError:
        return None
    if place == table:
        return home
    if place.store != table.store or place.parts[:-1] != table.parts[:-1]:
        return None
    suffix = place.parts[-1].removeprefix(table.parts[-1] + MAJOR_MARK)
    if suffix == place.parts[-1] or not suffix.isdigit() or (suffix.startswith("0") and suffix != "0"):
        return None
    major = int(suffix)
    return major if major != home else None


def _outside(field: str, place: Place, root: Place, domain: Domain) -> str:
    what = "is the storage root itself" if place.relation(root) == "is" else "is not inside the storage root"
    return f"{field}: location {place} {what} {root} of Domain {domain.name}; a product's table lies strictly inside it"


@dataclass(frozen=True)
class Claim:
    """A place an object owns, and what to call it in a refusal."""

    place: Place
    what: str
    key: tuple[str, str, str]
    """kind, namespace (empty for Domains), name: an object never conflicts with itself."""
    published: bool = False
    """A product's table holding the product's published data (its status, which tenants cannot write, says so)."""
    created: datetime | None = None


@lru_cache(maxsize=65536)
def _timestamp(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _created(metadata: Mapping[str, object]) -> datetime | None:
    raw = metadata.get("creationTimestamp")
    if isinstance(raw, datetime):
        return raw
    return _timestamp(raw) if isinstance(raw, str) and raw else None


def _senior(me: Claim, other: Claim) -> bool:
    """`me` need not yield to `other` (see the module docstring)."""
    if me.published != other.published:
        return me.published
    return me.created is not None and other.created is not None and me.created < other.created


def _namespace(product: DataProduct, domains: Mapping[str, Domain]) -> str:
    domain = domains.get(product.spec.domain)
    return product.namespace or (domain.namespace_name if domain else product.spec.domain)


def _product_claim(product: DataProduct, domains: Mapping[str, Domain], place: Place) -> Claim:
    namespace = _namespace(product, domains)
    location = product.status.location if product.status else None
    published = False
    if location:
        # Published at its table, or at its table's sibling for a newer major (see major_place).
        published = location_major(location, str(place), -1) is not None
    return Claim(
        place,
        f"the table of DataProduct {namespace}/{product.name}",
        ("DataProduct", namespace, product.name),
        published,
        _created(product.metadata),
    )


def _colliding_tables(
    place: Place, products: Products, domains: Mapping[str, Domain]
) -> Iterator[tuple[DataProduct, Place]]:
    """The products whose table equals, contains or lies inside `place` (a product that cannot be placed at all
    is refused and never builds, so it is skipped).

    Asked for every reconcile, over thousands of products: a table at its computed `<root>/<name>` is judged
    from its domain's root, which is compared with `place` once per domain, not once per product."""
    roots: dict[str, tuple[str, int]] = {}
    for product in _candidates(place, products, domains):
        domain_name = product.spec.domain
        if domain_name not in roots:
            roots[domain_name] = _root_relation(place, domains.get(domain_name))
        relation, depth = roots[domain_name]
        if relation == "apart":
            continue
        explicit = any(o.format == "delta" and o.location for o in product.spec.outputs)
        if not explicit and relation == "inside" and place.parts[depth] != product.name:
            continue
        try:
            table = product_place(product, domains[domain_name])
        except PlacementError:
            continue
        if place.relation(table) is not None:
            yield product, table


def _candidates(place: Place, products: Products, domains: Mapping[str, Domain]) -> Iterable[DataProduct]:
    """The products whose table may collide with `place`: from the operator's indexed table, those with an
    explicit location, those called like the folder `place` names inside a domain's root, and every product of
    a domain whose root `place` covers; any other iterable as it is (the checks below are the same)."""
    if not isinstance(products, ProductTable):
        return products
    found: dict[ProductKey, DataProduct] = {}
    for name, domain in domains.items():
        relation, depth = _root_relation(place, domain)
        if relation == "inside":
            found.update((_key(p), p) for p in products.named(name, place.parts[depth]))
        elif relation == "over":
            found.update((_key(p), p) for p in products.in_domain(name))
    found.update((_key(p), p) for p in products.located())
    return [found[key] for key in sorted(found)]


def _key(product: DataProduct) -> ProductKey:
    return product.namespace or "", product.name


def _root_relation(place: Place, domain: Domain | None) -> tuple[str, int]:
    """("apart" | "inside" | "over", root depth): whether `place` lies strictly inside the domain's root, covers
    it (equals or contains it), or neither (then no placeable table of the domain collides with it: every one
    lies inside the root)."""
    if domain is None:
        return "apart", 0
    try:
        root = storage_root(domain)
    except PlacementError:
        return "apart", 0
    if root.strictly_contains(place):
        return "inside", len(root.parts)
    if place.contains(root):
        return "over", len(root.parts)
    return "apart", 0


def _claimed(location: str) -> Place | None:
    """The place another object's location names, for comparing against. A Domain admitted before these rules
    (or while the webhook was down) may spell a path `/a//b/./c`: it still owns that folder, so a path the
    filesystem would resolve is compared resolved rather than ignored."""
    for spelling in (location, posixpath.normpath(location)):
        try:
            return _parse(spelling)
        except ValueError:
            continue
    return None


def _root_claim(domain: Domain) -> Claim | None:
    place = _claimed(domain.spec.storage.location)
    if place is None:
        return None
    return Claim(place, f"the storage root of Domain {domain.name}", ("Domain", "", domain.name),
                 created=_created(domain.metadata))  # fmt: skip


def _source_claims(domain: Domain) -> Iterator[Claim]:
    for source in domain.spec.sources:
        place = _claimed(source.location)
        if place is not None:
            what = f"source {source.name} of Domain {domain.name}"
            yield Claim(place, what, ("Domain", "", domain.name), created=_created(domain.metadata))


def _collision(field: str, me: Claim, other: Claim, seniority: bool, *, computed: bool = False) -> str | None:
    relation = me.place.relation(other.place)
    if relation is None or me.key == other.key or (seniority and _senior(me, other)):
        return None
    subject = f"the table {me.place} (<domain storage location>/<name>)" if computed else f"location {me.place}"
    where = "" if relation == "is" else f" ({other.place})"
    return f"{field}: {subject} {relation} {other.what}{where}"


def _table_collisions(
    field: str,
    me: Claim,
    products: Products,
    domains: Mapping[str, Domain],
    seniority: bool,
    *,
    computed: bool = False,
) -> Iterator[str]:
    for other, place in _colliding_tables(me.place, products, domains):
        found = _collision(field, me, _product_claim(other, domains, place), seniority, computed=computed)
        if found is not None:
            yield found


def product_problems(
    product: DataProduct,
    domains: Mapping[str, Domain],
    products: Products,
    *,
    seniority: bool = False,
) -> list[str]:
    """Every reason the product may not publish where it would: refused spellings, a table outside its domain's
    root, or one that equals, contains or lies inside another product's table, any Domain's source or another
    Domain's storage root. Without its Domain in `domains` only the spellings are checked (the reconciler then
    reports DomainNotFound and builds nothing). `products`: the operator's ProductTable (its indexes answer
    which tables may collide), or any iterable of products (scanned)."""
    problems: list[str] = []
    for index, output in enumerate(product.spec.outputs):
        if output.location is not None:
            try:
                parse_location(output.location, f"spec.outputs[{index}].location")
            except PlacementError as error:
                problems.append(str(error))
                continue
            if "@" in output.location:
                problems.append(
                    f"spec.outputs[{index}].location: {output.location!r} is refused: '@' is reserved for the tables"
                    " of a product's major versions (<table>@v2)"
                )
    domain = domains.get(product.spec.domain)
    if domain is None or problems:
        return problems
    try:
        root = storage_root(domain)
    except PlacementError as error:
        return [f"spec.domain: Domain {domain.name!r} has no usable storage root: {error}"]
    field, place = _table(product, root)
    computed = field == "metadata.name"
    if not root.strictly_contains(place):
        problems.append(_outside(field, place, root, domain))
    problems.extend(_other_outputs(product, root, domain, place))
    me = _product_claim(product, domains, place)
    claims: list[Claim] = []
    for other in domains.values():
        claims.extend(_source_claims(other))
        root_claim = _root_claim(other) if other.name != domain.name else None
        if root_claim is not None:
            claims.append(root_claim)
    for claim in claims:
        found = _collision(field, me, claim, seniority, computed=computed)
        if found is not None:
            problems.append(found)
    problems.extend(_table_collisions(field, me, products, domains, seniority, computed=computed))
    return problems


def _other_outputs(product: DataProduct, root: Place, domain: Domain, table: Place) -> list[str]:
    """Locations of the other outputs: one Delta table per product, and nothing outside the domain's root."""
    problems: list[str] = []
    seen_table = False
    for index, output in enumerate(product.spec.outputs):
        if not output.location:
            continue
        field = f"spec.outputs[{index}].location"
        place = _parse(output.location)
        if output.format == "delta":
            if seen_table and place.relation(table) != "is":
                problems.append(f"{field}: a product publishes one Delta table, already located at {table}")
            seen_table = True
        elif not root.strictly_contains(place):
            problems.append(_outside(field, place, root, domain))
    return problems


# ---------------------------------------------------------------------------------------------------- domains
def domain_problems(
    domain: Domain,
    domains: Mapping[str, Domain],
    products: Iterable[DataProduct],
    *,
    seniority: bool = False,
) -> list[str]:
    """Every reason the Domain's storage root or sources are refused: refused spellings; a storage root that
    equals, contains or lies inside another Domain's root or source or another domain's product table; a source
    that overlaps another Domain's root or source (reading another domain's data as one's own) or any product's
    table, or that equals or contains the Domain's own root."""
    problems: list[str] = []
    try:
        root: Place | None = storage_root(domain)
    except PlacementError as error:
        problems.append(str(error))
        root = None
    own_sources: list[tuple[int, Place]] = []
    for index, source in enumerate(domain.spec.sources):
        try:
            own_sources.append((index, parse_location(source.location, f"spec.sources[{index}].location")))
        except PlacementError as error:
            problems.append(str(error))
    # Products of this domain are placed under the Domain as it is being admitted, not as the cache knows it.
    view = {**domains, domain.name: domain}
    other_claims: list[Claim] = []
    for other in domains.values():
        if other.name == domain.name:
            continue
        root_claim = _root_claim(other)
        if root_claim is not None:
            other_claims.append(root_claim)
        other_claims.extend(_source_claims(other))
    products = list(products)
    foreign = [p for p in products if p.spec.domain != domain.name]
    created = _created(domain.metadata)
    key = ("Domain", "", domain.name)
    if root is not None:
        me = Claim(root, "", key, created=created)
        field = "spec.storage.location"
        problems.extend(f for c in other_claims if (f := _collision(field, me, c, seniority)) is not None)
        problems.extend(_table_collisions(field, me, foreign, view, seniority))
    for index, place in own_sources:
        field = f"spec.sources[{index}].location"
        if root is not None and place.contains(root):
            relation = "is" if place.relation(root) == "is" else "contains"
            problems.append(f"{field}: location {place} {relation} this Domain's own storage root {root}")
        me = Claim(place, "", key, created=created)
        problems.extend(f for c in other_claims if (f := _collision(field, me, c, seniority)) is not None)
        problems.extend(_table_collisions(field, me, products, view, seniority))
    return problems


# ---------------------------------------------------------------------------------------------------- namespaces
def namespace_problems(
    domain: Domain,
    domains: Mapping[str, Domain] | Iterable[Domain],
    operator_namespace: str,
    reserved: Iterable[str] = (),
    *,
    seniority: bool = False,
) -> list[str]:
    """Why the Domain may not own its namespace (`spec.namespace`, default its name): a system namespace
    (`kube-*`, `default`), the operator's own, a configured reserved one, or one another Domain claims."""
    namespace = domain.namespace_name
    field = (
        "spec.namespace"
        if domain.spec.namespace
        else "metadata.name (spec.namespace is not set, so the Domain claims the namespace of its name)"
    )
    problems: list[str] = []
    if namespace in SYSTEM_NAMESPACES or namespace.startswith("kube-"):
        problems.append(f"{field}: namespace {namespace!r} is a system namespace")
    elif namespace == operator_namespace:
        problems.append(f"{field}: namespace {namespace!r} is the operator's own namespace")
    elif namespace in set(reserved):
        problems.append(f"{field}: namespace {namespace!r} is reserved by the operator's configuration")
    values = domains.values() if isinstance(domains, Mapping) else domains
    created = _created(domain.metadata)
    for other in values:
        if other.name == domain.name or other.namespace_name != namespace:
            continue
        other_created = _created(other.metadata)
        if seniority and created is not None and other_created is not None and created < other_created:
            continue
        problems.append(f"{field}: namespace {namespace!r} is claimed by Domain {other.name}")
    return problems


def may_adopt(namespace_labels: Mapping[str, str] | None, domain_name: str) -> str | None:
    """Whether a Domain may take over its namespace; None to go ahead, else why not.

    For the Domain reconciler, after it GETs the namespace: `namespace_labels` is its `metadata.labels`, or None
    when it does not exist (then the reconciler creates it, labelled `datamesh.dev/domain=<name>`). An existing
    namespace is adopted only when it carries that label: made for this Domain, or handed to it by an admin who
    labelled it so. A Domain must never take over (RoleBindings, quota, pod security) a namespace that holds
    someone else's workloads. One label for both, because the chart's admission policy lets the operator touch
    only namespaces that carry it.
    """
    if namespace_labels is None:
        return None
    if namespace_labels.get(DOMAIN_LABEL) == domain_name:
        return None
    owner = namespace_labels.get(DOMAIN_LABEL)
    whose = f"was created for Domain {owner!r}" if owner else "was not created by the operator"
    return (
        f"the namespace exists and {whose}; an admin may hand it to Domain {domain_name!r} with the label "
        f"{DOMAIN_LABEL}={domain_name}"
    )
