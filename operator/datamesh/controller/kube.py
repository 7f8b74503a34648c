"""The operator's Kubernetes client: a few verbs on plain dicts over aiohttp (kopf's own HTTP stack).

Why our own and not a library (issue 18, measured by `bench/kubeclient.py`, see bench/README.md): the
operator's writes and point reads (create, get, status merge-patch, server-side apply, LIST, delete) cost this
client about half the CPU that `lightkube` or `kubernetes_asyncio` spend on the same calls (medians 1.0-1.3 s
against 1.9-2.2 s for 1,500 single-object calls and 10 LISTs of 300 objects), and CPU is what the operator runs
short of on a small node; wall times are the API server's and were within noise of each other. Memory sits between
lightkube (56 MB) and kubernetes_asyncio (100 MB) at 62 MB. A switch would have kept a façade of the same
size here (the verbs the runtime calls) and added a model layer on top. So the code stays, and what a
library would have brought, credentials that renew, lives in `credentials.py`:

- the in-cluster token file (and a kubeconfig `tokenFile`) is re-read every minute and after a 401;
- an exec plugin runs again shortly before its ExecCredential's `expirationTimestamp`, and after a 401;
- after a 401 with a renewable credential the request is sent once more with the new one (client-go only
  renews; a reconcile should not fail because a token expired in flight); a static token's 401 is final;
- client certificate files are re-read when they change on disk (inode, mtime or size): the next request
  gets a new TLS session, and the old one is closed once its requests can no longer be running.

kopf keeps its own client for watches and its finalizer and annotation writes; it logs in through the official
`kubernetes` client's loaders and logs in again on a 401, which runs an exec plugin again.
"""

from __future__ import annotations

import builtins
import json
import os
import ssl
import time
from typing import Any

import aiohttp
from prometheus_client import Counter

from datamesh.controller.credentials import Authenticator, Clock, Config, Lease, load_config
from datamesh.controller.metrics_registry import REGISTRY

FIELD_MANAGER = "datamesh-operator"
REQUEST_TIMEOUT = 30.0
REQUESTS = Counter(
    "datamesh_api_requests_total",
    "Requests this operator sent to the API server (watches excluded).",
    ["method"],
    registry=REGISTRY,
)

# apiVersion/kind -> (path prefix, plural, namespaced)
_RESOURCES: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts", True),
    ("v1", "ResourceQuota"): ("/api/v1", "resourcequotas", True),
    ("v1", "LimitRange"): ("/api/v1", "limitranges", True),
    ("v1", "PersistentVolumeClaim"): ("/api/v1", "persistentvolumeclaims", True),
    ("v1", "Pod"): ("/api/v1", "pods", True),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("v1", "Service"): ("/api/v1", "services", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("v1", "Event"): ("/api/v1", "events", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs", True),
    ("datamesh.dev/v1alpha1", "DataProduct"): ("/apis/datamesh.dev/v1alpha1", "dataproducts", True),
    ("datamesh.dev/v1alpha1", "Domain"): ("/apis/datamesh.dev/v1alpha1", "domains", False),
    ("datamesh.dev/v1alpha1", "GovernancePolicy"): ("/apis/datamesh.dev/v1alpha1", "governancepolicies", False),
    # A product's alert rules, when the Prometheus Operator's CRD is installed (controller/alert_rules.py).
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("/apis/monitoring.coreos.com/v1", "prometheusrules", True),
}


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.message = str(json.loads(body).get("message", body))
        except ValueError:
            self.message = body
        super().__init__(f"{status}: {self.message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def load_credentials(kubeconfig: str | None = None) -> Config:
    """The kubeconfig (explicit, KUBECONFIG or ~/.kube/config), else the in-cluster service account."""
    return load_config(kubeconfig)


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    prefix, plural, namespaced = _RESOURCES[(api_version, kind)]
    path = prefix
    if namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    return path


class Kube:
    """Async verbs against the API server, authenticated by a refreshing `credentials.Authenticator`."""

    def __init__(self, config: Config, *, clock: Clock = time.time) -> None:
        self.config = config
        self.auth = Authenticator(config, clock)
        self._session: aiohttp.ClientSession | None = None
        self._tls: tuple[Any, ...] | None = None
        #: Sessions replaced by a certificate rotation, closed once their requests can no longer be running.
        self._retired: list[tuple[float, aiohttp.ClientSession]] = []

    def _tls_key(self, lease: Lease) -> tuple[Any, ...]:
        """What the TLS context is made of, with the certificate files' identity: a change on disk shows here."""
        return (lease.cert_file, lease.key_file, *(_stamp(path) for path in (lease.cert_file, lease.key_file)))

    def _ssl(self, lease: Lease) -> ssl.SSLContext | bool:
        if not self.config.verify:
            return False
        context = ssl.create_default_context(cafile=self.config.ca_file, cadata=self.config.ca_data)
        if lease.cert_file and lease.key_file:
            context.load_cert_chain(lease.cert_file, lease.key_file)
        return context

    async def session(self, lease: Lease) -> aiohttp.ClientSession:
        key = self._tls_key(lease)
        if self._session is not None and not self._session.closed and key == self._tls:
            return self._session
        try:
            context = self._ssl(lease)
        except (OSError, ssl.SSLError):
            if self._session is None or self._session.closed:
                raise
            return self._session  # a rotation caught half-written: keep the old pair until the next request
        if self._session is not None and not self._session.closed:
            self._retired.append((time.monotonic(), self._session))
        await self._close_retired(time.monotonic() - 2 * REQUEST_TIMEOUT)
        self._tls = key
        self._session = aiohttp.ClientSession(
            base_url=self.config.server,
            connector=aiohttp.TCPConnector(ssl=context, limit=20),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        return self._session

    async def _close_retired(self, before: float) -> None:
        keep = []
        for retired_at, session in self._retired:
            if retired_at <= before:
                await session.close()
            else:
                keep.append((retired_at, session))
        self._retired = keep

    async def close(self) -> None:
        await self._close_retired(float("inf"))
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any:
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        lease = await self.auth.current()
        status, text = await self._send(lease, method, path, data, content_type, params)
        if status == 401:
            # As client-go: a refused credential is renewed at once. Unlike it, the request is sent again, once,
            # when there is a new credential: a reconcile should not fail because a token expired in flight.
            fresh = await self.auth.refused(lease)
            if fresh is not None:
                status, text = await self._send(fresh, method, path, data, content_type, params)
        if status >= 400:
            raise ApiError(status, text)
        return json.loads(text) if text else None

    async def _send(
        self, lease: Lease, method: str, path: str, data: str | None, content_type: str, params: dict[str, str] | None
    ) -> tuple[int, str]:
        session = await self.session(lease)
        headers = {"Content-Type": content_type} if data is not None else {}
        if lease.token:
            headers["Authorization"] = f"Bearer {lease.token}"
        REQUESTS.labels(method).inc()
        async with session.request(method, path, data=data, headers=headers, params=params) as response:
            return response.status, await response.text()

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", resource_path(api_version, kind, namespace, name))
        return result

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        result = await self.request("GET", resource_path(api_version, kind, namespace), params=params)
        items: list[dict[str, Any]] = result.get("items", [])
        return items

    async def serves(self, api_version: str, plural: str) -> bool:
        """Whether the API server serves `plural` in `api_version` (discovery: every user may read it)."""
        try:
            found = await self.request("GET", f"/apis/{api_version}")
        except ApiError as error:
            if error.not_found:
                return False
            raise
        return any(r.get("name") == plural for r in (found or {}).get("resources", []))

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        path = resource_path(body["apiVersion"], body["kind"], meta.get("namespace"))
        result: dict[str, Any] = await self.request("POST", path, body=body)
        return result

    async def apply(self, body: dict[str, Any], *, field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply: idempotent, and converges fields this operator owns. A field manager of its own lets
        one writer remove its fields from an object others write too (share_plan.py)."""
        meta = body["metadata"]
        path = resource_path(body["apiVersion"], body["kind"], meta.get("namespace"), meta["name"])
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            body=body,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": field_manager, "force": "true"},
        )
        return result

    async def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> dict[str, Any]:
        path = resource_path(api_version, kind, namespace, name) + "/status"
        result: dict[str, Any] = await self.request(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )
        return result

    async def patch_finalizers(
        self, api_version: str, kind: str, meta: dict[str, Any], finalizers: builtins.list[str]
    ) -> dict[str, Any]:
        """Replace metadata.finalizers, only if the object is still at the resourceVersion we saw (409 otherwise),
        so a finalizer another controller added meanwhile is never dropped."""
        path = resource_path(api_version, kind, meta.get("namespace"), meta["name"])
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
        result: dict[str, Any] = await self.request(
            "PATCH", path, body=body, content_type="application/merge-patch+json"
        )
        return result

    async def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, *, propagation: str = "Background"
    ) -> None:
        try:
            await self.request(
                "DELETE",
                resource_path(api_version, kind, namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
            )
        except ApiError as error:
            if not error.not_found:
                raise
