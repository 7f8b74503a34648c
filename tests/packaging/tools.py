"""Shared helpers of the packaging tests: helm (built from the Go module proxy), chart rendering, YAML streams."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.conftest import REPO

CHART = REPO / "charts" / "datamesh-operator"
MANIFESTS = REPO / "manifests"
RELEASE, NAMESPACE = "datamesh-operator", "datamesh-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


class HelmUnavailable(Exception):
    """helm could not be built (e.g. the Go module proxy refused): the chart tests skip with this reason."""


def build_helm() -> Path:
    """scripts/install-tools.sh (idempotent, cached) and the helm it built."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-tools.sh")], capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise HelmUnavailable(f"scripts/install-tools.sh could not build helm: {tail}")
    return Path(result.stdout.strip().splitlines()[-1]) / "helm"


def run(argv: list[str], *, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def template(helm: Path, *args: str, namespace: str = NAMESPACE, release: str = RELEASE) -> str:
    """`helm template <release> <chart> -n <namespace> ARGS` (lookup is empty: no cluster)."""
    return run([str(helm), "template", release, str(CHART), "--namespace", namespace, *args]).stdout


def documents(stream: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(stream) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def kubectl_binary() -> str:
    """The project's kubectl (kustomize is built in); the one on PATH when tests run against KUBECONFIG."""
    from devcluster import binaries

    path = binaries.binary("kubectl")
    if path.exists():
        return str(path)
    return os.environ.get("KUBECTL", "kubectl")


def sync_module() -> ModuleType:
    """scripts/sync_packaging.py, loaded as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("sync_packaging", REPO / "scripts" / "sync_packaging.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
