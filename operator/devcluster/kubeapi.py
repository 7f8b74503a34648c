"""A thin JSON client for the dev node agent.

It reuses the `kubernetes` package for what it is good at (kubeconfig loading, authentication, the pooled HTTPS
transport) and speaks plain JSON dictionaries on top, so that odd pods never trip over model deserialisation.

Why not the operator's `datamesh.controller.kube`: the dev node is synchronous code in threads (a pod per
thread, blocking process supervision), while the operator's client is async and lives in the shipped package;
the dev tools are not shipped and talk only to the local control plane, whose kubeconfig holds a static admin
token, so the credential refresh the operator needs (`datamesh.controller.credentials`) has nothing to do here.
The `kubernetes` package is a dependency anyway (the catalog API's TokenReview), so this costs no new code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

JSON = dict[str, Any]

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """An API call failed; `status` is the HTTP status, 0 for transport errors."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


def now() -> str:
    """RFC 3339 timestamp with second precision, as the API stores `metav1.Time`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """RFC 3339 timestamp with microseconds (`metav1.MicroTime`, used by Leases)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class Kube:
    """JSON requests against the API server described by a kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        self.configuration = configuration
        self._api = client.ApiClient(configuration)
        self._watch_api = client.ApiClient(configuration)
        parts = urlsplit(str(configuration.host))
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 443

    def ca_pem(self) -> bytes:
        """The cluster CA the kubeconfig trusts (empty when it trusts the system store)."""
        ca = self.configuration.ssl_ca_cert
        return Path(ca).read_bytes() if ca else b""

    def _send(
        self,
        api: Any,
        method: str,
        path: str,
        query: dict[str, Any] | None,
        body: Any,
        content_type: str,
        timeout: float | tuple[float, float],
    ) -> Any:
        if query:
            path = f"{path}?{urlencode({k: _query_value(v) for k, v in query.items() if v is not None})}"
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method, url, headers, body, _ = api.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            response = api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
        except ApiException as error:
            raise KubeError(error.status or 0, str(error.reason)) from error
        except Exception as error:  # urllib3 transport errors: connection refused, reset, timeouts
            raise KubeError(0, f"{type(error).__name__}: {error}") from error
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 15.0,
    ) -> JSON:
        response = self._send(self._api, method, path, query, body, content_type, timeout)
        try:
            data = response.read()
        except Exception as error:
            raise KubeError(0, f"{type(error).__name__}: {error}") from error
        if not 200 <= response.status < 300:
            raise KubeError(response.status, _status_message(data))
        loaded: JSON = json.loads(data) if data else {}
        return loaded

    def watch(self, path: str, query: dict[str, Any], timeout_seconds: int) -> Iterator[JSON]:
        """Stream watch events (dicts with `type` and `object`) until the server ends the watch."""
        query = {**query, "watch": "true", "timeoutSeconds": timeout_seconds}
        response = self._send(
            self._watch_api, "GET", path, query, None, "application/json", (5.0, timeout_seconds + 30.0)
        )
        raw = response.response
        try:
            if not 200 <= response.status < 300:
                raise KubeError(response.status, _status_message(raw.data))
            for line in iter_resp_lines(raw):  # type: ignore[no-untyped-call]
                if line:
                    event: JSON = json.loads(line)
                    yield event
        finally:
            raw.release_conn()


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _status_message(data: bytes | None) -> str:
    try:
        status = json.loads(data or b"{}")
        return str(status.get("message") or status)
    except ValueError:
        return (data or b"").decode(errors="replace")[:500]
