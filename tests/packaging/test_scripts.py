"""The scripts and workflows that cannot run here (no docker, no kind): they parse and say what they must."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import REPO

SCRIPTS = ["install-tools.sh", "build-promtool.sh", "e2e-kind.sh", "container-entrypoint.sh"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_is_valid_shell(name: str) -> None:
    path = REPO / "scripts" / name
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert path.stat().st_mode & 0o111, f"scripts/{name} is not executable"
    assert "set -e" in path.read_text()


def test_workflows_parse_and_run_the_entry_points() -> None:
    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yaml").read_text())
    assert any(step.get("run") == "make test" for step in ci["jobs"]["test"]["steps"])
    e2e = yaml.safe_load((REPO / ".github" / "workflows" / "e2e-kind.yaml").read_text())
    steps = e2e["jobs"]["e2e"]["steps"]
    assert any(str(step.get("uses", "")).startswith("helm/kind-action@") for step in steps)
    assert any(step.get("run") == "bash scripts/e2e-kind.sh" for step in steps)


def test_e2e_script_uses_the_local_image_with_the_external_operator() -> None:
    text = (REPO / "scripts" / "e2e-kind.sh").read_text()
    assert 'IMAGE="${IMAGE:-datamesh-operator:e2e}"' in text
    assert "kind load docker-image" in text and "image.pullPolicy=IfNotPresent" in text
    assert "builds.image.pullPolicy=IfNotPresent" in text
    assert "DATAMESH_TEST_OPERATOR=external" in text and "charts/datamesh-operator" in text


def test_every_go_build_shares_one_go_environment() -> None:
    """One GOCACHE/GOMODCACHE for every Go build: a CI cache of $DATAMESH_CACHE then holds them all."""
    env = REPO / "scripts" / "go-env.sh"
    subprocess.run(["bash", "-n", str(env)], check=True)
    probe = f'source "{env}"; echo "$GOCACHE $GOMODCACHE $GOTOOLCHAIN"'
    shown = subprocess.run(["bash", "-c", probe], check=True, capture_output=True, text=True,
                           env={"DATAMESH_CACHE": "/cache", "PATH": "/usr/bin:/bin"}).stdout.split()  # fmt: skip
    assert shown == ["/cache/gobuild", "/cache/gomod", "local"]
    for name in ("build-kube.sh", "build-node.sh", "build-promtool.sh", "install-tools.sh"):
        text = (REPO / "scripts" / name).read_text()
        assert 'source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"' in text, name
        assert "export GOCACHE" not in text, f"{name} sets its own Go environment"
