"""The deletion Job's side: what `python -m datamesh.build` with a delete request removes, and what it refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from deltalake.transaction import CommitProperties

from datamesh.build.__main__ import main
from datamesh.build.delete import LOCATION_REFUSED, DeleteResult, check_location, run_delete
from datamesh.build.publish import commit_metadata
from datamesh.mesh.contract import REQUEST_ENV, DeleteRequest

UID = "5f0d3c1e-8a55-4b8e-a3f3-1c2d3e4f5a6b"


def publish(location: Path, uid: str = UID, run_id: str = "r1") -> None:
    metadata = commit_metadata(run_id, 1.0, [], {}, product_uid=uid)
    write_deltalake(str(location), pa.table({"id": ["a", "b"]}), mode="append",
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": metadata}))  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "lake" / "sales" / "gold"
    path.mkdir(parents=True)
    return path


def request(location: Path | str, root: Path | str, uid: str = UID) -> DeleteRequest:
    return DeleteRequest(namespace="sales", name="orders", domain="sales", product_uid=uid, location=str(location),
                         storage_root=str(root))  # fmt: skip


def refused(result: DeleteResult, *words: str) -> None:
    assert (result.outcome, result.reason) == ("Refused", LOCATION_REFUSED), result
    assert result.message is not None and all(w in result.message for w in words), result.message


def test_this_products_table_is_deleted_and_nothing_else(root: Path) -> None:
    table, sibling = root / "orders", root / "customers"
    publish(table)
    publish(sibling, uid="another-product")
    result = run_delete(request(table, root))
    assert result.outcome == "Deleted" and result.succeeded
    assert not table.exists() and (sibling / "_delta_log").is_dir() and root.is_dir()


def test_a_table_that_is_not_there_is_nothing_to_delete(root: Path) -> None:
    result = run_delete(request(root / "orders", root))
    assert result.outcome == "NothingToDelete" and result.succeeded


def test_an_empty_folder_goes(root: Path) -> None:
    (root / "orders").mkdir()
    assert run_delete(request(root / "orders", root)).outcome == "Deleted"
    assert not (root / "orders").exists()


def test_outside_the_storage_root_is_refused(root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    publish(elsewhere)
    refused(run_delete(request(elsewhere, root)), "not inside the domain's storage root")
    assert (elsewhere / "_delta_log").is_dir()
    # A sibling folder whose name merely starts like the root's is outside it too.
    lookalike = Path(str(root) + "-other") / "orders"
    publish(lookalike)
    refused(run_delete(request(lookalike, root)), "not inside")
    assert lookalike.is_dir()


def test_the_root_itself_is_refused(root: Path) -> None:
    publish(root)
    for location in (root, str(root) + "/"):
        refused(run_delete(request(location, root)), "storage root itself")
    assert (root / "_delta_log").is_dir()


def test_dot_dot_segments_are_refused(root: Path, tmp_path: Path) -> None:
    publish(tmp_path / "victim")
    refused(run_delete(request(f"{root}/../../../victim", root)), "not a normalised path")
    refused(run_delete(request(f"{root}/./orders", root)), "not a normalised path")
    assert (tmp_path / "victim").is_dir()


def test_symbolic_links_are_refused(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "precious"
    publish(target)
    (root / "orders").symlink_to(target)
    refused(run_delete(request(root / "orders", root)), "symbolic link")
    (root / "via").symlink_to(tmp_path)
    refused(run_delete(request(root / "via" / "precious", root)), "symbolic link")
    # Even a link to a table of this very product inside the root.
    publish(root / "real")
    (root / "alias").symlink_to(root / "real")
    refused(run_delete(request(root / "alias", root)), "symbolic link")
    assert (target / "_delta_log").is_dir() and (root / "real" / "_delta_log").is_dir()


def test_a_table_of_another_product_is_refused(root: Path) -> None:
    table = root / "orders"
    publish(table, uid="another-product")
    refused(run_delete(request(table, root)), "another-product")
    publish(table)  # written by both: still not provably this product's alone
    refused(run_delete(request(table, root)), "another-product")
    assert (table / "_delta_log").is_dir()


def test_a_table_without_this_products_uid_is_refused(root: Path) -> None:
    table = root / "orders"
    old_build = CommitProperties(custom_metadata={"userMetadata": '{"runId": "old"}'})
    write_deltalake(str(table), pa.table({"id": ["a"]}), commit_properties=old_build)
    refused(run_delete(request(table, root)), "no commit", UID)
    assert (table / "_delta_log").is_dir()


def test_files_that_are_no_delta_table_are_refused(root: Path) -> None:
    (root / "orders").mkdir()
    (root / "orders" / "notes.txt").write_text("keep me")
    refused(run_delete(request(root / "orders", root)), "no Delta table")
    (root / "file").write_text("x")
    refused(run_delete(request(root / "file", root)), "not a folder")
    assert (root / "orders" / "notes.txt").exists() and (root / "file").exists()


def test_a_request_without_a_uid_is_refused(root: Path) -> None:
    publish(root / "orders")
    refused(run_delete(request(root / "orders", root, uid="")), "no product uid")


def test_storage_this_pod_cannot_see_fails_instead_of_claiming_nothing_to_delete(tmp_path: Path) -> None:
    result = run_delete(request(tmp_path / "missing" / "orders", tmp_path / "missing"))
    assert result.outcome == "Failed" and not result.succeeded and result.reason == "StorageUnavailable"


def test_object_store_locations_must_stay_in_their_bucket_and_root() -> None:
    root = "s3a://lake/sales/gold"
    assert check_location("s3a://lake/sales/gold/orders", root) == "s3a://lake/sales/gold/orders"
    deleted: list[str] = []

    def history(location: str) -> list[dict[str, Any]]:
        return [{"version": 0, "userMetadata": json.dumps({"runId": "r", "productUid": UID})}]

    ok = run_delete(request("s3a://lake/sales/gold/orders", root), history=history, delete_remote=deleted.append)
    assert ok.outcome == "Deleted" and deleted == ["s3a://lake/sales/gold/orders"]
    for location, why in (
        ("s3a://other-bucket/sales/gold/orders", "not in the storage"),
        ("gs://lake/sales/gold/orders", "not in the storage"),
        ("s3a://lake/sales/gold", "storage root itself"),
        ("s3a://lake/sales/golden/orders", "not inside"),
        ("s3a://lake/sales/gold/../silver", "not a normalised path"),
        ("s3a://lake/sales/gold/orders?x=1", "query"),
        ("/local/sales/gold/orders", "not in the storage"),
    ):
        refused(run_delete(request(location, root), history=history, delete_remote=deleted.append), why)
    assert deleted == ["s3a://lake/sales/gold/orders"]
    foreign = run_delete(
        request("s3a://lake/sales/gold/orders", root),
        history=lambda _: [{"version": 0, "userMetadata": json.dumps({"productUid": "x"})}],
        delete_remote=deleted.append,
    )
    refused(foreign, "written by product uid 'x'")
    gone = run_delete(
        request("s3a://lake/sales/gold/orders", root), history=lambda _: None, delete_remote=deleted.append
    )
    assert gone.outcome == "NothingToDelete" and deleted == ["s3a://lake/sales/gold/orders"]


def test_the_entry_point_runs_a_delete_request_and_exits_by_its_outcome(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    table = root / "orders"
    publish(table)
    log = tmp_path / "termination-log"
    monkeypatch.setenv(REQUEST_ENV, request(table, root).to_json())
    assert main(["--termination-log", str(log)]) == 0
    assert not table.exists()
    assert json.loads(log.read_text())["outcome"] == "Deleted"
    assert json.loads(capfd.readouterr().out.strip().splitlines()[-1])["outcome"] == "Deleted"
    monkeypatch.setenv(REQUEST_ENV, request(root, root).to_json())
    assert main(["--termination-log", str(log)]) == 1
    written = json.loads(log.read_text())
    assert (written["outcome"], written["reason"]) == ("Refused", LOCATION_REFUSED)
    assert root.is_dir() and os.listdir(root) == []
