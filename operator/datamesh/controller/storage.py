"""Whether a Domain's storage can hold its products: the StorageReady condition, from what the operator can see.

A Domain whose claim never binds, or whose folder cannot be made, used to report StorageReady=True, and its first
build failed much later with a less telling error. The decision, pure (the runtime does the reads):

- a location placement refuses is False (StorageRefused), whatever else holds;
- an object store is True: the operator holds no credentials to prove more (builds report StorageError);
- a Domain volume follows its PersistentVolumeClaim. Bound is True, Lost is False. Pending is False at once when
  its StorageClass does not exist; True when the class binds on first use (the first build pod binds it); else
  Unknown for PENDING_GRACE, then False, since no provisioner took it up in the time one takes;
- a local folder is True once the operator made it. When it cannot, True only when the folder lies under the
  host lake (DATAMESH_LAKE_HOST_PATH), which the operator may not see and a build's init container creates; else
  False: no build pod would have it mounted or could create it either.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from datamesh.api import Domain, reasons
from datamesh.api.common import ConditionStatus
from datamesh.controller.conditions import Desired

#: How long a claim may stay Pending (with no sign it waits for its first pod) before StorageReady turns False.
PENDING_GRACE: Final = timedelta(minutes=2)
#: The StorageClass volumeBindingMode that leaves a claim Pending until a pod uses it.
WAIT_FOR_FIRST_CONSUMER: Final = "WaitForFirstConsumer"


def _condition(status: ConditionStatus, reason: str, message: str) -> Desired:
    return Desired(reasons.STORAGE_READY, status, reason, message[:1024])


def claim_name(domain: Domain) -> str:
    """The PersistentVolumeClaim a Domain volume is provisioned as (children.py) and build pods mount (jobs.py)."""
    return f"{domain.name}-storage"


def storage_refusals(problems: Iterable[str]) -> list[str]:
    """The placement problems (placement.domain_problems, which name the field first) about spec.storage."""
    return [p for p in problems if p.startswith("spec.storage.")]


@dataclass(frozen=True)
class StorageClass:
    """The claim's StorageClass as far as it could be read."""

    name: str
    #: None: it could not be read (no right to read StorageClasses): the claim is judged by itself.
    exists: bool | None = None
    binding_mode: str | None = None


def refused(refusals: Iterable[str]) -> Desired:
    return _condition("False", reasons.STORAGE_REFUSED, "; ".join(refusals))


def object_store(location: str) -> Desired:
    return _condition("True", reasons.STORAGE_OBJECT_STORE, f"products are written under {location}")


def folder(path: str, error: str | None, lake_host_path: str) -> Desired:
    """A local folder without a volume, after the operator tried to create it (`error`: why it could not)."""
    if error is None:
        return _condition("True", reasons.STORAGE_CREATED, f"{path} exists")
    if lake_host_path and _inside(path, lake_host_path):
        return _condition(
            "True",
            reasons.STORAGE_DEFERRED,
            f"{path}: created by the first build in the host lake {lake_host_path} ({error})",
        )
    where = f"outside the host lake {lake_host_path}" if lake_host_path else "with no host lake configured"
    return _condition(
        "False",
        reasons.STORAGE_UNAVAILABLE,
        f"spec.storage.location: the folder {path} cannot be created ({error}), and it lies {where}, so no build"
        " pod would have it mounted either; use spec.storage.volume, an object store or a folder under the host lake",
    )


def claim_unchecked(domain: Domain) -> Desired:
    """The workspace (which holds the claim) is not provisioned: nothing to look at yet."""
    return _condition(
        "Unknown",
        reasons.STORAGE_PENDING,
        f"claim {claim_name(domain)} is made with the workspace, which is not ready (see WorkspaceReady)",
    )


def claim_unreadable(domain: Domain, error: str) -> Desired:
    return _condition("Unknown", reasons.STORAGE_PENDING, f"claim {claim_name(domain)} could not be read: {error}")


def needs_storage_class(claim: Mapping[str, Any] | None) -> str | None:
    """The StorageClass worth reading for this claim: only a Pending claim's, and only when it names one."""
    if claim is None or _phase(claim) != "Pending":
        return None
    name = (claim.get("spec") or {}).get("storageClassName")
    return str(name) if name else None


def claim(
    domain: Domain,
    body: Mapping[str, Any] | None,
    storage_class: StorageClass | None,
    now: datetime,
    grace: timedelta = PENDING_GRACE,
) -> Desired:
    """StorageReady of a Domain volume, from its claim as read (None: not found) and its StorageClass."""
    name = f"{domain.namespace_name}/{claim_name(domain)}"
    if body is None:
        return _condition(
            "False",
            reasons.STORAGE_UNAVAILABLE,
            f"claim {name} does not exist; it is made again at the next workspace check",
        )
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return _condition(
            "False", reasons.STORAGE_UNAVAILABLE, f"claim {name} is being deleted (it stays while a pod still uses it)"
        )
    phase = _phase(body)
    volume = (body.get("spec") or {}).get("volumeName") or "?"
    if phase == "Bound":
        return _condition("True", reasons.STORAGE_BOUND, f"claim {name} is bound to volume {volume}")
    if phase == "Lost":
        return _condition(
            "False",
            reasons.STORAGE_LOST,
            f"claim {name} lost its volume {volume}: what was published on it cannot be read; restore the"
            " PersistentVolume or delete the claim to start on a new, empty one",
        )
    if phase != "Pending":
        return _condition("Unknown", reasons.STORAGE_PENDING, f"claim {name} is {phase}")
    if storage_class is not None and storage_class.exists is False:
        return _condition(
            "False",
            reasons.STORAGE_CLASS_NOT_FOUND,
            f"spec.storage.volume.storageClassName: claim {name} asks for the StorageClass"
            f" {storage_class.name!r}, which does not exist; name an existing class or none (the default)",
        )
    if storage_class is not None and storage_class.binding_mode == WAIT_FOR_FIRST_CONSUMER:
        return _condition(
            "True",
            reasons.STORAGE_WAIT_FOR_FIRST_CONSUMER,
            f"claim {name} is bound when the first build pod is scheduled (StorageClass"
            f" {storage_class.name!r} binds on first use)",
        )
    created = _timestamp(meta.get("creationTimestamp"))
    since = f" since {created:%Y-%m-%dT%H:%M:%SZ}" if created is not None else ""
    what = f"StorageClass {storage_class.name!r}" if storage_class is not None else "no StorageClass (no default)"
    if created is not None and now - created < grace:
        return _condition(
            "Unknown", reasons.STORAGE_PENDING, f"claim {name} ({what}) is Pending{since}: waiting for a volume"
        )
    return _condition(
        "False",
        reasons.STORAGE_PENDING,
        f"claim {name} ({what}) has been Pending{since}: no volume was bound or provisioned;"
        f" `kubectl describe pvc -n {domain.namespace_name} {claim_name(domain)}` shows why",
    )


def _phase(body: Mapping[str, Any]) -> str:
    return str((body.get("status") or {}).get("phase") or "Pending")


def _timestamp(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _inside(path: str, root: str) -> bool:
    """`path` lies strictly below `root` (both absolute; `..` is refused by placement before this is asked)."""
    if not path.startswith("/") or not root.startswith("/"):
        return False
    normal, base = os.path.normpath(path), os.path.normpath(root)
    return normal != base and os.path.commonpath([normal, base]) == base
