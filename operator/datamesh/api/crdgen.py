"""Generate CustomResourceDefinitions from the pydantic models.

Pydantic emits JSON Schema (draft 2020-12); Kubernetes wants a *structural* OpenAPI v3 schema: no
`$ref`, no `anyOf` around every optional field, boolean `exclusiveMinimum`, no `title`. This module
does that translation and nothing else, so the models stay the single source of truth.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from datamesh.api import GROUP, KINDS, VERSION, Kind

_DROP = {"title", "examples", "$defs"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        # The referring field's own description wins over the referenced class's docstring.
        target.update({k: v for k, v in node.items() if k != "$ref"})
        return _resolve(target, defs)
    if "anyOf" in node:
        variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"unions other than Optional[X] have no structural schema: {variants}")
        merged = dict(_resolve(variants[0], defs))
        merged.update(node)
        node = merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        _translate(key, value, defs, out)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "default" in out and isinstance(out["default"], (list, dict)) and not out["default"]:
        # Empty list/map defaults add noise to every stored object; the models default them anyway.
        del out["default"]
    return out


def _translate(key: str, value: Any, defs: dict[str, Any], out: dict[str, Any]) -> None:
    if key in _DROP or (key == "default" and value is None):
        return
    if key == "additionalProperties" and value is False:
        # Structural schemas forbid it next to `properties`; unknown fields are pruned by the API server
        # and refused by kubectl's strict field validation instead.
        return
    if key == "properties":
        out[key] = {name: _resolve(prop, defs) for name, prop in value.items()}
    elif key in ("items", "additionalProperties") and isinstance(value, dict):
        out[key] = _resolve(value, defs)
    elif key == "const":
        out["enum"] = [value]
    elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
        out[key.replace("exclusive", "").lower()] = value
        out[key] = True
    else:
        out[key] = value


def _fix_keys(node: Any) -> Any:
    """Order keys for readable YAML: type and description first."""
    if isinstance(node, list):
        return [_fix_keys(i) for i in node]
    if not isinstance(node, dict):
        return node
    first = [k for k in ("description", "type", "format") if k in node]
    rest = sorted(k for k in node if k not in first)
    return {k: _fix_keys(node[k]) for k in first + rest}


def schema_of(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    resolved: dict[str, Any] = _resolve(raw, defs)
    return resolved


def crd_for(kind: Kind) -> dict[str, Any]:
    spec_schema = schema_of(kind.spec)
    status_schema = schema_of(kind.status)
    root: dict[str, Any] = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if kind.name_rule:
        rule, message = kind.name_rule
        root["x-kubernetes-validations"] = [{"rule": rule, "message": message}]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "datamesh-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": kind.scope,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": kind.short_names,
                "categories": kind.categories,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.printer_columns,
                    "schema": {"openAPIV3Schema": _fix_keys(root)},
                }
            ],
        },
    }


HEADER = "# Generated by `make crds` from operator/datamesh/api. Do not edit by hand.\n"


def render(kind: Kind) -> str:
    return HEADER + yaml.safe_dump(crd_for(kind), sort_keys=False, width=110, allow_unicode=True)


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = directory / file_name(kind)
        path.write_text(render(kind))
        written.append(path)
    return written
