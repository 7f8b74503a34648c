"""The generated CRDs on a real API server: explain, printer columns, and server-side validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _product(namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "products" / "customer-360.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    return body


def test_explain_prints_field_descriptions(crds: Cluster) -> None:
    out = crds.kubectl("explain", "dataproduct.spec.sla").stdout
    assert "freshness" in out and "Maximum age of the published data" in out
    assert "qualityScore" in out
    assert "teamGroups" in crds.kubectl("explain", "domain.spec").stdout


def test_examples_apply_and_show_printer_columns(crds: Cluster, namespace: str) -> None:
    for path in sorted((EXAMPLES / "domains").glob("*.yaml")):
        crds.kubectl("apply", "--server-side", "-f", str(path))
    crds.apply(_product(namespace))
    header = crds.kubectl("get", "dp", "-A").stdout.splitlines()[0].split()
    assert header == ["NAMESPACE", "NAME", "DOMAIN", "OWNER", "READY", "QUALITY", "FRESHNESS", "AGE"]
    row = crds.kubectl("get", "dp", "customer-360", "-n", namespace, "--no-headers").stdout.split()
    assert row[:3] == ["customer-360", "sales", "sales-data-team@company.com"]
    domains = crds.kubectl("get", "domains").stdout.splitlines()[0].split()
    assert domains == ["NAME", "OWNER", "NAMESPACE", "PRODUCTS", "READY", "AGE"]
    # Defaults from the models are applied by the API server.
    stored = crds.get("dataproduct", "customer-360", namespace)
    assert stored["spec"]["deletionPolicy"] == "Retain"
    assert stored["spec"]["schema"][3]["nullable"] is False


INVALID = [
    ("wrong type", lambda b: b["spec"]["sla"].update(qualityScore="high"), "spec.sla.qualityScore"),
    ("missing owner", lambda b: b["spec"].pop("owner"), "spec.owner: Required value"),
    ("unknown classification", lambda b: b["spec"].update(classification="secret"), "spec.classification"),
    ("malformed duration", lambda b: b["spec"]["sla"].update(freshness="1 fortnight"), "spec.sla.freshness"),
    ("unknown field", lambda b: b["spec"].update(colour="blue"), "spec.colour"),
    ("cel rule", lambda b: b["spec"]["inputs"][0].update(product="x"), "set exactly one of source or product"),
    ("zero threshold", lambda b: b["spec"]["governance"]["qualityChecks"][0].update(threshold=0), "threshold"),
    ("bad name", lambda b: b["metadata"].update(name="Customer_360"), "metadata.name"),
    ("giant description", lambda b: b["spec"].update(description="x" * 5000), "spec.description"),
]


@pytest.mark.parametrize(("label", "mutate", "expected"), INVALID, ids=[i[0] for i in INVALID])
def test_api_server_rejects_invalid_manifests_naming_the_field(
    crds: Cluster, namespace: str, label: str, mutate: Any, expected: str
) -> None:
    body = copy.deepcopy(_product(namespace))
    mutate(body)
    result = crds.apply(body, check=False)
    assert result.returncode != 0, f"{label}: the API server accepted an invalid manifest"
    assert expected in result.stderr, result.stderr


def test_status_subresource_keeps_spec_and_status_apart(crds: Cluster, namespace: str) -> None:
    crds.apply(_product(namespace))
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Published",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    patch = json.dumps({"status": {"qualityScore": 0.97, "conditions": [ready]}})
    crds.kubectl("patch", "dp", "customer-360", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)
    row = crds.kubectl("get", "dp", "customer-360", "-n", namespace, "--no-headers").stdout.split()
    assert row[3:5] == ["True", "0.97"]
