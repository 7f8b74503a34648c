"""Who is calling: Kubernetes bearer tokens checked with a TokenReview against the API server, cached briefly."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config

from datamesh.catalog.access import Caller


class ReviewUnavailable(Exception):
    """The API server could not be asked: the request cannot be authenticated right now (503, not 401)."""


@dataclass(frozen=True)
class _Cached:
    caller: Caller | None
    expires: float


def kubernetes_api_client(kubeconfig: str | None = None) -> Any:
    """An ApiClient from `kubeconfig`, else the in-cluster service account, else the default kubeconfig."""
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


class TokenReviewer:
    """Authenticates bearer tokens with `authentication.k8s.io/v1` TokenReview (the API's own credentials need
    `create` on tokenreviews, e.g. the system:auth-delegator ClusterRole).

    Results are cached by the token's SHA-256 (never the token itself): accepted tokens for `ttl` seconds,
    rejected ones for `negative_ttl`, so a burst of requests costs one review.
    """

    def __init__(
        self, api_client: Any, *, ttl: float = 60.0, negative_ttl: float = 10.0, audiences: list[str] | None = None
    ) -> None:
        self._api = client.AuthenticationV1Api(api_client)
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._audiences = audiences
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def review(self, token: str) -> Caller | None:
        """The caller the token belongs to, or None when the API server does not accept it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        moment = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached.expires > moment:
                return cached.caller
        caller = self._ask(token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v.expires > moment}
            ttl = self._ttl if caller else self._negative_ttl
            self._cache[key] = _Cached(caller, moment + ttl)
        return caller

    def _ask(self, token: str) -> Caller | None:
        body = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=self._audiences))
        try:
            review = self._api.create_token_review(body, _request_timeout=10)
        except client.ApiException as error:
            raise ReviewUnavailable(f"TokenReview failed: {error.status} {error.reason}") from error
        except Exception as error:  # urllib3 connection errors and timeouts
            raise ReviewUnavailable(f"TokenReview failed: {error}") from error
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        return Caller(user=status.user.username or "", groups=frozenset(status.user.groups or []))
