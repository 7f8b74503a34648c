"""Locations are computed, not trusted; namespaces are claimed once. Written as a hostile tenant would probe.

The mesh: Domains `sales` (storage /lake/sales/gold, source /lake/sales/bronze/crm) and `marketing` (storage
/lake/marketing/gold, source /lake/marketing/bronze/web), and marketing's published product `victim`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datamesh import placement
from datamesh.api import DataProduct, Domain
from datamesh.api.dataproduct import DataProductStatus
from datamesh.manifests import load_mesh
from datamesh.placement import PlacementError, may_adopt, namespace_problems, normalise, product_location

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OPERATOR_NS = "datamesh-system"


def domain(
    name: str,
    root: str | None = None,
    sources: list[str] | None = None,
    *,
    namespace: str | None = None,
    created: str | None = None,
) -> Domain:
    spec: dict[str, Any] = {
        "owner": "o@example.com",
        "description": "d",
        "storage": {"location": root or f"/lake/{name}/gold"},
        "sources": [{"name": f"raw.s{i}", "location": loc} for i, loc in enumerate(sources or [])],
    }
    if namespace:
        spec["namespace"] = namespace
    metadata: dict[str, Any] = {"name": name}
    if created:
        metadata["creationTimestamp"] = created
    return Domain.model_validate({"metadata": metadata, "spec": spec})


def product(
    name: str,
    domain_name: str = "sales",
    location: str | None = None,
    *,
    mode: str | None = None,
    created: str | None = None,
    published: str | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> DataProduct:
    output: dict[str, Any] = {"name": "t", "format": "delta"}
    if location is not None:
        output["location"] = location
    if mode:
        output["mode"] = mode
    metadata: dict[str, Any] = {"name": name, "namespace": domain_name}
    if created:
        metadata["creationTimestamp"] = created
    found = DataProduct.model_validate(
        {
            "metadata": metadata,
            "spec": {
                "domain": domain_name,
                "owner": "o",
                "description": "d",
                "sla": {"freshness": "1 hour"},
                "schema": [{"name": "id", "type": "string", "primaryKey": True}],
                "inputs": [{"source": "raw.s0"}],
                "outputs": outputs or [output],
            },
        }
    )
    if published:
        found.status = DataProductStatus(location=published, table_version=0)
    return found


def mesh() -> tuple[dict[str, Domain], list[DataProduct]]:
    domains = {
        "sales": domain("sales", sources=["/lake/sales/bronze/crm"]),
        "marketing": domain("marketing", sources=["/lake/marketing/bronze/web"]),
    }
    return domains, [product("victim", "marketing", published="/lake/marketing/gold/victim")]


def problems_of(candidate: DataProduct, **kwargs: Any) -> list[str]:
    domains, products = mesh()
    return placement.product_problems(candidate, domains, [*products, candidate], **kwargs)


# ------------------------------------------------------------------------------------------------ normalising
@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("/lake/x", "/lake/x"),
        ("/lake/x/", "/lake/x"),
        ("file:/lake/x", "/lake/x"),
        ("file:///lake/x", "/lake/x"),
        ("FILE:/lake/x/", "/lake/x"),
        ("S3A://Bucket/Path/x/", "s3a://bucket/Path/x"),
        ("s3a://bucket", "s3a://bucket"),
        ("gs://b/x", "gs://b/x"),
        ("abfss://gold@LakeSales.dfs.core.windows.net/c360", "abfss://gold@lakesales.dfs.core.windows.net/c360"),
    ],
)
def test_one_place_one_spelling(written: str, canonical: str) -> None:
    assert normalise(written) == canonical


def test_paths_compare_case_sensitively_and_s3_spellings_as_one_store() -> None:
    assert placement.parse_location("/lake/X", "f").relation(placement.parse_location("/lake/x", "f")) is None
    s3 = placement.parse_location("s3://bucket/a", "f")
    assert s3.relation(placement.parse_location("S3A://BUCKET/a/b", "f")) == "contains"
    assert s3.relation(placement.parse_location("s3a://other/a", "f")) is None
    assert s3.relation(placement.parse_location("gs://bucket/a", "f")) is None


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("/lake/sales/gold/../../marketing/gold/victim", "'..' segment"),
        ("/lake/sales/gold/x/..", "'..' segment"),
        ("/lake/sales/gold/./x", "'.' segment"),
        ("/lake/sales/gold/%2e%2e/%2e%2e/marketing", "percent-encoding"),
        ("/lake/sales/gold/x%2f..%2fy", "percent-encoding"),
        ("s3a://bucket/sales/../marketing", "'..' segment"),
        ("/lake/sales\\..\\marketing", "backslash"),
        ("/lake/sales/gold/x\x00", "non-printable"),
        ("/lake/sales/gold/x\ny", "non-printable"),
        ("~/lake", "'~'"),
        ("/lake/~marketing", "'~'"),
        ("/lake/sales/gold/x?versionAsOf=1", "query string"),
        ("/lake/sales/gold/x#frag", "fragment"),
        ("lake/sales/gold/x", "relative path"),
        ("file:lake/x", "relative file"),
        ("file://host/lake/x", "host"),
        ("/lake/sales//gold/x", "'//'"),
        ("s3a:///sales/x", "no bucket"),
        ("s3a://key:secret@bucket/x", "bucket"),
        ("s3a://bucket:9000/x", "bucket"),
        ("abfss://lakesales.dfs.core.windows.net/x", "container@account"),
        ("hdfs://namenode/lake/x", "scheme 'hdfs'"),
        ("http://example.com/x", "scheme 'http'"),
        ("/lake/*/gold/victim", "glob"),
        ("/lake/{sales,marketing}/gold", "glob"),
        ("/lake/sales/gold/x'; DROP", "quote"),
        ("/lake/a,/lake/marketing", "comma"),
        ("/lake/s3a:/x", "':'"),
        ("", "empty"),
    ],
)
def test_refused_spellings_name_the_field(written: str, reason: str) -> None:
    with pytest.raises(PlacementError) as refused:
        normalise(written, "spec.outputs[0].location")
    assert str(refused.value).startswith("spec.outputs[0].location: ")
    assert reason in str(refused.value)


# ------------------------------------------------------------------------------------------------ product_location
def test_the_table_is_computed_under_the_domain_root() -> None:
    assert product_location(product("c360"), domain("sales", "file:/lake/sales/gold/")) == "/lake/sales/gold/c360"
    assert product_location(product("c360"), domain("sales", "s3a://Lake/sales")) == "s3a://lake/sales/c360"


@pytest.mark.parametrize(
    "location",
    ["/lake/sales/gold/team/c360", "file:/lake/sales/gold/c360-v2/", "/lake/sales/gold/x"],
)
def test_a_written_location_inside_the_own_root_is_accepted(location: str) -> None:
    assert product_location(product("c360", location=location), domain("sales")) == normalise(location)
    assert problems_of(product("c360", location=location)) == []


@pytest.mark.parametrize(
    "location",
    [
        "/lake/marketing/gold/stolen",
        "/lake/sales/gold",
        "/lake/sales/gold/",
        "/lake/sales",
        "/lake",
        "/lake/sales/golden/x",
        "s3a://bucket/lake/sales/gold/x",
        "file:/lake/marketing/gold/victim",
    ],
)
def test_a_written_location_outside_the_own_root_is_refused(location: str) -> None:
    with pytest.raises(PlacementError, match=r"^spec\.outputs\[0\]\.location: .*storage root"):
        product_location(product("c360", location=location), domain("sales"))


def test_an_unusable_domain_root_places_nothing() -> None:
    with pytest.raises(PlacementError, match="spec.domain: Domain 'sales' has no usable storage root"):
        product_location(product("c360"), domain("sales", "/lake/../sales"))
    with pytest.raises(PlacementError, match="'/' is not a folder"):
        product_location(product("c360"), domain("sales", "/"))


# ------------------------------------------------------------------------------------------------ product overlaps
@pytest.mark.parametrize("mode", [None, "overwrite", "merge"])
def test_another_domains_table_is_refused_and_named(mode: str | None) -> None:
    found = problems_of(product("probe", location="/lake/marketing/gold/victim", mode=mode))
    assert (
        "spec.outputs[0].location: location /lake/marketing/gold/victim is the table of DataProduct marketing/victim"
        in found
    )
    assert any("is not inside the storage root /lake/sales/gold" in p for p in found)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/lake/marketing/gold/stolen", "is inside the storage root of Domain marketing (/lake/marketing/gold)"),
        ("/lake/marketing/gold", "is the storage root of Domain marketing"),
        ("/lake/marketing", "contains the storage root of Domain marketing (/lake/marketing/gold)"),
        ("/lake/marketing/gold/victim/_delta_log", "is inside the table of DataProduct marketing/victim"),
    ],
)
def test_another_domains_storage_is_refused_and_named(location: str, expected: str) -> None:
    found = problems_of(product("probe", location=location))
    assert any(p.startswith("spec.outputs[0].location: ") and expected in p for p in found), found


@pytest.mark.parametrize(
    "location",
    ["/lake/sales/bronze/crm", "/lake/sales/bronze/crm/part-0", "/lake/marketing/bronze/web", "/lake/sales/bronze"],
)
def test_a_source_folder_is_refused_and_named(location: str) -> None:
    found = problems_of(product("probe", location=location))
    assert any("source raw.s0 of Domain" in p for p in found), found


def test_a_source_inside_the_own_root_is_never_a_table() -> None:
    domains = {"sales": domain("sales", sources=["/lake/sales/gold/raw/orders"])}
    # The computed table of a product named like the source's folder, and a written location inside the source.
    named = product("raw")
    assert placement.product_problems(named, domains, [named]) == [
        "metadata.name: the table /lake/sales/gold/raw (<domain storage location>/<name>) contains source raw.s0 of"
        " Domain sales (/lake/sales/gold/raw/orders)"
    ]
    inside = product("p", location="/lake/sales/gold/raw/orders/x")
    assert any("is inside source raw.s0" in p for p in placement.product_problems(inside, domains, [inside]))


@pytest.mark.parametrize(
    ("location", "relation"),
    [
        ("/lake/sales/gold/orders", "is"),
        ("/lake/sales/gold/orders/sub", "is inside"),
        ("/lake/sales/gold/team", "contains"),
    ],
)
def test_a_sibling_products_table_is_refused(location: str, relation: str) -> None:
    domains, products = mesh()
    orders = product("orders")
    team = product("team-table", location="/lake/sales/gold/team/t")
    probe = product("probe", location=location)
    found = placement.product_problems(probe, domains, [*products, orders, team, probe])
    assert any(f" {relation} the table of DataProduct sales/" in p for p in found), found


def test_prefixes_that_share_characters_do_not_overlap() -> None:
    domains = {"x": domain("x", "/lake/x/gold"), "xy": domain("xy", "/lake/x/goldy")}
    abc, abcd = product("abc", "x"), product("abcd", "x")
    other = product("abc", "xy")
    everything = [abc, abcd, other]
    assert [placement.product_problems(p, domains, everything) for p in everything] == [[], [], []]
    assert placement.domain_problems(domains["x"], domains, everything) == []


def test_a_product_never_conflicts_with_itself() -> None:
    domains, products = mesh()
    victim = products[0]
    assert placement.product_problems(victim, domains, products) == []
    written = product("victim", "marketing", location="/lake/marketing/gold/victim")
    assert placement.product_problems(written, domains, [written, victim]) == []


def test_one_delta_table_per_product_and_no_other_output_outside_the_root() -> None:
    outputs = [
        {"name": "a", "format": "delta", "location": "/lake/sales/gold/a"},
        {"name": "b", "format": "delta", "location": "/lake/sales/gold/b"},
        {"name": "api", "format": "rest", "location": "/lake/marketing/gold/victim"},
    ]
    found = problems_of(product("probe", outputs=outputs))
    assert any(p.startswith("spec.outputs[1].location: a product publishes one Delta table") for p in found)
    assert any(p.startswith("spec.outputs[2].location: ") and "not inside the storage root" in p for p in found)


def test_without_its_domain_only_the_spelling_is_checked() -> None:
    domains, products = mesh()
    stray = product("stray", "nowhere", location="/lake/marketing/gold/victim")
    assert placement.product_problems(stray, domains, products) == []
    climbing = product("stray", "nowhere", location="/lake/x/../marketing")
    assert placement.product_problems(climbing, domains, products)[0].startswith("spec.outputs[0].location: ")


def test_the_examples_place_everything_apart() -> None:
    examples = load_mesh([EXAMPLES])
    products = list(examples.products.values())
    for found in products:
        assert placement.product_problems(found, examples.domains, products) == []
    for each in examples.domains.values():
        assert placement.domain_problems(each, examples.domains, products) == []
        assert namespace_problems(each, examples.domains, OPERATOR_NS) == []


# ------------------------------------------------------------------------------------------------ seniority
def test_an_intruder_admitted_while_the_webhook_was_down_does_not_stop_its_victim() -> None:
    domains, _ = mesh()
    victim = product("victim", "marketing", created="2026-01-01T00:00:00Z", published="/lake/marketing/gold/victim")
    intruder = product("intruder", "marketing", "/lake/marketing/gold/victim", created="2026-01-02T00:00:00Z")
    everything = [victim, intruder]
    assert placement.product_problems(victim, domains, everything, seniority=True) == []
    assert placement.product_problems(intruder, domains, everything, seniority=True) != []
    # Admission has no seniority: whatever conflicts is refused.
    assert placement.product_problems(victim, domains, everything) != []


def test_an_older_product_cannot_take_a_younger_ones_published_table() -> None:
    domains, _ = mesh()
    old = product("old", "marketing", "/lake/marketing/gold/young", created="2025-01-01T00:00:00Z",
                  published="/lake/marketing/gold/old")  # fmt: skip
    young = product("young", "marketing", created="2026-01-01T00:00:00Z", published="/lake/marketing/gold/young")
    assert placement.product_problems(young, domains, [old, young], seniority=True) == []
    assert any("the table of DataProduct marketing/young" in p
               for p in placement.product_problems(old, domains, [old, young], seniority=True))  # fmt: skip


def test_without_publications_the_older_wins_and_without_timestamps_both_lose() -> None:
    domains, _ = mesh()
    first = product("first", "marketing", "/lake/marketing/gold/t", created="2026-01-01T00:00:00Z")
    second = product("second", "marketing", "/lake/marketing/gold/t", created="2026-01-01T00:00:01Z")
    assert placement.product_problems(first, domains, [first, second], seniority=True) == []
    assert placement.product_problems(second, domains, [first, second], seniority=True) != []
    a, b = product("a", "marketing", "/lake/marketing/gold/t"), product("b", "marketing", "/lake/marketing/gold/t")
    assert placement.product_problems(a, domains, [a, b], seniority=True) != []
    assert placement.product_problems(b, domains, [a, b], seniority=True) != []


# ------------------------------------------------------------------------------------------------ domains
@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("/lake/marketing/gold", "spec.storage.location: location /lake/marketing/gold is the storage root of Domain"
         " marketing"),
        ("/lake/marketing", "spec.storage.location: location /lake/marketing contains the storage root of Domain"
         " marketing (/lake/marketing/gold)"),
        ("/lake/marketing/gold/sub", "spec.storage.location: location /lake/marketing/gold/sub is inside the storage"
         " root of Domain marketing (/lake/marketing/gold)"),
        ("/lake/marketing/bronze", "spec.storage.location: location /lake/marketing/bronze contains source raw.s0 of"
         " Domain marketing (/lake/marketing/bronze/web)"),
        ("file:/lake/marketing/gold/victim/", "is the table of DataProduct marketing/victim"),
    ],
)  # fmt: skip
def test_overlapping_domain_storage_is_refused_and_named(root: str, expected: str) -> None:
    domains, products = mesh()
    hostile = domain("hostile", root)
    found = placement.domain_problems(hostile, {**domains, "hostile": hostile}, products)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/lake/marketing/gold/victim", "is the table of DataProduct marketing/victim"),
        ("/lake/marketing/gold/victim/part-0.parquet", "is inside the table of DataProduct marketing/victim"),
        ("/lake/marketing/gold", "is the storage root of Domain marketing"),
        ("/lake/marketing", "contains the storage root of Domain marketing"),
        ("/lake/marketing/bronze/web", "is source raw.s0 of Domain marketing"),
        ("s3a://lake/x", None),
    ],
)
def test_a_source_may_not_read_another_domains_data_as_its_own(source: str, expected: str | None) -> None:
    domains, products = mesh()
    hostile = domain("hostile", sources=[source])
    found = placement.domain_problems(hostile, domains, products)
    if expected is None:
        assert found == []
    else:
        assert any(p.startswith("spec.sources[0].location: ") and expected in p for p in found), found


def test_a_source_may_not_cover_the_domains_own_storage_or_its_tables() -> None:
    domains, _ = mesh()
    own = product("orders")
    for source, expected in [
        ("/lake/sales/gold", "is this Domain's own storage root"),
        ("/lake/sales", "contains this Domain's own storage root"),
        ("/lake/sales/gold/orders", "is the table of DataProduct sales/orders"),
    ]:
        changed = domain("sales", sources=[source])
        found = placement.domain_problems(changed, domains, [own])
        assert any(p.startswith("spec.sources[0].location: ") and expected in p for p in found), (source, found)


def test_refused_spellings_of_a_domain_name_their_field() -> None:
    hostile = domain("hostile", "/lake/hostile/../marketing/gold", sources=["/lake/x", "/lake/%2e%2e/marketing"])
    found = placement.domain_problems(hostile, {}, [])
    assert [p.split(":")[0] for p in found] == ["spec.storage.location", "spec.sources[1].location"]


def test_a_domain_update_is_judged_with_its_products_under_the_new_root() -> None:
    domains, products = mesh()
    moved = domain("marketing", "/lake/m2/gold", sources=["/lake/m2/gold/victim"])
    found = placement.domain_problems(moved, domains, products)
    assert any("is the table of DataProduct marketing/victim" in p for p in found), found


# ------------------------------------------------------------------------------------------------ namespaces
@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ("kube-system", "is a system namespace"),
        ("kube-public", "is a system namespace"),
        ("kube-node-lease", "is a system namespace"),
        ("kube-anything", "is a system namespace"),
        ("default", "is a system namespace"),
        (OPERATOR_NS, "is the operator's own namespace"),
        ("vault", "is reserved"),
        ("marketing", "is claimed by Domain marketing"),
        ("shared", "is claimed by Domain finance"),
    ],
)
def test_namespace_claims_are_refused_and_named(claim: str, expected: str) -> None:
    domains, _ = mesh()
    domains["finance"] = domain("finance", namespace="shared")
    found = namespace_problems(domain("hostile", namespace=claim), domains, OPERATOR_NS, ["vault", "cert-manager"])
    assert len(found) == 1 and found[0].startswith("spec.namespace: ")
    assert f"namespace {claim!r} {expected}" in found[0]


def test_a_domain_named_after_a_system_namespace_claims_it() -> None:
    (found,) = namespace_problems(domain("default"), {}, OPERATOR_NS)
    assert found.startswith("metadata.name (spec.namespace is not set") and "'default' is a system namespace" in found


def test_a_domain_keeps_its_own_namespace_and_the_older_claim_wins() -> None:
    domains, _ = mesh()
    assert namespace_problems(domains["sales"], domains, OPERATOR_NS) == []
    older = domain("a", namespace="team", created="2026-01-01T00:00:00Z")
    younger = domain("b", namespace="team", created="2026-02-01T00:00:00Z")
    both = {"a": older, "b": younger}
    assert namespace_problems(older, both, OPERATOR_NS, seniority=True) == []
    assert namespace_problems(younger, both, OPERATOR_NS, seniority=True) != []
    assert namespace_problems(older, both, OPERATOR_NS) != []


@pytest.mark.parametrize(
    ("labels", "verdict"),
    [
        (None, None),
        ({"datamesh.dev/domain": "sales"}, None),
        ({"datamesh.dev/domain": "sales", "team": "x"}, None),
        ({"datamesh.dev/allow-domain": "sales"}, "datamesh.dev/domain=sales"),
        ({"datamesh.dev/domain": "marketing"}, "was created for Domain 'marketing'"),
        ({}, "was not created by the operator"),
        ({"datamesh.dev/domain": "marketing", "team": "x"}, "was created for Domain 'marketing'"),
        ({"kubernetes.io/metadata.name": "kube-system"}, "was not created by the operator"),
    ],
)
def test_an_existing_namespace_is_adopted_only_when_made_or_allowed_for_the_domain(
    labels: dict[str, str] | None, verdict: str | None
) -> None:
    found = may_adopt(labels, "sales")
    assert found is None if verdict is None else (found is not None and verdict in found)


def test_a_legacy_domain_spelled_loosely_still_owns_its_folders() -> None:
    # Admitted before these rules (or while the webhook was down): the filesystem resolves these spellings.
    legacy = domain("legacy", "/lake//legacy/./gold", sources=["/lake/legacy/x/../bronze"])
    domains = {"sales": domain("sales"), "legacy": legacy}
    probe = domain("probe", "/lake/legacy/gold/stolen", sources=["/lake/legacy/bronze/part"])
    found = placement.domain_problems(probe, domains, [])
    assert any("is inside the storage root of Domain legacy (/lake/legacy/gold)" in p for p in found), found
    assert any("is inside source raw.s0 of Domain legacy (/lake/legacy/bronze)" in p for p in found), found


# ------------------------------------------------------------------------------------------------ admission
def test_admission_refuses_what_placement_refuses_and_never_an_unchanged_spec() -> None:
    from datamesh.admission import review

    domains, products = mesh()
    thief = product("thief", location="/lake/marketing/gold/victim", mode="merge").to_wire()
    found = review.review_product(thief, None, [], domains=domains, products=products)
    assert "the table of DataProduct marketing/victim" in "; ".join(found)
    assert review.review_product(product("fine").to_wire(), None, [], domains=domains, products=products) == []
    hostile = domain("hostile", "/lake/marketing/gold", namespace="kube-system").to_wire()
    found = review.review_domain(hostile, None, [], domains=domains, products=products, operator_namespace="op")
    assert {p.split(":")[0] for p in found} == {"spec.storage.location", "spec.namespace"}
    reserved = domain("vault", namespace="vault").to_wire()
    assert review.review_domain(reserved, None, [], domains=domains, products=products, operator_namespace="op",
                                reserved_namespaces=["vault"]) != []  # fmt: skip
    # A finalizer or label change of an object admitted earlier is never refused.
    assert review.review_domain(hostile, hostile, [], domains=domains, products=products, operator_namespace="op") == []
