"""Convert the seed's contract format (apiVersion datamesh.azure.com/v1) into a DataProduct manifest.

The seed keeps domain and owner under metadata and writes keys in snake_case; here they move to the spec
and to camelCase. Nothing is dropped: a key the new format has no place for is an error, not a loss.
"""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_camel

from datamesh.api import API_VERSION, DataProduct
from datamesh.api.dataproduct import Transform

SEED_API_VERSION = "datamesh.azure.com/v1"
_CHECK_TYPES = {"completeness", "uniqueness", "notNull", "acceptedValues", "range", "format", "rowCount", "freshness"}


class ImportError_(ValueError):
    """The document is not in the seed's format or cannot be expressed in the new one."""


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {to_camel(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _check(check: dict[str, Any]) -> dict[str, Any]:
    out = dict(check)
    if "type" not in out:
        name = str(out.get("name", ""))
        kind = to_camel(name)
        if kind not in _CHECK_TYPES:
            raise ImportError_(f"quality check {name!r}: no type given and the name is not a known check type")
        out = {"type": kind, **out}
    return out


def convert(seed: dict[str, Any], *, transform: Transform | None = None, namespace: str | None = None) -> DataProduct:
    """The seed document as a validated DataProduct."""
    if seed.get("apiVersion") != SEED_API_VERSION or seed.get("kind") != "DataProduct":
        raise ImportError_(f"expected apiVersion {SEED_API_VERSION} and kind DataProduct")
    metadata = dict(seed.get("metadata") or {})
    spec = _camel(dict(seed.get("spec") or {}))
    for key in ("domain", "owner"):
        if key in metadata:
            spec.setdefault(key, metadata.pop(key))
    governance = spec.get("governance") or {}
    if "qualityChecks" in governance:
        governance["qualityChecks"] = [_check(c) for c in governance["qualityChecks"]]
    if transform is not None:
        spec["transform"] = transform.model_dump(by_alias=True, exclude_unset=True, mode="json")
    new_metadata: dict[str, Any] = {"name": metadata.pop("name", None)}
    if namespace:
        new_metadata["namespace"] = namespace
    for key in ("labels", "annotations"):
        if key in metadata:
            new_metadata[key] = metadata.pop(key)
    if metadata:
        raise ImportError_(f"metadata keys with no place in {API_VERSION}: {', '.join(sorted(metadata))}")
    return DataProduct.model_validate(
        {"apiVersion": API_VERSION, "kind": "DataProduct", "metadata": new_metadata, "spec": spec}
    )
