"""The build writes a product's Delta Sharing copies in the same run as its publish, and the catalog API's own
check (catalog/sharing/copy.current_copy) accepts exactly the copies made from the product's current version.

Real Spark, real Delta: customer-360 built locally from the demo lake (the session-wide Spark of conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from datamesh.build.local import build_request
from datamesh.build.runner import run_build
from datamesh.catalog.sharing import copy
from datamesh.manifests import load_mesh
from datamesh.masking import MASKING_KEY_ENV, mask_value
from datamesh.mesh.contract import BuildRequest
from datamesh.sharing_copy import CopyMode

from .conftest import DemoLake

pytestmark = pytest.mark.spark

KEY = bytes(range(32))
PII = frozenset({"email", "name"})


def _request(lake: DemoLake, output: Path, modes: list[CopyMode]) -> BuildRequest:
    request = build_request(load_mesh([lake.manifests]), "customer-360", run_id=f"share-{output.name}")
    request.output_location = str(output)
    request.share_copies = modes
    return request


def _rows(table: DeltaTable) -> dict[str, dict[str, Any]]:
    return {row["customer_id"]: row for row in table.to_pyarrow_table().to_pylist()}


def _served(output: Path, mode: CopyMode) -> dict[str, dict[str, Any]]:
    declared = frozenset(c.name for c in load_columns())
    found = copy.current_copy(
        str(output), mode=mode, source_version=DeltaTable(str(output)).version(), pii_columns=PII, declared=declared
    )
    return _rows(found.table)


def load_columns() -> Any:
    from tests.build.conftest import EXAMPLES

    return load_mesh([EXAMPLES]).find_product("customer-360").spec.schema_


@pytest.fixture(scope="module")
def built(spark: Any, demo_lake: DemoLake, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    output = tmp_path_factory.mktemp("shared") / "customer-360"
    patch = pytest.MonkeyPatch()
    patch.setenv(MASKING_KEY_ENV, KEY.hex())
    try:
        result = run_build(_request(demo_lake, output, ["mask", "exclude"]), spark=spark)
    finally:
        patch.undo()
    return output, result


def test_the_copies_are_written_with_the_publish_and_pass_the_apis_check(built: Any) -> None:
    output, result = built
    assert result.outcome == "Published", result.message
    assert result.warnings == []
    product = _rows(DeltaTable(str(output)))
    masked = _served(output, "mask")
    assert masked.keys() == product.keys()
    assert any(row["name"] is None for row in product.values()), "the demo has customers without a name"
    for key, row in product.items():
        for column in PII:
            assert masked[key][column] == mask_value(row[column], KEY), (key, column)
        assert masked[key]["session_count"] == row["session_count"]
    reduced = _served(output, "exclude")
    assert reduced.keys() == product.keys()
    assert all(PII.isdisjoint(row) for row in reduced.values())
    assert sorted(p.name for p in (output / "_shares").iterdir()) == ["exclude", "mask"]


def test_a_copy_that_cannot_be_written_is_a_warning_and_never_served_stale(
    spark: Any, demo_lake: DemoLake, built: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, _ = built
    monkeypatch.delenv(MASKING_KEY_ENV, raising=False)
    result = run_build(_request(demo_lake, output, ["mask"]), spark=spark)
    assert result.outcome == "Published", "the new version is live: the copy is a later step"
    assert len(result.warnings) == 1 and "mask share copy" in result.warnings[0]
    assert "masking key" in result.warnings[0]
    with pytest.raises(copy.CopyRefused, match="masked copy not published for version"):
        _served(output, "mask")
