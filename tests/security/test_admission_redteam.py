"""Every hostile manifest of the corpus is refused by the webhook on the real API server and by `datamesh
validate`, and each refusal names the field and what was refused.

Admission runs as a server-side dry run: the webhook decides exactly as for a real apply (it declares no side
effects), and a wall that failed would leave nothing behind (no Domain claiming kube-system, no product).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datamesh.cli.main import main as datamesh
from tests.conftest import Cluster
from tests.security.conftest import OPERATOR_NAMESPACE
from tests.security.hostile import Case, Mesh, all_cases

# Collected from a stand-in mesh so that each case is its own test; the real names come from the fixture.
_IDS = [case.id for case in all_cases(Mesh("own", "other", Path("/lake")), OPERATOR_NAMESPACE)]


def _case(mesh: Mesh, case_id: str) -> Case:
    return next(c for c in all_cases(mesh, OPERATOR_NAMESPACE) if c.id == case_id)


def _names_everything(message: str, case: Case) -> list[str]:
    return [part for part in case.expect if part.lower() not in message.lower()]


@pytest.mark.parametrize("case_id", _IDS)
def test_refused_at_admission(crds: Cluster, mesh: Mesh, case_id: str) -> None:
    case = _case(mesh, case_id)
    result = crds.apply(yaml.safe_dump(case.body), "--dry-run=server", check=False)
    assert result.returncode != 0, f"{case.id} ({case.cls}) was admitted:\n{yaml.safe_dump(case.body)}"
    missing = _names_everything(result.stderr, case)
    assert not missing, f"{case.id}: the refusal does not name {missing}:\n{result.stderr}"


@pytest.mark.parametrize("case_id", _IDS)
def test_refused_by_validate(
    mesh: Mesh, case_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = _case(mesh, case_id)
    own = mesh.domain(mesh.own)
    hostile = tmp_path / "hostile.yaml"
    context = [own, *case.context] if case.kind == "DataProduct" else list(case.context)
    hostile.write_text(yaml.safe_dump_all([*context, case.body]))
    code = datamesh(["validate", str(hostile)])
    out, err = capsys.readouterr()
    assert code == 1, f"{case.id} passed validate:\n{out}{err}"
    label = f"{case.kind}/{case.body['metadata']['name']} "
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(label))
    assert lines[start].endswith(": invalid"), out
    problems = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        problems.append(line)
    missing = _names_everything("\n".join(problems), case)
    assert not missing, f"{case.id}: validate does not name {missing}:\n{out}"
