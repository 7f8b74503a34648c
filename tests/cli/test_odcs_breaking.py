"""`datacontract breaking` (datacontract-cli's consumer perspective) and the operator's admission judge the same
corpus of contract changes (tests/mesh/test_lifecycle.py), exported as ODCS. They agree wherever their rules
overlap (removed columns, type changes, nullability, primary keys); where they differ, the difference is one of
the three named below, each a deliberate choice written down in docs/lifecycle.md."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from datamesh import odcs
from datamesh.api import DataProduct
from datamesh.mesh import lifecycle
from tests.cli.test_odcs import DATACONTRACT
from tests.mesh.test_lifecycle import CORPUS, producer
from tests.requirements import missing

#: The rules datacontract-cli's schema comparison also has.
SCHEMA_RULES = {"field-removed", "type-changed", "required-changed", "key-constraint-changed"}


def datacontract_says_breaking(old: DataProduct, new: DataProduct, folder: Path) -> bool:
    before, after = folder / "old.odcs.yaml", folder / "new.odcs.yaml"
    before.write_text(yaml.safe_dump(odcs.to_odcs(old), sort_keys=False))
    after.write_text(yaml.safe_dump(odcs.to_odcs(new), sort_keys=False))
    result = subprocess.run([str(DATACONTRACT), "breaking", str(before), str(after)],
                            capture_output=True, text=True, timeout=120, cwd=folder)  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode == 1


def only_widened_types(old: DataProduct, new: DataProduct) -> bool:
    """Every column keeps its name and nullability, and every type change is a widening Delta performs in place
    (datacontract-cli flags any change of physicalType, aliases like int/integer included)."""
    after = {c.name: c for c in new.spec.schema_}
    changed = [c for c in old.spec.schema_ if c.name in after and c.type != after[c.name].type]
    return bool(changed) and all(lifecycle.type_widens(c.type, after[c.name].type) for c in changed)


def becomes_required(old: DataProduct, new: DataProduct) -> bool:
    """A nullable column turned required: a producer's risk (its build may stop publishing), which
    datacontract-cli's consumer perspective reports as information only."""
    after = {c.name: c for c in new.spec.schema_}
    return any(c.nullable and c.name in after and not after[c.name].nullable for c in old.spec.schema_)


@pytest.mark.parametrize("case", [c[0] for c in CORPUS])
def test_datacontract_breaking_agrees_with_admission(case: str, tmp_path: Path) -> None:
    if not DATACONTRACT.exists():
        missing("datacontract-cli is not installed (make venv)")
    _, edit_old, edit_new, _, _ = next(c for c in CORPUS if c[0] == case)
    old, new = producer(edit_old), producer(edit_new)
    theirs = datacontract_says_breaking(old, new, tmp_path)
    ours = {change.rule.id for change in lifecycle.contract_changes(old, new)} & SCHEMA_RULES
    if theirs and not ours:
        assert only_widened_types(old, new), f"datacontract-cli calls {case!r} breaking; admission does not"
    elif ours and not theirs:
        assert ours == {"required-changed"} and becomes_required(old, new), (
            f"admission calls {case!r} breaking ({sorted(ours)}); datacontract-cli does not"
        )
