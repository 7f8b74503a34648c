"""The build's own wall: it writes only strictly inside its domain's storage root, as the filesystem really is.

No Spark: the check runs before a session starts, so a refused build never starts one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from datamesh.build import confine
from datamesh.build.errors import BuildError
from datamesh.build.runner import run_build
from datamesh.mesh.contract import BuildRequest, ResolvedInput


def request(output: str | Path, root: str | Path | None, inputs: list[str | Path] | None = None) -> BuildRequest:
    spec: dict[str, Any] = {
        "domain": "sales",
        "owner": "o",
        "description": "d",
        "sla": {"freshness": "1 hour"},
        "schema": [{"name": "id", "type": "string"}],
        "inputs": [{"source": "raw.events"}],
        "transform": {"sql": "SELECT id FROM `raw.events`"},
        "outputs": [{"name": "t", "format": "delta"}],
    }
    resolved = [
        ResolvedInput(view=f"in{i}", kind="source", ref=f"raw.in{i}", domain="sales", location=str(location))
        for i, location in enumerate(inputs or [])
    ]
    return BuildRequest.model_validate(
        {
            "namespace": "sales",
            "name": "c360",
            "domain": "sales",
            "runId": "r",
            "spec": spec,
            "inputs": [i.to_wire() for i in resolved],
            "outputLocation": str(output),
            "storageRoot": None if root is None else str(root),
        }
    )


def refused(req: BuildRequest) -> str:
    with pytest.raises(BuildError) as error:
        confine.check(req)
    assert error.value.reason == "LocationRefused"
    return error.value.message


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    for folder in ("sales/gold", "marketing/gold/victim/_delta_log", "sales/bronze/crm"):
        (tmp_path / "lake" / folder).mkdir(parents=True)
    return tmp_path / "lake"


def test_a_table_inside_its_root_may_be_written(lake: Path) -> None:
    confine.check(request(lake / "sales/gold/c360", lake / "sales/gold", [lake / "sales/bronze/crm"]))
    (lake / "sales/gold/c360/_delta_log").mkdir(parents=True)
    confine.check(request(f"file:{lake}/sales/gold/c360/", f"{lake}/sales/gold/", [lake / "sales/bronze/crm"]))


def test_a_symlinked_table_folder_into_another_domain_is_refused(lake: Path) -> None:
    (lake / "sales/gold/c360").symlink_to(lake / "marketing/gold/victim")
    message = refused(request(lake / "sales/gold/c360", lake / "sales/gold"))
    assert f"resolves to {lake}/marketing/gold/victim" in message and "symlink" in message


def test_a_symlinked_parent_folder_into_another_domain_is_refused(lake: Path) -> None:
    (lake / "sales/gold/team").symlink_to(lake / "marketing/gold")
    assert "not strictly inside the storage root" in refused(
        request(lake / "sales/gold/team/victim", lake / "sales/gold")
    )


def test_a_symlink_to_the_root_itself_is_refused(lake: Path) -> None:
    (lake / "sales/gold/c360").symlink_to(lake / "sales/gold")
    assert "not strictly inside" in refused(request(lake / "sales/gold/c360", lake / "sales/gold"))


def test_a_symlink_inside_the_existing_table_is_refused(lake: Path) -> None:
    table = lake / "sales/gold/c360"
    table.mkdir()
    (table / "_delta_log").symlink_to(lake / "marketing/gold/victim/_delta_log")
    assert "holds a symlink" in refused(request(table, lake / "sales/gold"))


def test_a_storage_root_reached_through_a_symlink_is_fine(tmp_path: Path, lake: Path) -> None:
    (tmp_path / "mounted").symlink_to(lake)
    confine.check(request(tmp_path / "mounted/sales/gold/c360", tmp_path / "mounted/sales/gold"))


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("{lake}/marketing/gold/victim", "not strictly inside the storage root"),
        ("{lake}/sales/gold", "not strictly inside the storage root"),
        ("{lake}/sales/gold/../../marketing/gold/victim", "'..' segment"),
        ("{lake}/sales/gold/%2e%2e/x", "percent-encoding"),
        ("{lake}/sales/gold/./x", "'.' segment"),
        ("s3a://bucket{lake}/sales/gold/x", "not strictly inside the storage root"),
        ("", "empty"),
    ],
)
def test_lexical_escapes_are_refused(lake: Path, output: str, reason: str) -> None:
    assert reason in refused(request(output.format(lake=lake), lake / "sales/gold"))


@pytest.mark.parametrize(
    ("output", "allowed"),
    [
        ("s3a://bucket/sales/gold/c360", True),
        ("S3://Bucket/sales/gold/c360/", True),
        ("s3a://bucket/marketing/gold/victim", False),
        ("s3a://other-bucket/sales/gold/c360", False),
        ("gs://bucket/sales/gold/c360", False),
    ],
)
def test_object_store_outputs_compare_scheme_bucket_and_prefix(output: str, allowed: bool) -> None:
    req = request(output, "s3a://bucket/sales/gold")
    if allowed:
        confine.check(req)
    else:
        refused(req)


@pytest.mark.parametrize("inside", ["", "/run-x", "/_delta_log"])
def test_an_input_inside_the_output_is_refused(lake: Path, inside: str) -> None:
    output = lake / "sales/gold/c360"
    assert "the output location" in refused(request(output, lake / "sales/gold", [f"{output}{inside}"]))


def test_an_input_containing_the_output_is_refused(lake: Path) -> None:
    assert "contains the output location" in refused(request(lake / "sales/gold/c", lake / "sales/gold", [lake]))


def test_an_input_symlinked_into_the_output_is_refused(tmp_path: Path, lake: Path) -> None:
    output = lake / "sales/gold/c360"
    output.mkdir()
    (tmp_path / "innocent").symlink_to(output)
    assert "overlaps the output" in refused(request(output, lake / "sales/gold", [tmp_path / "innocent"]))


def test_without_a_root_only_spelling_and_inputs_are_checked(tmp_path: Path) -> None:
    confine.check(request(tmp_path / "anywhere", None, [tmp_path / "seed"]))
    refused(request(f"{tmp_path}/x/../y", None))
    refused(request(tmp_path / "out", None, [tmp_path / "out/part"]))


def test_a_refused_build_fails_without_starting_spark_or_writing(lake: Path) -> None:
    (lake / "sales/gold/c360").symlink_to(lake / "marketing/gold/victim")
    before = sorted(os.listdir(lake / "marketing/gold/victim"))
    result = run_build(request(lake / "sales/gold/c360", lake / "sales/gold"))
    assert (result.outcome, result.reason) == ("Failed", "LocationRefused")
    assert sorted(os.listdir(lake / "marketing/gold/victim")) == before


# ------------------------------------------------------------------------------------- share copies (after publish)


def copy_refused(req: BuildRequest, mode: str = "mask") -> str:
    with pytest.raises(BuildError) as error:
        confine.check_copy(req, mode)  # type: ignore[arg-type]
    assert error.value.reason == "LocationRefused"
    return error.value.message


def test_a_share_copy_goes_into_the_tables_own_shares_folder(lake: Path) -> None:
    table = lake / "sales/gold/c360"
    (table / "_delta_log").mkdir(parents=True)
    req = request(table, lake / "sales/gold")
    assert confine.check_copy(req, "mask") == f"{table}/_shares/mask"
    (table / "_shares/exclude").mkdir(parents=True)
    assert confine.check_copy(req, "exclude") == f"{table}/_shares/exclude"


@pytest.mark.parametrize("link", ["_shares", "_shares/mask", "_shares/mask/_delta_log"])
def test_a_link_planted_on_the_copys_way_is_refused(lake: Path, link: str) -> None:
    """A Python transform runs before the copy is written and may plant a link where the copy goes."""
    table = lake / "sales/gold/c360"
    (table / link).parent.mkdir(parents=True, exist_ok=True)
    (table / link).symlink_to(lake / "marketing/gold/victim")
    message = copy_refused(request(table, lake / "sales/gold"))
    assert "symlink" in message and "shareCopies" in message


def test_a_link_elsewhere_in_the_shares_folder_is_refused(lake: Path) -> None:
    table = lake / "sales/gold/c360"
    (table / "_shares/mask").mkdir(parents=True)
    (table / "_shares/exclude").symlink_to(lake / "marketing/gold/victim")
    assert "holds a symlink" in copy_refused(request(table, lake / "sales/gold"))


def test_share_copies_are_written_in_the_local_lake_only() -> None:
    req = request("s3a://lake/sales/gold/c360", "s3a://lake/sales")
    assert "local lake only" in copy_refused(req)
