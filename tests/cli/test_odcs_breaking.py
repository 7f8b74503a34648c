"""`datacontract breaking` (datacontract-cli's consumer perspective) and the operator's admission judge the same
corpus of contract changes (tests/mesh/test_lifecycle.py), exported as ODCS. They agree wherever their rules
overlap (removed columns, type changes, nullability, primary keys); where they differ, the difference is one of
the three named below, each a deliberate choice written down in docs/lifecycle.md."""

from __future__ import annotations

import json
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


#: Runs in datacontract-cli's own venv: the function `datacontract breaking` calls, once for every pair (a CLI start
#: per case cost 75 s for the corpus).
DRIVER = """
import json, sys
from pathlib import Path
from datacontract.data_contract import DataContract
folder = Path(sys.argv[1])
verdicts = {}
for old in sorted(folder.glob("*.old.odcs.yaml")):
    case = old.name.removesuffix(".old.odcs.yaml")
    new = folder / f"{case}.new.odcs.yaml"
    result = DataContract(data_contract_file=str(old)).breaking(DataContract(data_contract_file=str(new)))
    verdicts[case] = result.is_breaking
print(json.dumps(verdicts))
"""


def write_pair(old: DataProduct, new: DataProduct, folder: Path, case: str) -> tuple[Path, Path]:
    before, after = folder / f"{case}.old.odcs.yaml", folder / f"{case}.new.odcs.yaml"
    before.write_text(yaml.safe_dump(odcs.to_odcs(old), sort_keys=False))
    after.write_text(yaml.safe_dump(odcs.to_odcs(new), sort_keys=False))
    return before, after


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    """datacontract-cli's verdict on every corpus case, keyed by the case's index."""
    if not DATACONTRACT.exists():
        missing("datacontract-cli is not installed (make venv)")
    folder = tmp_path_factory.mktemp("breaking")
    for index, (_, edit_old, edit_new, _, _) in enumerate(CORPUS):
        write_pair(producer(edit_old), producer(edit_new), folder, f"case{index:03d}")
    python = DATACONTRACT.with_name("python")
    shown = subprocess.run([str(python), "-c", DRIVER, str(folder)], capture_output=True, text=True, timeout=300,
                           cwd=folder, check=True)  # fmt: skip
    found: dict[str, bool] = json.loads(shown.stdout.strip().splitlines()[-1])
    assert len(found) == len(CORPUS)
    return found


def test_the_command_and_the_function_give_the_same_verdict(verdicts: dict[str, bool], tmp_path: Path) -> None:
    index = next(i for i, c in enumerate(CORPUS) if c[0] == "remove a column a consumer reads")
    _, edit_old, edit_new, _, _ = CORPUS[index]
    before, after = write_pair(producer(edit_old), producer(edit_new), tmp_path, "one")
    result = subprocess.run([str(DATACONTRACT), "breaking", str(before), str(after)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and verdicts[f"case{index:03d}"] is True, result.stdout + result.stderr


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
def test_datacontract_breaking_agrees_with_admission(case: str, verdicts: dict[str, bool]) -> None:
    index = next(i for i, c in enumerate(CORPUS) if c[0] == case)
    _, edit_old, edit_new, _, _ = CORPUS[index]
    old, new = producer(edit_old), producer(edit_new)
    theirs = verdicts[f"case{index:03d}"]
    ours = {change.rule.id for change in lifecycle.contract_changes(old, new)} & SCHEMA_RULES
    if theirs and not ours:
        assert only_widened_types(old, new), f"datacontract-cli calls {case!r} breaking; admission does not"
    elif ours and not theirs:
        assert ours == {"required-changed"} and becomes_required(old, new), (
            f"admission calls {case!r} breaking ({sorted(ours)}); datacontract-cli does not"
        )
