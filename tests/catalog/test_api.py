"""The discovery API over HTTP (in-process), with tokens checked by TokenReview against the real API server."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datamesh.catalog.api import ApiSettings, create_app
from datamesh.catalog.api.auth import TokenReviewer, kubernetes_api_client
from datamesh.catalog.sync import open_catalog
from tests.catalog.mesh import ROWS, Tokens, create_tokens, populate, write_delta_table
from tests.conftest import Cluster


@pytest.fixture(scope="module")
def tokens(cluster: Cluster) -> Tokens:
    return create_tokens(cluster)


@pytest.fixture(scope="module")
def reviewer(cluster: Cluster) -> TokenReviewer:
    return TokenReviewer(kubernetes_api_client(str(cluster.kubeconfig)))


@pytest.fixture(scope="module")
def delta_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake") / "customers"
    write_delta_table(path)
    return path


#: The mesh's masking key, as the chart hands it to the API (secretKeyRef to the operator's Secret).
MASKING_KEY = bytes(range(32))


@pytest.fixture
def client(
    catalog_url: str, tokens: Tokens, reviewer: TokenReviewer, delta_table: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("DATAMESH_MASKING_KEY", MASKING_KEY.hex())
    sync = open_catalog(catalog_url)
    populate(sync, tokens, delta_table)
    sync.close()
    with TestClient(create_app(ApiSettings(catalog_url=catalog_url), reviewer=reviewer)) as test_client:
        yield test_client


def get(client: TestClient, path: str, token: str | None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def test_requests_without_a_valid_token_get_401(client: TestClient) -> None:
    for path in ("/api/v1/products", "/api/v1/graph", "/api/v1/products/sales/orders"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/products", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/mesh").status_code == 401
    assert client.get("/healthz").status_code == 200


def test_token_review_gives_user_groups_and_domain_membership(client: TestClient, tokens: Tokens) -> None:
    me = get(client, "/api/v1/whoami", tokens.sales)
    assert me["user"].startswith("system:serviceaccount:cat-sales-") and me["user"].endswith(":reader")
    assert any(group.startswith("system:serviceaccounts:cat-sales-") for group in me["groups"])
    assert me["domains"] == ["sales"] and me["visibleDomains"] == ["sales"]
    analyst = get(client, "/api/v1/whoami", tokens.analyst)
    assert analyst["domains"] == [] and analyst["visibleDomains"] == ["marketing"]


def test_discovery_lists_accessible_products_by_quality_descending(client: TestClient, tokens: Tokens) -> None:
    sales = get(client, "/api/v1/products", tokens.sales)
    # hidden is denied by an access rule; refunds was never built (unscored, last); finance is not accessible.
    assert names(sales) == ["orders", "customers", "refunds"]
    first = sales[0]
    for column in ("name", "domain", "owner", "description", "slaFreshness", "qualityScore", "lastUpdated"):
        assert column in first
    assert (first["domain"], first["slaFreshness"], first["qualityScore"]) == ("sales", "1 hour", 0.99)
    assert first["lastUpdated"].startswith("2026-01-15T11:55")
    # Marketing sees its own domain plus the sales product granted to it, still best quality first.
    assert names(get(client, "/api/v1/products", tokens.marketing)) == ["customers", "campaigns", "leads"]
    # The analyst group is permitted on marketing by an access rule and named by a grant of customers.
    assert names(get(client, "/api/v1/products", tokens.analyst)) == ["customers", "campaigns", "leads"]
    assert get(client, "/api/v1/products", tokens.nobody) == []


def test_search_filters(client: TestClient, tokens: Tokens) -> None:
    token = tokens.marketing
    assert names(get(client, "/api/v1/products", token, domain="marketing")) == ["campaigns", "leads"]
    assert names(get(client, "/api/v1/products", token, owner="GROWTH")) == ["leads"]
    assert names(get(client, "/api/v1/products", tokens.sales, q="dedup")) == ["orders"]
    assert names(get(client, "/api/v1/products", tokens.sales, q="email")) == ["orders", "customers", "refunds"]
    assert names(get(client, "/api/v1/products", tokens.sales, tag="gold")) == ["orders"]
    assert names(get(client, "/api/v1/products", tokens.sales, classification="PERSONAL.*", limit=1)) == ["orders"]
    assert get(client, "/api/v1/products", tokens.sales, classification="restricted") == []
    assert get(client, "/api/v1/products", tokens.sales, q="100%_") == []


def test_product_detail(client: TestClient, tokens: Tokens) -> None:
    detail = get(client, "/api/v1/products/sales/customers", tokens.sales)
    assert [c["name"] for c in detail["schema"]] == ["id", "email", "amount"]
    assert detail["schema"][1]["pii"] is True and detail["schema"][1]["classification"] == "PERSONAL.EMAIL"
    assert detail["sla"]["freshness"] == "1 hour" and detail["sla"]["qualityScore"] == 0.9
    assert detail["freshness"]["fresh"] is True and detail["freshness"]["staleAfter"].startswith("2026-01-15T12:55")
    assert [run["outcome"] for run in detail["qualityHistory"]] == ["Published"]
    assert detail["lineage"]["downstream"] == []  # campaigns reads it, but is internal to marketing
    assert get(client, "/api/v1/products/sales/customers", tokens.marketing)["lineage"]["downstream"] == [
        {
            "namespace": "marketing",
            "name": "campaigns",
            "domain": "marketing",
            "href": "/api/v1/products/marketing/campaigns",
        }
    ]
    assert detail["piiMode"] == "clear" and detail["readable"] is True
    campaigns = get(client, "/api/v1/products/campaigns", tokens.marketing)
    assert campaigns["health"] == "degraded" and campaigns["fresh"] is False
    assert campaigns["lineage"]["inputs"][0] == {
        "kind": "product",
        "ref": "customers",
        "domain": "sales",
        "alias": None,
        "href": "/api/v1/products/sales/customers",
    }
    headers = {"Authorization": f"Bearer {tokens.nobody}"}
    assert client.get("/api/v1/products/sales/customers", headers=headers).status_code == 404
    assert (
        client.get("/api/v1/products/sales/hidden", headers={"Authorization": f"Bearer {tokens.sales}"}).status_code
        == 404
    )


def test_graph_has_domains_products_and_input_edges(client: TestClient, tokens: Tokens) -> None:
    graph = get(client, "/api/v1/graph", tokens.marketing)
    kinds = {node["id"]: node["kind"] for node in graph["nodes"]}
    assert kinds["domain:marketing"] == "domain" and "domain:finance" not in kinds
    assert kinds["product:marketing/campaigns"] == "product" and kinds["product:sales/customers"] == "product"
    assert kinds["source:marketing/bronze.marketing.raw"] == "source"
    edges = {(edge["source"], edge["target"]) for edge in graph["edges"]}
    assert ("product:sales/customers", "product:marketing/campaigns") in edges
    assert ("source:marketing/bronze.marketing.raw", "product:marketing/campaigns") in edges
    leads = next(node for node in graph["nodes"] if node["id"] == "product:marketing/leads")
    assert (leads["ready"], leads["health"], leads["qualityScore"]) == (False, "failing", 0.7)


def masked_as(text: str) -> str:
    return hmac.new(MASKING_KEY, text.encode(), hashlib.sha256).hexdigest()


def test_rest_output_pages_selects_filters_and_protects_pii(client: TestClient, tokens: Tokens) -> None:
    path = "/api/v1/products/sales/customers/rows"
    first = get(client, path, tokens.sales, limit=10)
    assert first["columns"] == ["id", "email", "amount"] and first["piiMode"] == "clear"
    assert [row["id"] for row in first["rows"]] == list(range(1, 11)) and first["nextOffset"] == 10
    assert first["rows"][0]["email"] == "user1@example.com"
    last = get(client, path, tokens.sales, limit=10, offset=20, version=first["tableVersion"])
    assert [row["id"] for row in last["rows"]] == list(range(21, ROWS + 1)) and last["nextOffset"] is None

    chosen = get(client, path, tokens.sales, columns="id,amount", filter=["amount:gt:30", "id:le:22"])
    assert chosen["columns"] == ["id", "amount"] and [row["id"] for row in chosen["rows"]] == [21, 22]

    masked = get(client, path, tokens.marketing, limit=2)
    assert masked["piiMode"] == "mask" and masked["masked"] == ["email"]
    assert masked["rows"][0]["email"] == masked_as("user1@example.com")
    excluded = get(client, path, tokens.analyst, limit=2)
    assert excluded["piiMode"] == "exclude" and excluded["columns"] == ["id", "amount"]
    assert "email" not in excluded["rows"][0]

    def status(token: str, **params: Any) -> int:
        return client.get(path, headers={"Authorization": f"Bearer {token}"}, params=params).status_code

    assert status(tokens.marketing, filter="email:eq:user1@example.com") == 403  # no probing PII values
    assert status(tokens.analyst, columns="email") == 400
    assert status(tokens.sales, filter="amount:between:1") == 400
    assert status(tokens.sales, filter="amount:gt:many") == 400
    assert status(tokens.nobody) == 404
    no_rest = client.get("/api/v1/products/sales/orders/rows", headers={"Authorization": f"Bearer {tokens.sales}"})
    assert no_rest.status_code == 404 and "no rest output" in no_rest.text


def test_masked_rows_are_refused_without_the_key_never_served_with_a_plain_hash(
    client: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATAMESH_MASKING_KEY")
    path = "/api/v1/products/sales/customers/rows"
    refused = client.get(path, headers={"Authorization": f"Bearer {tokens.marketing}"}, params={"limit": 2})
    assert refused.status_code == 503 and "DATAMESH_MASKING_KEY" in refused.text
    assert get(client, path, tokens.sales, limit=2)["rows"][0]["email"] == "user1@example.com"  # clear: no key needed


def test_the_mesh_page_takes_the_token_once_and_keeps_it_in_a_cookie(client: TestClient, tokens: Tokens) -> None:
    response = client.get("/mesh", params={"token": tokens.sales}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/mesh"
    assert "httponly" in response.headers["set-cookie"].lower()
    page = client.get("/mesh")  # the client kept the cookie
    assert page.status_code == 200 and '<svg id="mesh"' in page.text
    assert client.get("/api/v1/graph").status_code == 200
    assert client.get("/mesh", params={"token": "bogus"}, follow_redirects=False).status_code == 401


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/products",
        "/api/v1/products/{namespace}/{name}",
        "/api/v1/products/{namespace}/{name}/rows",
        "/api/v1/graph",
    ):
        assert path in spec["paths"], path
    summary = spec["components"]["schemas"]["ProductSummary"]["properties"]
    assert {"slaFreshness", "qualityScore", "lastUpdated"} <= set(summary)
