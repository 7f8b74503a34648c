"""Fixtures of the build tests: ONE Spark session per pytest run, and a small demo lake with manifests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DEMO_SCALE = 0.002  # 2000 customers, 10000 sessions, 1000 tickets


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from datamesh.build.session import create_session

    session = create_session()
    yield session
    session.stop()


@dataclass(frozen=True)
class DemoLake:
    root: Path
    manifests: Path
    """Copies of the example Domains and customer-360 with locations moved under `root`."""


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> DemoLake:
    from datamesh.build import demodata

    root = tmp_path_factory.mktemp("lake")
    demodata.write(root, scale=DEMO_SCALE, seed=7)
    manifests = tmp_path_factory.mktemp("manifests")
    for path in (EXAMPLES / "domains").glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace("/var/lib/datamesh/lake", str(root))
        (manifests / path.name).write_text(text, encoding="utf-8")
    shutil.copy(EXAMPLES / "products" / "customer-360.yaml", manifests / "customer-360.yaml")
    return DemoLake(root, manifests)
