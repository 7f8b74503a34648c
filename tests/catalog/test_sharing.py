"""Delta Sharing through the catalog API, read by the official `delta-sharing` client over real HTTP from real
Delta tables: recipients are consumer domains, access is governance's, PII is never served in clear to a
mask or exclude recipient, and file URLs are signed, short-lived and checked again when used.

The mesh: sales publishes `customers` (email is PII) granted to analytics in clear and to marketing masked,
and `orders` granted to analytics; finance has no grant. No cluster is needed: sharing tokens are the catalog's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import delta_sharing  # type: ignore[import-untyped]
import httpx
import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from requests.exceptions import HTTPError
from sqlalchemy import select

from datamesh.catalog.api.rest_output import mask
from datamesh.catalog.db import session_factory
from datamesh.catalog.inventory import Inventory
from datamesh.catalog.models import ShareTokenRow
from datamesh.catalog.sharing import copy, signing
from datamesh.catalog.sharing.profiles import ProfileRefused, issue_profile
from datamesh.catalog.sharing.tokens import issue, recipient_for, token_hash
from datamesh.catalog.sync import CatalogSync, open_catalog
from datamesh.cli.main import main as datamesh
from datamesh.mesh.world import World
from tests.catalog.conftest import make_domain, make_product
from tests.catalog.mesh import ROWS, write_delta_table
from tests.catalog.sharing_api import serve_api

SIGNING_KEY = bytes(range(32))
MASKING_KEY = bytes(range(100, 132))
CUSTOMERS = [{"domains": ["marketing"], "pii": "mask"}, {"domains": ["analytics"], "pii": "clear"}]


@dataclass
class Mesh:
    url: str
    catalog_url: str
    lake: Path
    catalog: CatalogSync

    @property
    def endpoint(self) -> str:
        return f"{self.url}/delta-sharing"

    def world(self, customer_grants: list[dict[str, Any]]) -> World:
        domains = [make_domain(n) for n in ("sales", "marketing", "analytics", "finance")]
        products = [
            make_product(
                "customers", "sales", quality=0.95, location=str(self.lake / "customers"), grants=customer_grants
            ),
            make_product(
                "orders",
                "sales",
                quality=0.9,
                location=str(self.lake / "orders"),
                grants=[{"domains": ["analytics"], "pii": "clear"}],
            ),
        ]
        return World(
            domains={d.name: d for d in domains},
            products={(str(p.metadata["namespace"]), p.name): p for p in products},
        )

    def grant(self, customer_grants: list[dict[str, Any]]) -> None:
        world = self.world(customer_grants)
        self.catalog.converge(world, Inventory.of(world))

    def profile(self, recipient: str, tmp: Path, product: str = "customers", **kwargs: Any) -> Path:
        with session_factory(self.catalog.engine).begin() as session:
            issued = issue_profile(
                session,
                recipient=recipient,
                product=product,
                endpoint=self.endpoint,
                now=kwargs.get("now", datetime.now(UTC)),
                lifetime=kwargs.get("lifetime", timedelta(hours=1)),
                rotate=kwargs.get("rotate", False),
            )
        path = tmp / f"{recipient}-{time.monotonic_ns()}.share"
        path.write_text(json.dumps(issued.body))
        return path

    def token(self, recipient: str) -> str:
        """A token for a recipient, issued without the profile's check that it may read anything."""
        with session_factory(self.catalog.engine).begin() as session:
            return issue(session, recipient, now=datetime.now(UTC), lifetime=timedelta(hours=1), rotate=False).token


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("sharing")
    lake = root / "lake"
    write_delta_table(lake / "customers")
    write_deltalake(str(lake / "orders"), pa.table({"id": pa.array([1, 2, 3], pa.int64()), "amount": [1.0, 2.0, 3.0]}))
    catalog_url = f"sqlite:///{root / 'catalog.db'}"
    catalog = open_catalog(catalog_url)
    try:
        with serve_api(catalog_url, signing_key=SIGNING_KEY, url_seconds=60) as api:
            shared = Mesh(api.url, catalog_url, lake, catalog)
            shared.grant(CUSTOMERS)
            yield shared
    finally:
        catalog.close()


def _rows(frame: Any) -> list[dict[str, Any]]:
    return sorted(frame.to_dict(orient="records"), key=lambda row: row["id"])


def _table_rows(location: Path) -> list[dict[str, Any]]:
    return sorted(DeltaTable(str(location)).to_pyarrow_table().to_pylist(), key=lambda row: row["id"])


def _query(mesh: Mesh, token: str, table: str = "customers.sales.customers", **body: Any) -> httpx.Response:
    share, schema, name = table.split(".")
    return httpx.post(
        f"{mesh.endpoint}/shares/{share}/schemas/{schema}/tables/{name}/query",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def _file_urls(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [json.loads(line)["file"]["url"] for line in response.text.splitlines()[2:]]


def test_a_clear_recipient_reads_exactly_the_tables_rows_with_the_official_client(mesh: Mesh, tmp_path: Path) -> None:
    profile = mesh.profile("analytics", tmp_path)
    client = delta_sharing.SharingClient(str(profile))
    tables = {(t.share, t.schema, t.name) for t in client.list_all_tables()}
    assert tables == {("customers", "sales", "customers"), ("orders", "sales", "orders")}
    frame = delta_sharing.load_as_pandas(f"{profile}#customers.sales.customers")
    assert len(frame) == ROWS
    assert _rows(frame) == _table_rows(mesh.lake / "customers")
    assert _rows(delta_sharing.load_as_pandas(f"{profile}#orders.sales.orders")) == _table_rows(mesh.lake / "orders")


def test_protocol_answers_version_metadata_and_query_with_signed_expiring_urls(mesh: Mesh) -> None:
    token = mesh.token("analytics")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{mesh.endpoint}/shares/customers/schemas/sales/tables/customers"
    version = httpx.get(f"{base}/version", headers=headers)
    assert version.status_code == 200 and version.headers["delta-table-version"] == "0"
    metadata = httpx.get(f"{base}/metadata", headers=headers)
    protocol, meta = (json.loads(line) for line in metadata.text.splitlines())
    assert protocol == {"protocol": {"minReaderVersion": 1}}
    schema = json.loads(meta["metaData"]["schemaString"])
    assert [f["name"] for f in schema["fields"]] == ["id", "email", "amount"]
    query = _query(mesh, token)
    files = [json.loads(line)["file"] for line in query.text.splitlines()[2:]]
    assert files and all(f["url"].startswith(f"{mesh.endpoint}/files/") for f in files)
    # Statistics carry the row count only: min/max would put PII values in clear into the answer.
    assert all(json.loads(f["stats"]) == {"numRecords": ROWS} for f in files)
    assert all(0 < f["expirationTimestamp"] - time.time() * 1000 <= 61_000 for f in files)
    assert httpx.head(files[0]["url"]).headers["content-length"] == str(files[0]["size"])
    assert len(httpx.get(files[0]["url"], headers={"Range": "bytes=0-3"}).content) == 4


def test_listing_paginates_with_max_results_and_page_tokens(mesh: Mesh) -> None:
    headers = {"Authorization": f"Bearer {mesh.token('analytics')}"}
    first = httpx.get(f"{mesh.endpoint}/shares", params={"maxResults": 1}, headers=headers).json()
    assert first["items"] == [{"name": "customers", "id": "customers"}]
    params = {"maxResults": 1, "pageToken": first["nextPageToken"]}
    second = httpx.get(f"{mesh.endpoint}/shares", params=params, headers=headers).json()
    assert second == {"items": [{"name": "orders", "id": "orders"}]}
    assert httpx.get(f"{mesh.endpoint}/shares", params={"maxResults": 0}, headers=headers).json()["items"] == []
    forged = httpx.get(f"{mesh.endpoint}/shares", params={"pageToken": "not-a-token"}, headers=headers)
    assert forged.status_code == 400 and forged.json()["errorCode"] == "INVALID_PARAMETER_VALUE"


def test_a_recipient_without_a_grant_gets_403_on_every_path(mesh: Mesh) -> None:
    headers = {"Authorization": f"Bearer {mesh.token('finance')}"}
    table = f"{mesh.endpoint}/shares/customers/schemas/sales/tables/customers"
    paths = [
        "/shares",
        "/shares/customers",
        "/shares/customers/schemas",
        "/shares/customers/schemas/sales/tables",
        "/shares/customers/all-tables",
        "/shares/customers/schemas/sales/tables/customers/version",
        "/shares/customers/schemas/sales/tables/customers/metadata",
        "/shares/customers/schemas/sales/tables/customers/changes",
        "/shares/no-such-share/schemas",
    ]
    for path in paths:
        response = httpx.get(mesh.endpoint + path, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["errorCode"] == "PERMISSION_DENIED"
    assert httpx.post(f"{table}/query", json={}, headers=headers).status_code == 403
    # A file URL signed for another recipient's read does not become finance's by changing the claims.
    good = _file_urls(_query(mesh, mesh.token("analytics")))[0]
    body, _, signature = good.rsplit("/", 1)[1].partition(".")
    claims = json.loads(signing._unb64(body))
    forged = signing._b64(json.dumps({**claims, "recipient": "finance"}).encode())
    assert httpx.get(f"{mesh.endpoint}/files/{forged}.{signature}").status_code == 403
    # A valid signature over finance's claims (the key leaked) still finds no grant.
    leaked = signing.sign(SIGNING_KEY, signing.FileClaims(**{**claims, "recipient": "finance"}))
    assert httpx.get(f"{mesh.endpoint}/files/{leaked}").status_code == 403
    with pytest.raises(ProfileRefused, match="may not read"):
        mesh.profile("finance", Path("/nonexistent"))


def test_unknown_expired_and_rotated_tokens_are_unauthenticated(mesh: Mesh, tmp_path: Path) -> None:
    assert httpx.get(f"{mesh.endpoint}/shares").status_code == 401
    assert httpx.get(f"{mesh.endpoint}/shares", headers={"Authorization": "Bearer nope"}).status_code == 401
    past = datetime.now(UTC) - timedelta(days=2)
    expired = json.loads(mesh.profile("analytics", tmp_path, now=past, lifetime=timedelta(days=1)).read_text())
    assert (
        httpx.get(f"{mesh.endpoint}/shares", headers={"Authorization": f"Bearer {expired['bearerToken']}"}).status_code
        == 401
    )
    old = json.loads(mesh.profile("analytics", tmp_path).read_text())["bearerToken"]
    new = json.loads(mesh.profile("analytics", tmp_path, rotate=True).read_text())["bearerToken"]
    assert httpx.get(f"{mesh.endpoint}/shares", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert httpx.get(f"{mesh.endpoint}/shares", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_revoking_a_grant_stops_reads_at_once_even_through_urls_already_handed_out(mesh: Mesh, tmp_path: Path) -> None:
    profile = mesh.profile("analytics", tmp_path)
    urls = _file_urls(_query(mesh, json.loads(profile.read_text())["bearerToken"]))
    assert httpx.get(urls[0]).status_code == 200
    mesh.grant([{"domains": ["marketing"], "pii": "mask"}])
    try:
        with pytest.raises(HTTPError, match="403"):
            delta_sharing.load_as_pandas(f"{profile}#customers.sales.customers")
        assert httpx.get(urls[0]).status_code == 403
        # The recipient still lists what it may read: orders, not customers.
        tables = delta_sharing.SharingClient(str(profile)).list_all_tables()
        assert [t.name for t in tables] == ["orders"]
        # Downgraded from clear to mask: clear files are not served either.
        mesh.grant([{"domains": ["analytics"], "pii": "mask"}])
        assert httpx.get(urls[0]).status_code == 403
    finally:
        mesh.grant(CUSTOMERS)
    assert httpx.get(urls[0]).status_code == 200


def test_expired_tampered_and_hostile_file_urls_get_403(mesh: Mesh) -> None:
    url = _file_urls(_query(mesh, mesh.token("analytics")))[0]
    body, _, signature = url.rsplit("/", 1)[1].partition(".")
    claims = signing.FileClaims(**json.loads(signing._unb64(body)))
    expired = signing.sign(SIGNING_KEY, signing.FileClaims(**{**claims.__dict__, "expires": int(time.time()) - 1}))
    tampered = f"{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    hostile = [
        signing.sign(SIGNING_KEY, signing.FileClaims(**{**claims.__dict__, "path": path}))
        for path in ("../catalog.db", "_delta_log/00000000000000000000.json", "/etc/passwd", "../orders/x.parquet")
    ]
    for signed in (expired, tampered, "garbage", "a.b", *hostile):
        response = httpx.get(f"{mesh.endpoint}/files/{signed}")
        assert response.status_code == 403, (signed, response.text)
    # Another key's signature is refused even over genuine claims.
    assert httpx.get(f"{mesh.endpoint}/files/{signing.sign(b'x' * 32, claims)}").status_code == 403


def test_a_mask_recipient_is_refused_until_a_current_masked_copy_exists_and_never_sees_clear_pii(
    mesh: Mesh, tmp_path: Path
) -> None:
    location = mesh.lake / "customers"
    profile = mesh.profile("marketing", tmp_path)
    token = json.loads(profile.read_text())["bearerToken"]
    refused = _query(mesh, token)
    assert refused.status_code == 403 and "masked copy not published" in refused.json()["message"]
    with pytest.raises(HTTPError, match="403"):
        delta_sharing.load_as_pandas(f"{profile}#customers.sales.customers")

    assert copy.write_copy(str(location), mode="mask", pii_columns={"email"}, key=MASKING_KEY) == 0
    frame = delta_sharing.load_as_pandas(f"{profile}#customers.sales.customers")
    clear = _table_rows(location)
    assert [row["id"] for row in _rows(frame)] == [row["id"] for row in clear]
    assert [row["email"] for row in _rows(frame)] == [mask(row["email"], MASKING_KEY) for row in clear]
    assert not {row["email"] for row in clear} & set(frame["email"])
    # Every byte marketing can fetch comes from the copy's files, none from the product's own.
    urls = _file_urls(_query(mesh, token))
    served = b"".join(httpx.get(u).content for u in urls)
    assert b"user1@example.com" not in served and b"@example.com" not in served
    assert _query(mesh, token, version=0).status_code == 200

    # The product publishes a new version: the copy is behind, so marketing is refused again until it is rewritten.
    write_deltalake(
        str(location),
        pa.table({"id": pa.array([99], pa.int64()), "email": ["new@example.com"], "amount": [1.0]}),
        mode="append",
    )
    try:
        behind = _query(mesh, token)
        assert behind.status_code == 403 and "made from version 0" in behind.json()["message"]
        assert all(httpx.get(u).status_code == 403 for u in urls)
        copy.write_copy(str(location), mode="mask", pii_columns={"email"}, key=MASKING_KEY)
        emails = set(delta_sharing.load_as_pandas(f"{profile}#customers.sales.customers")["email"])
        assert mask("new@example.com", MASKING_KEY) in emails and "new@example.com" not in emails
        assert _query(mesh, token, version=0).status_code == 403  # time travel only for clear recipients
    finally:
        DeltaTable(str(location)).restore(0)
        copy.write_copy(str(location), mode="mask", pii_columns={"email"}, key=MASKING_KEY)


def test_an_exclude_recipient_gets_the_reduced_copy_and_a_copy_with_pii_is_refused(mesh: Mesh, tmp_path: Path) -> None:
    location = mesh.lake / "customers"
    mesh.grant([{"domains": ["marketing"], "pii": "exclude"}])
    try:
        profile = mesh.profile("marketing", tmp_path)
        token = json.loads(profile.read_text())["bearerToken"]
        assert "masked copy not published" in _query(mesh, token).json()["message"]
        current = str(DeltaTable(str(location)).version())
        # A copy claiming to be the exclude copy but holding the PII column (a forged or broken build) is refused.
        write_deltalake(
            copy.copy_location(str(location), "exclude"),
            DeltaTable(str(location)).to_pyarrow_table(),
            commit_properties=CommitProperties(
                custom_metadata={copy.SOURCE_VERSION: current, copy.PII_MODE: "exclude", copy.PII_COLUMNS: "[]"}
            ),
        )
        forged = _query(mesh, token)
        assert forged.status_code == 403 and "unmasked" in forged.json()["message"]
        copy.write_copy(str(location), mode="exclude", pii_columns={"email"}, key=MASKING_KEY)
        frame = delta_sharing.load_as_pandas(f"{profile}#customers.sales.customers")
        assert list(frame.columns) == ["id", "amount"] and len(frame) == ROWS
    finally:
        mesh.grant(CUSTOMERS)


def test_share_profile_command_prints_a_working_profile(
    mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["share", "profile", "sales/orders", "--recipient", "analytics", "--catalog-url", mesh.catalog_url]
    assert datamesh([*args, "--endpoint", mesh.endpoint, "--days", "1"]) == 0
    out, err = capsys.readouterr()
    profile = json.loads(out)
    assert profile["shareCredentialsVersion"] == 1 and profile["endpoint"] == mesh.endpoint
    assert "#orders.sales.orders" in err
    path = tmp_path / "orders.share"
    path.write_text(out)
    assert len(delta_sharing.load_as_pandas(f"{path}#orders.sales.orders")) == 3
    refused = ["share", "profile", "orders", "--recipient", "finance", "--catalog-url", mesh.catalog_url]
    assert datamesh(refused) == 1
    assert "may not read" in capsys.readouterr().err


def test_tokens_are_stored_hashed_rotated_and_expire_on_both_backends(catalog: CatalogSync) -> None:
    catalog.migrate()
    now = datetime.now(UTC)
    with session_factory(catalog.engine).begin() as session:
        first = issue(session, "marketing", now=now, lifetime=timedelta(hours=1), rotate=False)
        second = issue(session, "marketing", now=now, lifetime=timedelta(hours=1), rotate=False)
    with session_factory(catalog.engine)() as session:
        stored = session.execute(select(ShareTokenRow.token_hash)).scalars().all()
        assert first.token not in stored and second.token not in stored and len(stored) == 2
        assert recipient_for(session, first.token, now=now) == "marketing"
        assert recipient_for(session, first.token, now=now + timedelta(hours=2)) is None
    with session_factory(catalog.engine).begin() as session:
        issue(session, "marketing", now=now, lifetime=timedelta(hours=1), rotate=True)
    with session_factory(catalog.engine)() as session:
        assert recipient_for(session, first.token, now=now) is None
        assert recipient_for(session, second.token, now=now) is None


def test_operator_issued_tokens_are_stored_by_hash_and_revoked_one_by_one(catalog: CatalogSync) -> None:
    """The operator writes each (recipient, product) token into a Secret and hands the catalog only its hash
    (CatalogSync.store_share_token, through the link's queue); revoking one product's token keeps the others."""
    now = datetime.now(UTC)
    customers, orders = "token-for-customers", "token-for-orders"
    for token in (customers, orders):
        catalog.store_share_token("marketing", token_hash(token), now, now + timedelta(hours=1))
    catalog.store_share_token("marketing", token_hash(orders), now, now + timedelta(hours=1))  # landed twice: one row
    with session_factory(catalog.engine)() as session:
        assert len(session.execute(select(ShareTokenRow.token_hash)).scalars().all()) == 2
        assert recipient_for(session, customers, now=now) == "marketing"
    catalog.revoke_share_token(token_hash(customers))
    catalog.revoke_share_token(token_hash(customers))  # again: nothing left to remove, no error
    with session_factory(catalog.engine)() as session:
        assert recipient_for(session, customers, now=now) is None
        assert recipient_for(session, orders, now=now) == "marketing"
