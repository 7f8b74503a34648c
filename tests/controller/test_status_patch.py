"""The status merge patch removes what the new status no longer has, map keys included."""

from __future__ import annotations

from typing import Any

from datamesh.controller.runtime import _with_nulls


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def test_a_map_key_the_new_status_drops_is_removed() -> None:
    old = {"upstreamVersions": {"ns/accounts": 0}, "tableVersion": 3, "location": "/lake/a"}
    new = {"upstreamVersions": {"ns/accounts@v2": 0}, "tableVersion": 4}
    patch = _with_nulls(old, new)
    assert patch == {"upstreamVersions": {"ns/accounts": None, "ns/accounts@v2": 0}, "tableVersion": 4,
                     "location": None}  # fmt: skip
    assert merge(old, patch) == new


def test_nested_maps_lists_and_unchanged_fields_round_trip() -> None:
    old = {"a": {"b": {"c": 1, "d": 2}, "e": [1, 2]}, "f": "x"}
    new = {"a": {"b": {"c": 1}, "e": [3]}, "f": "x", "g": {"h": 1}}
    assert merge(old, _with_nulls(old, new)) == new
    assert merge({}, _with_nulls({}, new)) == new
