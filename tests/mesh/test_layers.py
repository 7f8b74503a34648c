"""Layers point one way: every import of every module under operator/datamesh, read with `ast`.

The operator plans builds and the build engine runs them; what both need lives in `datamesh.mesh`. An import
from one into the other (even inside a function) would tie the build pod to the reconciler, or the reconciler
to Spark, so each forbidden edge fails here naming the file, the line and the import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "operator" / "datamesh"

#: importer package -> packages it must never import. `datamesh.mesh` sits below both the controller and the
#: build; `datamesh.api` below everything; no product code knows the development tools.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "datamesh.build": ("datamesh.controller",),
    "datamesh.controller": ("datamesh.build",),
    "datamesh.mesh": ("datamesh.controller", "datamesh.build", "datamesh.catalog", "datamesh.cli"),
    "datamesh.catalog": ("datamesh.controller", "datamesh.cli"),
    "datamesh.api": tuple(
        f"datamesh.{p.stem}"
        for p in sorted(PACKAGE.iterdir())
        if p.suffix in ("", ".py") and not p.stem.startswith("_") and p.stem != "api"
    ),
    "datamesh": ("devcluster",),
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # `from datamesh import build` imports the package datamesh.build.
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(root: Path = PACKAGE) -> list[str]:
    """Every forbidden edge as `file:line: importer imports target (layer ↛ package)`."""
    found: dict[tuple[str, int, str], str] = {}  # one report per line and banned package
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        where = path.relative_to(root.parent.parent)
        for line, target in imports(path, root):
            for layer, banned in FORBIDDEN.items():
                for package in banned:
                    if inside(importer, layer) and inside(target, package) and not inside(importer, package):
                        message = f"{where}:{line}: {importer} imports {target} ({layer} ↛ {package})"
                        found.setdefault((str(where), line, package), message)
    return sorted(found.values())


def test_no_import_crosses_a_layer_the_wrong_way() -> None:
    assert violations() == []


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: absolute, relative, `from package import module` and function-local imports."""
    fake = tmp_path / "operator" / "datamesh"
    (fake / "build").mkdir(parents=True)
    (fake / "controller").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "build" / "__init__.py").write_text("")
    (fake / "build" / "local.py").write_text("def f():\n    from datamesh.controller.graph import resolve\n")
    (fake / "build" / "rel.py").write_text("from ..controller import world\n")
    (fake / "controller" / "__init__.py").write_text("from datamesh import build\n")
    (fake / "controller" / "ok.py").write_text("import datamesh.mesh.world\nfrom . import jobs\nimport devcluster\n")
    assert violations(fake) == [
        "operator/datamesh/build/local.py:2: datamesh.build.local imports datamesh.controller.graph "
        "(datamesh.build ↛ datamesh.controller)",
        "operator/datamesh/build/rel.py:1: datamesh.build.rel imports datamesh.controller "
        "(datamesh.build ↛ datamesh.controller)",
        "operator/datamesh/controller/__init__.py:1: datamesh.controller imports datamesh.build "
        "(datamesh.controller ↛ datamesh.build)",
        "operator/datamesh/controller/ok.py:3: datamesh.controller.ok imports devcluster (datamesh ↛ devcluster)",
    ]
