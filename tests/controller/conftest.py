"""The example mesh as the planners see it: every planner test starts from customer-360 and its domains."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamesh.manifests import load_mesh
from datamesh.mesh.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def world() -> World:
    mesh = load_mesh([EXAMPLES])
    product = mesh.find_product("customer-360")
    product.metadata.update(generation=1, uid="u-1", creationTimestamp="2026-01-01T11:00:00Z")
    return World(mesh.domains, mesh.products, {})
