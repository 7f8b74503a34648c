"""The checked-in CRDs are exactly what the models generate, and are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import KINDS, crdgen

CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_checked_in_crd_matches_models(kind: Any) -> None:
    path = CRDS / crdgen.file_name(kind)
    assert path.read_text() == crdgen.render(kind), f"{path} is stale: run `make crds`"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: Any) -> None:
    schema = crdgen.crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "title", "uniqueItems", "$defs"):
            assert forbidden not in node, f"{forbidden} at {path}"
        if "properties" in node:
            assert node.get("type") == "object", path
            assert "additionalProperties" not in node, path


def test_every_spec_field_is_described() -> None:
    for kind in KINDS:
        spec = crdgen.crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        undocumented = [
            path
            for path, node in _walk(spec)
            if path.count(".properties.") and path.rsplit(".", 2)[-2] == "properties" and "description" not in node
        ]
        assert not undocumented, f"{kind.kind}: fields without description: {undocumented}"


def test_rendered_yaml_is_loadable() -> None:
    for kind in KINDS:
        loaded = yaml.safe_load(crdgen.render(kind))
        assert loaded["metadata"]["name"] == kind.crd_name
