"""The red-team mesh: two domains in the real cluster, with the session's operator and its webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster, open_to_builds
from tests.operator.conftest import Operator, apply_and_wait_domain, unique, wait_for
from tests.security.hostile import Mesh

#: What the test operator's configuration calls its own namespace (DATAMESH_NAMESPACE is not set in tests).
OPERATOR_NAMESPACE = "datamesh-system"


@pytest.fixture(scope="module")
def mesh(crds: Cluster, operator: Operator | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """`own` and `other` Domains, Ready, and the other domain's product the hostile cases aim at."""
    lake = tmp_path_factory.mktemp("redteam-lake")
    found = Mesh(own=unique("own"), other=unique("other"), lake=lake)
    for name in (found.own, found.other):
        (lake / name / "gold").mkdir(parents=True)
    open_to_builds(lake)
    apply_and_wait_domain(crds, found.domain(found.own), operator)
    apply_and_wait_domain(crds, found.domain(found.other), operator)
    victim = found.other_product()
    victim["spec"]["suspend"] = True
    crds.apply(yaml.safe_dump(victim))
    # The webhook decides on the operator's cache: wait until the operator has seen the victim.
    wait_for(
        "the victim product in the operator's view",
        lambda: (crds.get("dataproduct", "victim", found.other).get("status") or {}).get("conditions"),
        operator=operator,
    )
    yield found
    for name in (found.own, found.other):
        crds.kubectl("delete", "dataproducts", "--all", "-n", name, "--wait=false", check=False)


def lake_digest(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path -> sha256 of its bytes), and every symlink's target."""
    import hashlib

    digest: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            digest[relative] = f"-> {path.readlink()}"
        elif path.is_file():
            digest[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            digest[relative + "/"] = "dir"
    return digest
