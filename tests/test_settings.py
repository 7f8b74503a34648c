"""The DATAMESH_* variables: declared once (datamesh/settings.py), read only through that declaration, and
listed in docs/configuration.md exactly as the declaration says (the page is generated, like the CRDs)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from datamesh import settings
from datamesh.build import jars
from datamesh.cli.main import main
from datamesh.controller.config import OperatorConfig
from tests.conftest import REPO

PACKAGE = REPO / "operator" / "datamesh"
PAGE = REPO / "docs" / "configuration.md"
NAME = re.compile(r"DATAMESH_[A-Z0-9_]*[A-Z0-9]")
#: Where the product names its variables: code, the chart, the manifests, the image.
PRODUCT_FILES = [
    *PACKAGE.rglob("*.py"),
    *(REPO / "charts").rglob("*.yaml"),
    *(REPO / "manifests").rglob("*.yaml"),
    *(REPO / "deploy").rglob("*.*"),
    REPO / "Dockerfile",
    REPO / "scripts" / "container-entrypoint.sh",
]


def declared(name: str) -> bool:
    # DATAMESH_SECRET_<input>_<option> is a family (mesh.contract.secret_env), named by its prefix.
    return name in settings.BY_NAME or name.startswith("DATAMESH_SECRET")


def test_the_docs_page_is_generated_from_the_declarations(tmp_path: Path) -> None:
    assert PAGE.read_text() == settings.markdown(), (
        "docs/configuration.md is stale: run `datamesh settings --out docs/configuration.md`"
    )
    for setting in settings.SETTINGS:
        assert f"`{setting.name}`" in PAGE.read_text()
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n")
    assert main(["settings", "--out", str(stale), "--check"]) == 1
    assert main(["settings", "--out", str(stale)]) == 0
    assert main(["settings", "--out", str(stale), "--check"]) == 0
    assert stale.read_text() == PAGE.read_text()


def test_every_variable_the_product_names_is_declared() -> None:
    undeclared = sorted(
        f"{path.relative_to(REPO)}: {name}"
        for path in PRODUCT_FILES
        if path.is_file()
        for name in set(NAME.findall(path.read_text()))
        if not declared(name)
    )
    assert undeclared == []


def test_the_docs_name_only_declared_variables_or_test_harness_ones() -> None:
    """A variable in README.md or docs/ is a product setting, or one the test harness reads (named in tests/)."""
    harness = {name for path in (REPO / "tests").rglob("*.py") for name in NAME.findall(path.read_text())}
    docs = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    unknown = sorted(
        f"{path.relative_to(REPO)}: {name}"
        for path in docs
        for name in set(NAME.findall(path.read_text()))
        if not declared(name) and name not in harness
    )
    assert unknown == []


def direct_reads(path: Path) -> list[str]:
    """`os.environ[...]`, `.get(...)`, `os.getenv(...)` with a DATAMESH_ literal: a read that bypasses its Setting."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript):
            keys = [node.slice]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "get", "getenv", "pop", "setdefault"
        ):  # fmt: skip
            keys = node.args[:1]
        else:
            continue
        for key in keys:
            literal = key.values[0] if isinstance(key, ast.JoinedStr) and key.values else key
            if isinstance(literal, ast.Constant) and str(literal.value).startswith("DATAMESH_"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_module_reads_a_variable_past_its_declaration() -> None:
    # build/jars.py runs on its own while the image is built (before the package exists): it keeps its names,
    # checked below.
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "settings.py" and p != PACKAGE / "build" / "jars.py"]
    assert [hit for path in modules for hit in direct_reads(path)] == []


def test_the_standalone_jar_fetcher_spells_the_declared_names() -> None:
    assert (
        settings.JARS_DIR.name, settings.CACHE.name, settings.DELTA_VERSION.name
    ) == (jars.JARS_DIR_ENV, jars.CACHE_ENV, jars.DELTA_VERSION_ENV)  # fmt: skip
    assert settings.DELTA_VERSION.default == jars.DELTA_JAR_VERSION


def test_a_setting_reads_its_variable_and_treats_empty_as_unset() -> None:
    assert settings.WORKERS.get({"DATAMESH_WORKERS": "3"}) == "3"
    assert settings.WORKERS.get({"DATAMESH_WORKERS": ""}) == "8"
    assert settings.WORKERS.get({}) == "8"


def test_the_operator_config_reads_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMESH_WORKERS", "3")
    monkeypatch.setenv("DATAMESH_PEERING_PRIORITY", "7")
    monkeypatch.setenv("DATAMESH_RESERVED_NAMESPACES", "a, b,")
    monkeypatch.setenv("DATAMESH_POD_SECURITY_LEVEL", "nonsense")
    config = OperatorConfig()
    assert (config.workers, config.peering_priority, config.reserved_namespaces) == (3, 7, ("a", "b"))
    assert config.conflicts() == ["DATAMESH_POD_SECURITY_LEVEL='nonsense': use restricted, baseline or privileged"]
    monkeypatch.delenv("DATAMESH_PEERING_PRIORITY")
    assert 1 <= OperatorConfig().peering_priority <= 32767
