"""Checking a build's claimed publish against the Delta log of the table the operator itself located.

A build pod's termination message is only a claim: anything in the domain namespace that can write a
termination message (or a pod with the right labels) could make it. What the operator reports as published
(version, row count, time) therefore comes from the table's own log, at the location the operator computed:
the newest commit whose `userMetadata` carries this build's run id and the product's uid
(`datamesh.build.publish.commit_metadata`). A claim the log does not back is a `ResultMismatch`; a log that
cannot be read at all is a `VerificationFailed`, which is retried (never taken as a success).

delta-rs is imported lazily: it is heavy, and the operator only needs it when a build finishes. The reads
block, so the runtime calls `verify_publication` in a thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from datamesh.api.reasons import RESULT_MISMATCH, VERIFICATION_FAILED


@dataclass(frozen=True)
class Verified:
    """The publication as the log shows it."""

    location: str
    version: int
    row_count: int
    committed_at: datetime


@dataclass(frozen=True)
class Mismatch:
    """Why a claimed publication is not believed: `reason` is RESULT_MISMATCH or VERIFICATION_FAILED."""

    reason: str
    message: str

    @property
    def retryable(self) -> bool:
        return self.reason == VERIFICATION_FAILED


Verification = Verified | Mismatch


@dataclass(frozen=True)
class Commit:
    version: int
    committed_at: datetime


def _metadata(entry: Mapping[str, Any]) -> dict[str, Any]:
    raw = entry.get("userMetadata")
    if not isinstance(raw, str):
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def find_commit(
    history: Iterable[Mapping[str, Any]], location: str, run_id: str, product_uid: str, claimed_version: int | None
) -> Commit | Mismatch:
    """The newest commit of `run_id` in a table's history (delta-rs `history()` entries), checked against the
    product's uid and the version the build claimed. Pure: the I/O is in `verify_publication`."""
    if not run_id or not product_uid:
        return Mismatch(RESULT_MISMATCH, f"cannot verify a publish without a run id and a product uid ({location})")
    entries = sorted(history, key=lambda e: int(e.get("version", -1)), reverse=True)
    newest = int(entries[0].get("version", -1)) if entries else None
    for entry in entries:
        metadata = _metadata(entry)
        if metadata.get("runId") != run_id:
            continue
        version = int(entry.get("version", -1))
        if metadata.get("productUid") != product_uid:
            return Mismatch(
                RESULT_MISMATCH,
                f"version {version} of {location} carries run {run_id} but product uid "
                f"{metadata.get('productUid')!r}, not this product's ({product_uid})",
            )
        if claimed_version is not None and claimed_version != version:
            return Mismatch(
                RESULT_MISMATCH,
                f"the build claimed version {claimed_version} of {location}, its commit is version {version}",
            )
        stamp = entry.get("timestamp")
        committed_at = datetime.fromtimestamp(int(stamp) / 1000, UTC) if isinstance(stamp, int | float) else None
        if committed_at is None:
            return Mismatch(RESULT_MISMATCH, f"version {version} of {location} has no commit timestamp")
        return Commit(version, committed_at)
    return Mismatch(
        RESULT_MISMATCH,
        f"the build claimed a publish, but the log of {location} (newest version {newest}) has no commit of run "
        f"{run_id}",
    )


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


def _local_path(location: str) -> str:
    return location.removeprefix("file://")


def verify_publication(
    location: str, run_id: str, product_uid: str, *, claimed_version: int | None = None
) -> Verification:
    """Whether the table at `location` (the operator's own) holds this build's commit; its version, rows, time."""
    try:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError
    except ImportError as error:
        return Mismatch(VERIFICATION_FAILED, f"cannot read Delta logs here (deltalake: {error})")
    if not location:
        return Mismatch(RESULT_MISMATCH, "the product has no computed location to check a publish against")
    try:
        table: Any = DeltaTable(location)
        history = table.history()
    except TableNotFoundError as error:
        if _is_local(location) and not os.path.isdir(os.path.dirname(_local_path(location).rstrip("/"))):
            # Not "no table": this process cannot see the storage at all (the lake is not mounted here).
            return Mismatch(VERIFICATION_FAILED, f"cannot see the storage of {location} from the operator: {error}")
        return Mismatch(RESULT_MISMATCH, f"the build claimed a publish, but there is no Delta table at {location}")
    except Exception as error:  # unreadable for any other reason (permissions, network, credentials)
        return Mismatch(VERIFICATION_FAILED, f"cannot read the Delta log of {location}: {_one_line(error)}")
    found = find_commit(history, location, run_id, product_uid, claimed_version)
    if isinstance(found, Mismatch):
        return found
    try:
        rows = _row_count(DeltaTable(location, version=found.version))
    except Exception as error:
        return Mismatch(VERIFICATION_FAILED, f"cannot count the rows of version {found.version} of {location}: "
                                             f"{_one_line(error)}")  # fmt: skip
    return Verified(location, found.version, rows, found.committed_at)


def _row_count(table: Any) -> int:
    """Rows of one version: the add actions' numRecords statistics, or the files' footers when a file has none."""
    import pyarrow as pa

    actions = pa.table(table.get_add_actions(flatten=True))
    if "num_records" in actions.column_names:
        counts = actions["num_records"].to_pylist()
        if all(isinstance(c, int) for c in counts):
            return int(sum(counts))
    return int(table.to_pyarrow_dataset().count_rows())


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:500] or type(error).__name__
