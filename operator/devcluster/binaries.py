"""Where the control-plane binaries live, and building them when they are missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

K8S_VERSION = os.environ.get("K8S_VERSION", "v1.36.3")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    explicit = os.environ.get("DATAMESH_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "datamesh"


def bin_dir() -> Path:
    return cache_dir() / "kube" / K8S_VERSION / "bin"


def binary(name: str) -> Path:
    return bin_dir() / name


def missing() -> list[str]:
    return [name for name in COMPONENTS if not os.access(binary(name), os.X_OK)]


def ensure_built() -> Path:
    """Build whatever is missing (cached; progress goes to stderr) and return the bin folder."""
    if missing():
        env = {**os.environ, "K8S_VERSION": K8S_VERSION, "DATAMESH_CACHE": str(cache_dir())}
        subprocess.run(["bash", str(REPO / "scripts" / "build-kube.sh")], check=True, env=env)
    still = missing()
    if still:
        raise RuntimeError(f"control-plane binaries missing after build: {', '.join(still)}")
    return bin_dir()
