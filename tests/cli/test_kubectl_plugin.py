"""`kubectl datamesh`: the cause chain, consumers and graph from the objects as the API server returns them, and
the plugin itself run by kubectl against a real API server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.cli import kubectl_plugin as plugin
from tests.conftest import REPO, Cluster


def _domain(name: str, namespace: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"owner": f"{name}@example.com", "description": f"domain {name}",
                            "storage": {"location": f"/lake/{name}"}}  # fmt: skip
    if namespace:
        spec["namespace"] = namespace
    return {"apiVersion": "datamesh.dev/v1alpha1", "kind": "Domain", "metadata": {"name": name}, "spec": spec}


def _product(name: str, domain: str, namespace: str, reads: list[dict[str, Any]], *,
             conditions: list[tuple[str, str, str, str]] | None = None, **status: Any) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "domain": domain, "owner": "o", "description": name, "sla": {"freshness": "1 hour"},
            "schema": [{"name": "id", "type": "string"}], "inputs": reads,
            "outputs": [{"name": "t", "format": "delta"}], "suspend": True,
        },
    }  # fmt: skip
    if conditions is not None or status:
        items = [{"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conditions or []]
        body["status"] = {"conditions": items, **status}
    return body


def _ok(*types: str) -> list[tuple[str, str, str, str]]:
    return [(t, "True", "Fine", "") for t in types]


UPSTREAM_NOT_READY = ("InputsReady", "False", "UpstreamNotReady", "an upstream is not ready")
READY_FALSE = ("Ready", "False", "UpstreamNotReady", "an upstream is not ready")


def _mesh() -> plugin.Mesh:
    # sales/orders (SqlError) <- mkt/campaigns <- sales/report; sales/clean is Ready; sales/lost reads a ghost.
    return plugin.mesh_of(
        [_domain("sales"), _domain("marketing", "mkt")],
        [
            _product("orders", "sales", "sales", [{"source": "bronze.shop.orders"}], conditions=[
                *_ok("Validated", "Compliant", "InputsReady"), ("Built", "False", "SqlError", "column x not found"),
                ("Ready", "False", "SqlError", "column x not found"),
            ]),
            _product("campaigns", "marketing", "mkt", [{"product": "orders", "domain": "sales"}], conditions=[
                *_ok("Validated", "Compliant"), UPSTREAM_NOT_READY, ("Built", "False", "NotBuilt", ""), READY_FALSE,
            ]),
            _product("report", "sales", "sales", [{"product": "campaigns", "domain": "marketing"},
                                                  {"product": "clean"}], conditions=[
                *_ok("Validated", "Compliant"), UPSTREAM_NOT_READY, READY_FALSE,
            ]),
            _product("clean", "sales", "sales", [{"source": "bronze.shop.orders"}], conditions=_ok(
                "Validated", "Compliant", "InputsReady", "Built", "QualityPassed", "Fresh", "Ready",
            )),
            _product("lost", "sales", "sales", [{"product": "ghost"}], conditions=[
                *_ok("Validated", "Compliant"), ("InputsReady", "False", "UpstreamNotFound", "no ghost"), READY_FALSE,
            ]),
        ],
    )  # fmt: skip


def test_why_follows_the_cause_through_upstreams() -> None:
    chain = plugin.cause_chain(("sales", "report"), _mesh())
    assert [(s.key, s.type, s.reason) for s in chain] == [
        (("sales", "report"), "InputsReady", "UpstreamNotReady"),
        (("mkt", "campaigns"), "InputsReady", "UpstreamNotReady"),
        (("sales", "orders"), "Built", "SqlError"),
    ]
    text = plugin.render_why(("sales", "report"), chain)
    assert text.splitlines()[0] == "sales/report: InputsReady=False (UpstreamNotReady)"
    assert "└─ because sales/orders: Built=False (SqlError)" in text and "column x not found" in text


def test_why_of_a_ready_product_and_of_a_missing_upstream() -> None:
    mesh = _mesh()
    assert plugin.cause_chain(("sales", "clean"), mesh) == []
    assert plugin.render_why(("sales", "clean"), []) == "sales/clean is Ready\n"
    chain = plugin.cause_chain(("sales", "lost"), mesh)
    assert [(s.key, s.reason) for s in chain] == [
        (("sales", "lost"), "UpstreamNotFound"),
        (("sales", "ghost"), "NotFound"),
    ]


def test_why_takes_the_first_failing_condition_in_summary_order() -> None:
    product = _product("p", "d", "d", [{"source": "a.b"}], conditions=[
        ("Ready", "False", "InvalidSpec", ""), ("Built", "False", "SqlError", ""),
        ("Validated", "False", "InvalidSpec", "bad"),
    ])  # fmt: skip
    assert plugin.first_failing(product) == {
        "type": "Validated",
        "status": "False",
        "reason": "InvalidSpec",
        "message": "bad",
    }


def test_why_of_a_product_without_status_and_of_a_cycle() -> None:
    fresh = _product("new", "d", "d", [{"source": "a.b"}])
    assert plugin.first_failing(fresh) is not None and plugin.first_failing(fresh)["reason"] == "NoStatus"  # type: ignore[index]
    mesh = plugin.mesh_of([], [
        _product("x", "d", "d", [{"product": "y"}], conditions=[UPSTREAM_NOT_READY]),
        _product("y", "d", "d", [{"product": "x"}], conditions=[UPSTREAM_NOT_READY]),
    ])  # fmt: skip
    assert [s.key for s in plugin.cause_chain(("d", "x"), mesh)] == [("d", "x"), ("d", "y")]


def test_consumers_from_the_graph_when_status_does_not_list_them() -> None:
    mesh = _mesh()
    found, origin = plugin.consumers(("sales", "orders"), mesh)
    assert [(c.namespace, c.name, c.domain) for c in found] == [("mkt", "campaigns", "marketing")]
    assert origin == "computed from the products' inputs"
    # An input without a domain reads the reader's own domain: sales/report reads sales/clean.
    assert [c.name for c in plugin.consumers(("sales", "clean"), mesh)[0]] == ["report"]
    assert plugin.consumers(("sales", "report"), mesh)[0] == []


def test_consumers_from_status_when_the_operator_reports_them() -> None:
    listed = [{"name": "campaigns", "namespace": "mkt", "domain": "marketing", "columns": ["id", "total"]}]
    mesh = plugin.mesh_of([], [_product("orders", "sales", "sales", [{"source": "a.b"}], consumers=listed)])
    found, origin = plugin.consumers(("sales", "orders"), mesh)
    assert (found, origin) == ([plugin.Consumer("mkt", "campaigns", "marketing", ("id", "total"))], "status.consumers")
    table = plugin.render_consumers(("sales", "orders"), found, origin)
    assert table.splitlines()[1].split() == ["mkt", "campaigns", "marketing", "id,total"]


def test_graph_as_text() -> None:
    text = plugin.render_graph_text(_mesh())
    assert (
        "domain marketing\n  mkt/campaigns  [not ready: UpstreamNotReady suspended]\n    <- product sales/orders\n"
        in text
    )
    assert "    -> read by sales/report\n" in text
    assert "  sales/lost  [not ready: UpstreamNotReady suspended]\n    <- product sales/ghost (not found)\n" in text
    assert "    <- source bronze.shop.orders (domain sales)\n" in text


def test_graph_of_one_domain_keeps_its_neighbours() -> None:
    text = plugin.render_graph_text(_mesh(), "marketing")
    products = [line.split()[0] for line in text.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert products == ["mkt/campaigns", "sales/orders", "sales/report"]


def test_graph_as_dot() -> None:
    dot = plugin.render_graph_dot(_mesh())
    assert dot.startswith("digraph mesh {\n") and dot.endswith("}\n")
    assert '  "sales/orders" -> "mkt/campaigns";' in dot
    assert '  "mkt/campaigns" -> "sales/report";' in dot
    assert '  "source:sales:bronze.shop.orders" -> "sales/orders";' in dot
    assert 'subgraph "cluster_marketing" {' in dot and '"sales/ghost" [style=dashed' in dot
    assert dot.count('"sales/orders" -> "mkt/campaigns"') == 1


def test_dot_ids_are_quoted() -> None:
    assert plugin._dot_id('a"b\\c') == '"a\\"b\\\\c"'


# ------------------------------------------------------------------------------------- against the API server


def _install_plugin(folder: Path) -> Path:
    """The console script pip writes for the pyproject's `kubectl-datamesh` entry, on a PATH of its own."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["kubectl-datamesh"].split(":")
    path = folder / "kubectl-datamesh"
    path.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def test_kubectl_runs_the_plugin_against_the_cluster(crds: Cluster, namespace: str, tmp_path: Path) -> None:
    domain = f"d-{uuid.uuid4().hex[:6]}"
    objects = [
        _domain(domain, namespace),
        _product("raw", domain, namespace, [{"source": "bronze.a.b"}]),
        _product("mid", domain, namespace, [{"product": "raw"}]),
        _product("top", domain, namespace, [{"product": "mid"}, {"product": "raw"}]),
    ]
    crds.apply(yaml.safe_dump_all(objects))
    env = {**crds.env, "PATH": f"{_install_plugin(tmp_path)}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}  # fmt: skip
    try:

        def kubectl_datamesh(*args: str) -> str:
            result = subprocess.run([crds.kubectl_path, "datamesh", *args], capture_output=True, text=True, env=env,
                                    timeout=120)  # fmt: skip
            assert result.returncode == 0, result.stderr
            return result.stdout

        graph = kubectl_datamesh("graph", domain)
        assert f"domain {domain}\n  {namespace}/mid  [no status suspended]\n    <- product {namespace}/raw\n" in graph
        assert f"  {namespace}/raw  [no status suspended]\n    <- source bronze.a.b (domain {domain})\n" in graph
        dot = kubectl_datamesh("graph", domain, "--format", "dot")
        assert f'"{namespace}/mid" -> "{namespace}/top";' in dot
        readers = kubectl_datamesh("consumers", "raw", "-n", namespace)
        assert [line.split()[:3] for line in readers.splitlines()[1:3]] == [
            [namespace, "mid", domain], [namespace, "top", domain],
        ]  # fmt: skip
        assert "(2 consumers, computed from the products' inputs)" in readers
        why = kubectl_datamesh("why", "top", "-n", namespace)
        assert why.startswith(f"{namespace}/top: Ready=Unknown (NoStatus)")
        missing = subprocess.run([crds.kubectl_path, "datamesh", "why", "nope", "-n", namespace], capture_output=True,
                                 text=True, env=env, timeout=120)  # fmt: skip
        assert (missing.returncode, missing.stderr) == (1, f"error: no DataProduct {namespace}/nope\n")
    finally:
        crds.kubectl("delete", "domain", domain, "--wait=false", check=False)


@pytest.mark.parametrize("argv", [["graph", "--format", "svg"], ["why"], []])
def test_the_command_line_refuses_what_it_does_not_know(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        plugin.build_parser().parse_args(argv)
    assert caught.value.code == 2
