"""Deleting one product's published table, in a Job where the data is (`deletionPolicy: Delete`).

The operator cannot delete the data itself: in a real deployment the lake is mounted in build pods, not in the
operator, and object-store credentials belong to the domain's builds. So the finalizer runs this in a Job of the
domain namespace with the storage access of that product's builds (controller/deletion.py), and this module
refuses, with reason `LocationRefused`, whatever it cannot prove to be that product's table:

- the location must lie strictly inside the domain's storage root (the root itself, anything outside it, `.`
  or `..` segments and, on local disks, any symbolic link on the way are refused);
- when something is there, it must be a Delta table whose log has commits carrying this product's uid and none
  carrying another product's (`datamesh.build.publish.commit_metadata` writes it), or an empty folder.

Local tables are removed with `shutil.rmtree` of exactly that folder (its contents only, when the folder is the
pod's mount point); object stores through Hadoop's FileSystem, with a Spark session started only then.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from datamesh.api.common import ApiModel
from datamesh.build.errors import one_line
from datamesh.mesh.contract import DeleteRequest

LOCATION_REFUSED = "LocationRefused"
DeleteOutcome = Literal["Deleted", "NothingToDelete", "Refused", "Failed"]


class DeleteResult(ApiModel):
    """What a deletion Job reports on stdout and in its termination message."""

    outcome: DeleteOutcome
    location: str
    reason: str | None = None
    message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome in ("Deleted", "NothingToDelete")

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"))


class Refused(Exception):
    """The location is not provably this product's table; nothing was deleted."""


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _clean(path: str, what: str) -> str:
    """The path without a trailing slash; refused when it has `.`/`..`/empty segments (no normalising guesses)."""
    stripped = path.rstrip("/") or "/"
    if posixpath.normpath(stripped) != stripped or "//" in stripped:
        raise Refused(f"{what} {path!r} is not a normalised path")
    return stripped


def _inside(location: str, root: str) -> None:
    if root == "/":
        raise Refused("the storage root is '/'; refusing to delete anything under it")
    if location == root:
        raise Refused(f"{location} is the domain's storage root itself, not a table inside it")
    if not location.startswith(root + "/"):
        raise Refused(f"{location} is not inside the domain's storage root {root}")


def check_location(location: str, storage_root: str) -> str:
    """The location, when it lies strictly inside the storage root with no way out (see the module docstring)."""
    if _is_remote(location) or _is_remote(storage_root):
        where, top = urlsplit(location), urlsplit(storage_root)
        if (where.scheme, where.netloc) != (top.scheme, top.netloc) or not where.netloc:
            raise Refused(f"{location} is not in the storage of {storage_root}")
        if where.query or where.fragment or top.query or top.fragment:
            raise Refused(f"{location}: query strings and fragments are not table locations")
        _inside(_clean(where.path, "location"), _clean(top.path or "/", "storage root"))
        return location.rstrip("/")
    path = _clean(location.removeprefix("file://"), "location")
    root = _clean(storage_root.removeprefix("file://"), "storage root")
    if not os.path.isabs(path) or not os.path.isabs(root):
        raise Refused(f"{location} and {storage_root} must be absolute paths")
    _inside(path, root)
    # No symbolic link below the root may redirect the deletion (the root itself may be one, e.g. /lake -> /data).
    current = root
    for part in path[len(root) + 1 :].split("/"):
        current = f"{current}/{part}"
        if os.path.islink(current):
            raise Refused(f"{current} is a symbolic link; refusing to delete through it")
    real_root, real_path = os.path.realpath(root), os.path.realpath(path)
    if not real_path.startswith(real_root.rstrip("/") + "/"):
        raise Refused(f"{path} resolves to {real_path}, outside the storage root {real_root}")
    return path


def check_owner(history: Iterable[Mapping[str, Any]], product_uid: str, location: str) -> None:
    """Refuse unless some commit carries `product_uid` and none carries another product's uid."""
    if not product_uid:
        raise Refused("the request carries no product uid")
    ours = 0
    for entry in history:
        raw = entry.get("userMetadata")
        try:
            metadata = json.loads(raw) if isinstance(raw, str) else {}
        except ValueError:
            metadata = {}
        uid = metadata.get("productUid") if isinstance(metadata, dict) else None
        if uid is None:
            continue  # commits of maintenance (vacuum, optimize) carry no product
        if uid != product_uid:
            raise Refused(f"version {entry.get('version')} of {location} was written by product uid {uid!r}")
        ours += 1
    if not ours:
        raise Refused(f"no commit of {location} carries this product's uid ({product_uid}); not its table")


def _history(location: str) -> list[dict[str, Any]] | None:
    """The table's commits, newest first; None when there is no Delta table there."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table: Any = DeltaTable(location)
    except TableNotFoundError:
        return None
    entries: list[dict[str, Any]] = table.history()
    return entries


def _is_mount_point(path: str) -> bool:
    """Whether `path` is a mount point, bind mounts included: `os.path.ismount` compares devices, and a bind mount
    of a folder of the same filesystem (a hostPath or subPath volume) has its parent's."""
    if os.path.ismount(path):
        return True
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
            # Field 5 is the mount point, with spaces, tabs, newlines and backslashes octal-escaped.
            points = {line.split(" ")[4] for line in mounts if line.count(" ") >= 4}
    except OSError:
        return False
    decoded = {re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point) for point in points}
    return target in decoded


def _delete_local(path: str) -> None:
    if _is_mount_point(path):
        # The pod mounts exactly this folder: its contents go, the mount point stays (and is no table any more).
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    else:
        shutil.rmtree(path)


def _delete_remote(location: str) -> None:
    from datamesh.build.publish import remove
    from datamesh.build.session import create_session

    spark = create_session()
    try:
        remove(spark, location)
    finally:
        spark.stop()


def run_delete(
    request: DeleteRequest,
    *,
    history: Callable[[str], list[dict[str, Any]] | None] = _history,
    delete_remote: Callable[[str], None] = _delete_remote,
) -> DeleteResult:
    """Delete the product's table, or say why not. Never raises."""
    location = request.location
    try:
        target = check_location(location, request.storage_root)
        remote = _is_remote(target)
        if not remote:
            if not os.path.isdir(request.storage_root.removeprefix("file://")):
                # Not "nothing there": this pod does not see the storage (a missing mount), so it cannot tell.
                return DeleteResult(outcome="Failed", location=location, reason="StorageUnavailable",
                                    message=f"the storage root {request.storage_root} is not visible here")  # fmt: skip
            if not os.path.lexists(target):
                return DeleteResult(outcome="NothingToDelete", location=location, message=f"{target} does not exist")
            if not os.path.isdir(target):
                raise Refused(f"{target} is not a folder")
            if not os.path.isdir(os.path.join(target, "_delta_log")):
                if any(os.scandir(target)):
                    raise Refused(f"{target} holds files but no Delta table")
                _delete_local(target)
                return DeleteResult(outcome="Deleted", location=location, message=f"removed the empty folder {target}")
        commits = history(target)
        if commits is None:
            if remote:
                return DeleteResult(outcome="NothingToDelete", location=location, message=f"no Delta table at {target}")
            raise Refused(f"{target}/_delta_log is not a readable Delta log")
        check_owner(commits, request.product_uid, target)
        if remote:
            delete_remote(target)
        else:
            _delete_local(target)
    except Refused as refusal:
        return DeleteResult(outcome="Refused", location=location, reason=LOCATION_REFUSED, message=str(refusal))
    except Exception as error:
        return DeleteResult(outcome="Failed", location=location, reason="DeletionFailed", message=one_line(str(error)))
    return DeleteResult(outcome="Deleted", location=location, message=f"deleted the Delta table at {target}")
