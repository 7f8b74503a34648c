"""Walls only the build can hold, on the real cluster: a product's computed table location that a symlink in the
domain's storage turns into another domain's table. Admission sees only the path; the build resolves it."""

from __future__ import annotations

import yaml

from tests.conftest import Cluster
from tests.operator.conftest import Operator, condition, wait_for
from tests.security.conftest import lake_digest
from tests.security.hostile import Mesh


def test_a_symlinked_table_folder_is_refused_by_the_build_and_nothing_changes(
    crds: Cluster, mesh: Mesh, operator: Operator | None
) -> None:
    victim = mesh.lake / mesh.other / "gold" / "victim"
    (victim / "_delta_log").mkdir(parents=True, exist_ok=True)
    (victim / "_delta_log" / "00000000000000000000.json").write_text('{"commitInfo":{}}\n')
    (victim / "part-0.parquet").write_bytes(b"the other domain's data")
    own_root = mesh.lake / mesh.own / "gold"
    own_root.mkdir(parents=True, exist_ok=True)
    (own_root / "sneaky").symlink_to(victim, target_is_directory=True)
    before = lake_digest(mesh.lake)
    crds.apply(yaml.safe_dump(mesh.product("sneaky")))
    try:

        def failed() -> dict[str, str] | None:
            built = condition(crds.get("dataproduct", "sneaky", mesh.own), "Built")
            return built if built.get("status") == "False" and built.get("reason") not in (None, "Building") else None

        built = wait_for("the build to refuse its location", failed, timeout=180, operator=operator)
        assert built["reason"] == "LocationRefused", built
        assert "symlink" in built["message"] or "outside" in built["message"] or "inside" in built["message"], built
        assert lake_digest(mesh.lake) == before
    finally:
        crds.kubectl("delete", "dataproduct", "sneaky", "-n", mesh.own, "--wait=false", check=False)
