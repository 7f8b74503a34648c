"""verify_publication against real small Delta tables written by delta-rs, as the build's commit writes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from deltalake.transaction import CommitProperties

from datamesh.api import reasons
from datamesh.build.publish import commit_metadata
from datamesh.controller.verify import Mismatch, Verified, find_commit, verify_publication

UID = "0b6c7a52-0d4f-4d0e-9d1e-5a0e5f1c2a11"


def publish(location: Path, run_id: str, rows: int, *, uid: str = UID, mode: str = "overwrite") -> None:
    """One commit as a build makes it: its userMetadata from commit_metadata."""
    metadata = commit_metadata(run_id, 1.0, [], {}, product_uid=uid)
    table = pa.table({"id": [str(i) for i in range(rows)]})
    write_deltalake(str(location), table, mode=mode,  # type: ignore[arg-type]
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": metadata}))  # fmt: skip


@pytest.fixture
def table(tmp_path: Path) -> Path:
    location = tmp_path / "gold" / "orders"
    location.parent.mkdir()
    publish(location, "run-1", 3)
    publish(location, "run-2", 5)
    return location


def test_the_matching_commit_gives_its_version_row_count_and_time(table: Path) -> None:
    before = datetime.now(UTC)
    found = verify_publication(str(table), "run-2", UID, claimed_version=1)
    assert isinstance(found, Verified), found
    assert (found.location, found.version, found.row_count) == (str(table), 1, 5)
    assert before - timedelta(minutes=5) < found.committed_at <= datetime.now(UTC) + timedelta(seconds=1)
    older = verify_publication(str(table), "run-1", UID, claimed_version=0)
    assert isinstance(older, Verified) and (older.version, older.row_count) == (0, 3), "rows of that version"


def test_the_newest_commit_of_a_run_counts(table: Path) -> None:
    publish(table, "run-2", 7)  # the same run id committed again (a re-created Job)
    found = verify_publication(str(table), "run-2", UID)
    assert isinstance(found, Verified) and (found.version, found.row_count) == (2, 7)


def test_a_forged_run_id_is_a_mismatch(table: Path) -> None:
    found = verify_publication(str(table), "run-forged", UID, claimed_version=1)
    assert isinstance(found, Mismatch) and found.reason == reasons.RESULT_MISMATCH and not found.retryable
    assert "run-forged" in found.message and "newest version 1" in found.message


def test_a_commit_of_another_product_is_a_mismatch(table: Path) -> None:
    publish(table, "run-3", 2, uid="another-product")
    found = verify_publication(str(table), "run-3", UID)
    assert isinstance(found, Mismatch) and found.reason == reasons.RESULT_MISMATCH
    assert "another-product" in found.message


def test_a_claimed_version_the_log_does_not_have_is_a_mismatch(table: Path) -> None:
    for claimed in (5, 0):
        found = verify_publication(str(table), "run-2", UID, claimed_version=claimed)
        assert isinstance(found, Mismatch) and found.reason == reasons.RESULT_MISMATCH
        assert f"claimed version {claimed}" in found.message


def test_no_table_is_a_mismatch(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    found = verify_publication(str(tmp_path / "gold" / "orders"), "run-1", UID, claimed_version=0)
    assert isinstance(found, Mismatch) and found.reason == reasons.RESULT_MISMATCH
    assert "no Delta table" in found.message


def test_storage_this_process_cannot_see_is_retried_not_refuted(tmp_path: Path) -> None:
    found = verify_publication(str(tmp_path / "not-mounted" / "orders"), "run-1", UID)
    assert isinstance(found, Mismatch) and found.reason == reasons.VERIFICATION_FAILED and found.retryable


def test_an_unreadable_log_is_retried(table: Path) -> None:
    for commit in (table / "_delta_log").glob("*.json"):
        commit.write_text("this is not a delta log\n")
    found = verify_publication(str(table), "run-2", UID)
    assert isinstance(found, Mismatch) and found.reason == reasons.VERIFICATION_FAILED, found


def test_without_a_run_id_or_uid_nothing_is_verified(table: Path) -> None:
    for run_id, uid in (("", UID), ("run-2", "")):
        found = verify_publication(str(table), run_id, uid)
        assert isinstance(found, Mismatch) and found.reason == reasons.RESULT_MISMATCH


def test_commits_without_or_with_foreign_metadata_are_skipped() -> None:
    history = [
        {"version": 3, "timestamp": 1_700_000_000_000, "userMetadata": "not json"},
        {"version": 2, "timestamp": 1_700_000_000_000},
        {"version": 1, "timestamp": 1_700_000_000_000, "userMetadata": json.dumps({"runId": "r", "productUid": UID})},
    ]
    found = find_commit(history, "/t", "r", UID, claimed_version=1)
    assert not isinstance(found, Mismatch) and found.version == 1
    assert found.committed_at == datetime.fromtimestamp(1_700_000_000, UTC)
