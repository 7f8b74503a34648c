"""The recipients' `datamesh-shares` Secret on the real API server: two products write their keys into one Secret
under their own server-side apply field managers, and one product's revoke removes its key and only its key."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

from datamesh.api.dataproduct import Share
from datamesh.controller.kube import Kube, load_credentials
from datamesh.controller.share_plan import SHARES_SECRET, Issue, Revoke, SharePlan, field_manager, secret_key
from datamesh.controller.share_secrets import write_share_secrets
from tests.conftest import Cluster

EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)


def _share(namespace: str, key: str) -> Share:
    return Share(recipient="marketing", table="t.s.t", pii="mask", secret=f"{namespace}/{SHARES_SECRET}:{key}",
                 expires_at=EXPIRES, token_hash="0" * 64)  # fmt: skip


def _issue(namespace: str, product: str, token: str) -> SharePlan:
    key = secret_key("sales", product)
    profile = {"shareCredentialsVersion": 1, "endpoint": "https://x/delta-sharing", "bearerToken": token,
               "expirationTime": "2027-01-01T00:00:00.000Z"}  # fmt: skip
    return SharePlan(issue=[Issue(_share(namespace, key), namespace, key, profile, None)])


def _revoke(namespace: str, product: str) -> SharePlan:
    key = secret_key("sales", product)
    return SharePlan(revoke=[Revoke(_share(namespace, key), namespace, key, remove_key=True)])


def _profiles(cluster: Cluster, namespace: str) -> dict[str, str]:
    data = cluster.get("secret", SHARES_SECRET, namespace).get("data") or {}
    return {key: json.loads(base64.b64decode(value))["bearerToken"] for key, value in data.items()}


def test_a_products_revoke_removes_its_key_and_keeps_the_others(cluster: Cluster, namespace: str) -> None:
    async def run() -> None:
        kube = Kube(load_credentials(str(cluster.kubeconfig)))
        try:
            manager_a, manager_b = field_manager("sales", "customers"), field_manager("sales", "orders")
            await write_share_secrets(kube, _issue(namespace, "customers", "token-a1"), manager_a)
            await write_share_secrets(kube, _issue(namespace, "orders", "token-b1"), manager_b)
            assert _profiles(cluster, namespace) == {
                "sales.customers.share": "token-a1",
                "sales.orders.share": "token-b1",
            }
            # A rotation replaces the product's own value only.
            await write_share_secrets(kube, _issue(namespace, "orders", "token-b2"), manager_b)
            assert _profiles(cluster, namespace) == {
                "sales.customers.share": "token-a1",
                "sales.orders.share": "token-b2",
            }
            await write_share_secrets(kube, _revoke(namespace, "orders"), manager_b)
            assert _profiles(cluster, namespace) == {"sales.customers.share": "token-a1"}
            await write_share_secrets(kube, _revoke(namespace, "customers"), manager_a)
            assert _profiles(cluster, namespace) == {}
            # Revoking again, and in a namespace that is gone, is done already.
            assert await write_share_secrets(kube, _revoke(namespace, "customers"), manager_a) == set()
            assert await write_share_secrets(kube, _revoke(f"gone-{namespace}", "customers"), manager_a) == set()
            # A profile that cannot be written is reported, not raised: the producer's reconcile goes on.
            gone = f"gone-{namespace}"
            assert await write_share_secrets(kube, _issue(gone, "customers", "t"), manager_a) == {gone}
        finally:
            await kube.close()

    asyncio.run(run())


def test_a_profile_in_a_fresh_namespace_creates_the_secret(cluster: Cluster, namespace: str) -> None:
    async def run() -> None:
        kube = Kube(load_credentials(str(cluster.kubeconfig)))
        try:
            await write_share_secrets(kube, _issue(namespace, "customers", "t"), field_manager("sales", "customers"))
        finally:
            await kube.close()

    asyncio.run(run())
    secret = cluster.get("secret", SHARES_SECRET, namespace)
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "datamesh-operator"
    assert list(secret["data"]) == ["sales.customers.share"]
