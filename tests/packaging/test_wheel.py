"""What the wheel (and so the image, which pip-installs it) carries: the product and nothing of the dev tools.

The wheel is built for real with pip from a copy of the sources, so the test reads setuptools' own answer
rather than a second spelling of the package list.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.packaging.test_dockerfile import DOCKERFILE, parse

#: What the wheel's top level may hold besides its metadata folder.
PRODUCT = "datamesh"


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    # A copy, so setuptools' build/ and *.egg-info never land in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "operator", source / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_the_product_and_no_development_tool(wheel_files: list[str]) -> None:
    tops = {name.split("/", 1)[0] for name in wheel_files}
    assert [t for t in tops if not t.endswith(".dist-info")] == [PRODUCT]
    assert not [name for name in wheel_files if name.startswith("devcluster/")]
    # The product is whole: its subpackages, typing marker and package data came along.
    for expected in (
        "datamesh/mesh/contract.py",
        "datamesh/build/__main__.py",
        "datamesh/controller/handlers.py",
        "datamesh/py.typed",
        "datamesh/catalog/api/static/mesh.html",
    ):
        assert expected in wheel_files, f"{expected} is missing from the wheel"
    sources = {p.relative_to(REPO / "operator").as_posix() for p in (REPO / "operator" / PRODUCT).rglob("*.py")}
    assert sources <= set(wheel_files), f"modules left out of the wheel: {sorted(sources - set(wheel_files))}"


def test_the_development_tools_stay_importable_from_the_checkout() -> None:
    """Tests, `python -m devcluster` and bench/ import them from operator/ (pytest's pythonpath, the Makefile's
    PYTHONPATH), not from an installed package."""
    pytest_paths = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["pythonpath"]
    assert "operator" in pytest_paths
    import devcluster

    assert Path(devcluster.__file__).resolve().parent == REPO / "operator" / "devcluster"


def test_the_image_installs_the_package_and_copies_nothing_else_of_operator() -> None:
    """The runtime stage gets the code only from the pip-installed target folder, so the wheel's package list
    decides what the image holds; no COPY takes operator/ (and so devcluster/) into it directly."""
    _, stages = parse(DOCKERFILE.read_text())
    runtime = stages[-1]
    for stage in stages:
        for copy in stage.all("COPY"):
            if "--from=" in copy.value:
                continue
            sources = copy.value.split("\n")[0].split()[:-1]
            assert not any("devcluster" in s for s in sources), f"Dockerfile:{copy.line} copies the dev tools"
            if stage is runtime:
                assert not any(s.rstrip("/").startswith("operator") for s in sources), (
                    f"Dockerfile:{copy.line}: the runtime stage copies sources instead of the installed package"
                )
    installs = [r.value for s in stages for r in s.all("RUN") if "pip install" in r.value and " ." in r.value]
    assert installs, "the image no longer pip-installs the project, so the wheel's package list does not apply"
