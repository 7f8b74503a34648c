"""The Secrets the operator keeps for builds: the mesh-wide masking key and each domain's build Secret.

Builds never receive a secret as a literal (not in the build request, not as a Job env value): a build pod
reads them through `secretKeyRef`s to the per-domain build Secret, which holds

* `masking-key`: the mesh-wide PII masking key. It lives once in the operator's namespace and is created when
  missing, never regenerated: a new key would change every masked value and break joins on masked keys;
* `openlineage-api-key`: the operator's own OPENLINEAGE_API_KEY, when it has one.

Pure builders of the manifests, and one small async function that reads or creates the mesh key.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, Protocol

from datamesh.api.domain import Domain
from datamesh.controller.children import owner_reference
from datamesh.controller.config import OperatorConfig
from datamesh.controller.kube import ApiError

MANAGED = {"app.kubernetes.io/managed-by": "datamesh-operator"}
#: Keys of the build Secret, and of the mesh key's Secret.
MASKING_KEY = "masking-key"
LINEAGE_API_KEY = "openlineage-api-key"
KEY_BYTES = 32


class SecretsApi(Protocol):
    """The part of controller.kube.Kube used here."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any: ...


class MaskingKeyInvalid(Exception):
    """The mesh key's Secret exists but holds no usable key; it is never overwritten (that would re-key the mesh)."""


def secret_path(namespace: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    return f"{path}/{name}" if name else path


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def encode_key(key: bytes) -> str:
    """The key as stored in Secrets and handed to builds: hex text (an env var cannot carry arbitrary bytes)."""
    return key.hex()


def decode_key(secret: dict[str, Any], where: str) -> bytes:
    """The key in a Secret read from the API; raises MaskingKeyInvalid naming `where`."""
    raw = (secret.get("data") or {}).get(MASKING_KEY)
    if not raw:
        raise MaskingKeyInvalid(f"{where} has no {MASKING_KEY!r}")
    try:
        key = bytes.fromhex(base64.b64decode(raw, validate=True).decode("ascii").strip())
    except ValueError as error:
        raise MaskingKeyInvalid(f"{where}: {MASKING_KEY!r} is not a hex-encoded key ({error})") from None
    if len(key) < 16:
        raise MaskingKeyInvalid(f"{where}: {MASKING_KEY!r} holds {len(key)} bytes, fewer than 16")
    return key


def mesh_key_secret(key: bytes, config: OperatorConfig) -> dict[str, Any]:
    """The Secret holding the mesh-wide masking key, in the operator's namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": config.masking_key_secret,
            "namespace": config.namespace,
            "labels": dict(MANAGED),
            # Deleting it would re-key every masked column of the mesh: say so to whoever looks at it.
            "annotations": {"datamesh.dev/note": "the mesh-wide PII masking key; never delete or change it"},
        },
        "data": {MASKING_KEY: _b64(encode_key(key))},
    }


async def ensure_mesh_key(kube: SecretsApi, config: OperatorConfig) -> bytes:
    """The mesh-wide masking key: read from its Secret, or created there (32 random bytes) when missing.

    Several operators (or restarts) may race to create it: the one that loses reads the winner's key. An
    existing Secret without a usable key raises MaskingKeyInvalid rather than being overwritten."""
    where = f"Secret {config.namespace}/{config.masking_key_secret}"
    path = secret_path(config.namespace, config.masking_key_secret)
    try:
        return decode_key(await kube.request("GET", path), where)
    except ApiError as error:
        if not error.not_found:
            raise
    key = secrets.token_bytes(KEY_BYTES)
    try:
        await kube.request("POST", secret_path(config.namespace), body=mesh_key_secret(key, config))
    except ApiError as error:
        if not error.conflict:
            raise
        return decode_key(await kube.request("GET", path), where)
    return key


def domain_build_secret(
    domain: Domain, key: bytes, config: OperatorConfig, lineage_api_key: str | None
) -> dict[str, Any]:
    """The build Secret of `domain`'s namespace (server-side applied by the Domain reconciler): the masking key,
    and the lineage API key when the operator has one. Owned by the Domain, so it goes with it."""
    data = {MASKING_KEY: _b64(encode_key(key))}
    if lineage_api_key:
        data[LINEAGE_API_KEY] = _b64(lineage_api_key)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": config.build_secret,
            "namespace": domain.namespace_name,
            "labels": {**MANAGED, "datamesh.dev/domain": domain.name},
            "ownerReferences": [owner_reference(domain)],
        },
        "data": data,
    }
