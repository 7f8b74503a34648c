"""A small async Kubernetes REST client on aiohttp (kopf's own HTTP stack).

The operator needs a handful of verbs on a handful of resources; a thin client keeps memory low at
thousands of objects and every call awaitable. Credentials come from the kubeconfig or the in-cluster
service account through the official client's loaders (re-read when the token file rotates).
"""

from __future__ import annotations

import builtins
import json
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import Counter

from datamesh.controller.metrics_registry import REGISTRY

FIELD_MANAGER = "datamesh-operator"
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
    ("v1", "Event"): ("/api/v1", "events", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs", True),
    ("datamesh.dev/v1alpha1", "DataProduct"): ("/apis/datamesh.dev/v1alpha1", "dataproducts", True),
    ("datamesh.dev/v1alpha1", "Domain"): ("/apis/datamesh.dev/v1alpha1", "domains", False),
    ("datamesh.dev/v1alpha1", "GovernancePolicy"): ("/apis/datamesh.dev/v1alpha1", "governancepolicies", False),
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


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str | None
    ca_file: str | None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    #: In a pod the token is a bound, rotating file: re-read it rather than keep the first copy.
    token_file: str | None = None

    def current_token(self) -> str | None:
        if self.token_file:
            try:
                return Path(self.token_file).read_text().strip()
            except OSError:
                return self.token
        return self.token


SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _in_cluster() -> Credentials | None:
    # DATAMESH_SERVICEACCOUNT_DIR: where the dev node puts a pod's token, as host processes cannot see
    # the standard path.
    directory = Path(os.environ.get("DATAMESH_SERVICEACCOUNT_DIR", SERVICE_ACCOUNT_DIR))
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (directory / "token").exists():
        return None
    host = f"[{host}]" if ":" in host else host
    token_file = str(directory / "token")
    return Credentials(
        server=f"https://{host}:{port}",
        token=Path(token_file).read_text().strip(),
        ca_file=str(directory / "ca.crt"),
        token_file=token_file,
    )


def load_credentials(kubeconfig: str | None = None) -> Credentials:
    """Credentials from KUBECONFIG/~/.kube/config, or the in-cluster service account."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, TypeError):
        in_cluster = _in_cluster()
        if in_cluster is None:
            raise
        return in_cluster
    raw = configuration.api_key.get("BearerToken") or configuration.api_key.get("authorization") or ""
    token = raw.removeprefix("Bearer ").strip() or None
    return Credentials(
        server=configuration.host.rstrip("/"),
        token=token,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        verify=configuration.verify_ssl,
    )


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
    """Async verbs against the API server."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._session: aiohttp.ClientSession | None = None
        self._since = 0.0

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.credentials.verify:
            return False
        context = ssl.create_default_context(cafile=self.credentials.ca_file)
        if self.credentials.cert_file and self.credentials.key_file:
            context.load_cert_chain(self.credentials.cert_file, self.credentials.key_file)
        return context

    async def session(self) -> aiohttp.ClientSession:
        if self._session is not None and self.credentials.token_file and time.monotonic() - self._since > 300:
            await self._session.close()  # pick up the rotated token
        if self._session is None or self._session.closed:
            self._since = time.monotonic()
            token = self.credentials.current_token()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self._session = aiohttp.ClientSession(
                base_url=self.credentials.server,
                headers=headers,
                connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=20),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._session

    async def close(self) -> None:
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
        session = await self.session()
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        headers = {"Content-Type": content_type} if data is not None else {}
        REQUESTS.labels(method).inc()
        async with session.request(method, path, data=data, headers=headers, params=params) as response:
            text = await response.text()
            if response.status >= 400:
                raise ApiError(response.status, text)
            return json.loads(text) if text else None

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

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        path = resource_path(body["apiVersion"], body["kind"], meta.get("namespace"))
        result: dict[str, Any] = await self.request("POST", path, body=body)
        return result

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: idempotent, and converges fields this operator owns."""
        meta = body["metadata"]
        path = resource_path(body["apiVersion"], body["kind"], meta.get("namespace"), meta["name"])
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            body=body,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
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
