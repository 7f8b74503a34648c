"""StorageReady is False when a Domain's storage cannot hold products: a refused location, a claim that is lost,
whose StorageClass does not exist or that nothing provisions, a folder no build could write; True otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datamesh import placement
from datamesh.api import Domain, reasons
from datamesh.controller import storage
from datamesh.controller.runtime import _make_folder

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def domain(name: str = "sales", location: str = "/data/sales", **storage_spec: Any) -> Domain:
    return Domain.model_validate({
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"owner": "o@example.com", "description": "d", "storage": {"location": location, **storage_spec}},
    })  # fmt: skip


def pvc(phase: str | None, *, age: timedelta = timedelta(0), storage_class: str | None = "fast",
        volume: str | None = None, deleting: bool = False) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": "sales-storage", "creationTimestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if deleting:
        meta["deletionTimestamp"] = NOW.isoformat()
    spec: dict[str, Any] = {"storageClassName": storage_class} if storage_class else {}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": meta, "spec": spec, "status": {"phase": phase} if phase else {}}


VOLUME = domain(volume={"size": "1Gi", "storageClassName": "fast"})


def decide(body: dict[str, Any] | None, storage_class: storage.StorageClass | None = None,
           at: datetime = NOW) -> tuple[str, str, str]:  # fmt: skip
    found = storage.claim(VOLUME, body, storage_class, at)
    assert found.type == reasons.STORAGE_READY
    return found.status, found.reason, found.message


def test_a_bound_claim_is_ready() -> None:
    status, reason, message = decide(pvc("Bound", volume="pv-1"))
    assert (status, reason) == ("True", reasons.STORAGE_BOUND) and "pv-1" in message


def test_a_claim_whose_storage_class_does_not_exist_is_not_ready_at_once() -> None:
    missing = storage.StorageClass("fast", exists=False)
    status, reason, message = decide(pvc("Pending"), missing)
    assert (status, reason) == ("False", reasons.STORAGE_CLASS_NOT_FOUND)
    assert message.startswith("spec.storage.volume.storageClassName:") and "'fast'" in message


def test_a_pending_claim_is_unknown_for_a_while_then_not_ready() -> None:
    known = storage.StorageClass("fast", exists=True, binding_mode="Immediate")
    assert decide(pvc("Pending", age=timedelta(seconds=30)), known)[:2] == ("Unknown", reasons.STORAGE_PENDING)
    late = pvc("Pending", age=storage.PENDING_GRACE)
    status, reason, message = decide(late, known)
    assert (status, reason) == ("False", reasons.STORAGE_PENDING)
    assert "kubectl describe pvc -n sales sales-storage" in message
    # The message does not change from one reconcile to the next: no status write every 30 s.
    assert decide(late, known, NOW + timedelta(minutes=7))[2] == message
    # Without a right to read StorageClasses, or with no class at all (no default in the cluster), the same.
    assert decide(late, storage.StorageClass("fast"))[:2] == ("False", reasons.STORAGE_PENDING)
    status, _, message = decide(pvc("Pending", age=timedelta(hours=1), storage_class=None), None)
    assert status == "False" and "no StorageClass" in message


def test_a_claim_that_binds_on_first_use_is_ready_while_pending() -> None:
    lazy = storage.StorageClass("fast", exists=True, binding_mode=storage.WAIT_FOR_FIRST_CONSUMER)
    status, reason, _ = decide(pvc("Pending", age=timedelta(days=3)), lazy)
    assert (status, reason) == ("True", reasons.STORAGE_WAIT_FOR_FIRST_CONSUMER)


def test_a_lost_missing_or_deleted_claim_is_not_ready() -> None:
    assert decide(pvc("Lost", volume="pv-1"))[:2] == ("False", reasons.STORAGE_LOST)
    assert decide(None)[:2] == ("False", reasons.STORAGE_UNAVAILABLE)
    assert decide(pvc("Bound", deleting=True))[:2] == ("False", reasons.STORAGE_UNAVAILABLE)


def test_only_a_pending_claim_that_names_a_class_needs_the_class_read() -> None:
    assert storage.needs_storage_class(pvc("Pending")) == "fast"
    assert storage.needs_storage_class(pvc(None)) == "fast", "no phase yet: Pending"
    assert storage.needs_storage_class(pvc("Pending", storage_class=None)) is None
    assert storage.needs_storage_class(pvc("Bound")) is None
    assert storage.needs_storage_class(None) is None


def test_a_folder_is_ready_when_made_or_when_a_build_makes_it_in_the_host_lake() -> None:
    made = storage.folder("/data/sales", None, "")
    assert (made.type, made.status, made.reason) == (reasons.STORAGE_READY, "True", reasons.STORAGE_CREATED)
    deferred = storage.folder("/var/lib/datamesh/lake/sales", "PermissionError: Permission denied",
                              "/var/lib/datamesh/lake")  # fmt: skip
    assert (deferred.status, deferred.reason) == ("True", reasons.STORAGE_DEFERRED)


def test_a_folder_no_build_could_write_is_not_ready() -> None:
    for lake in ("", "/var/lib/datamesh/lake"):
        found = storage.folder("/srv/sales", "PermissionError: Permission denied", lake)
        assert (found.status, found.reason) == ("False", reasons.STORAGE_UNAVAILABLE), lake
        assert found.message.startswith("spec.storage.location:") and "Permission denied" in found.message
    # The lake root itself is not a folder below it.
    lake_root = storage.folder("/var/lib/datamesh/lake", "OSError: read-only", "/var/lib/datamesh/lake")
    assert lake_root.status == "False"


def test_a_folder_that_cannot_be_made_is_reported_with_the_reason(tmp_path: Path) -> None:
    # What the runtime hands over: a real mkdir under a file fails.
    (tmp_path / "file").write_text("")
    error = _make_folder(str(tmp_path / "file" / "sales"))
    assert error is not None and error.startswith(("NotADirectoryError", "FileExistsError"))
    assert _make_folder(str(tmp_path / "lake" / "sales")) is None and (tmp_path / "lake" / "sales").is_dir()


def test_a_storage_location_placement_refuses_is_not_ready() -> None:
    owner = domain("sales", "/data/sales")
    owner.metadata["creationTimestamp"] = "2025-01-01T00:00:00Z"
    squatter = domain("marketing", "/data/sales/marketing")
    domains = {"sales": owner, "marketing": squatter}
    problems = placement.domain_problems(squatter, domains, [], seniority=True)
    refusals = storage.storage_refusals(problems)
    assert refusals and all(r.startswith("spec.storage.location:") for r in refusals)
    found = storage.refused(refusals)
    assert (found.status, found.reason) == ("False", reasons.STORAGE_REFUSED) and "/data/sales" in found.message
    # Only problems of spec.storage count: a source's are not about where products are stored.
    assert storage.storage_refusals(["spec.sources[0].location: overlaps"]) == []


def test_an_object_store_is_ready() -> None:
    found = storage.object_store("s3a://lake/sales")
    assert (found.status, found.reason) == ("True", reasons.STORAGE_OBJECT_STORE)
