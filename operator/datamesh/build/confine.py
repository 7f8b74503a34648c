"""The build's own wall: before anything is written, the output must lie strictly inside the domain's storage root
and no input may overlap it, judged on the real filesystem.

The operator computes every location (datamesh.placement), but the build does not take that on trust: a lake
folder may be a symlink into another domain's storage (planted by an earlier build's Python transform, or by
anyone who could write to the lake), and a request may come from an operator that predates the rules. So the
lexical rules are checked again here, then local paths are resolved with `os.path.realpath` and compared as
they really are, and the existing table is searched for symlinks (a `_delta_log` linked elsewhere would carry
the commit into another table). Object-store URIs have no symlinks: their normalised scheme, bucket and prefix
are compared.

The one place a build writes besides its table is the table's own Delta Sharing copies, `<output>/_shares/<mode>`
(datamesh.sharing_copy), written after the publish: `check_copy` asks the same questions again just before, since
a Python transform ran in between and could have planted a link there.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from datamesh.build.errors import BuildError
from datamesh.mesh.contract import BuildRequest
from datamesh.placement import Place, PlacementError, parse_location
from datamesh.sharing_copy import COPY_FOLDER, CopyMode, copy_location

REASON = "LocationRefused"


def check(request: BuildRequest) -> None:
    """Raise BuildError(LocationRefused) unless the request's output may be written.

    Without `storage_root` (local builds from the user's own manifests) only the spelling of the output and
    the inputs' overlap with it are checked."""
    output = _place(request.output_location, "outputLocation")
    root = _place(request.storage_root, "storageRoot") if request.storage_root is not None else None
    if root is not None and not root.strictly_contains(output):
        raise BuildError(REASON, f"outputLocation: {output} is not strictly inside the storage root {root}")
    inputs = [(f"inputs[{i}].location ({item.ref})", _place(item.location, f"inputs[{i}].location"))
              for i, item in enumerate(request.inputs)]  # fmt: skip
    for field, place in inputs:
        relation = place.relation(output)
        if relation is not None:
            raise BuildError(REASON, f"{field}: {place} {relation} the output location {output}")
    if output.scheme != "file":
        return
    real_output = _real(output)
    if root is not None:
        real_root = _real(root)
        if not _strictly_inside(real_output, real_root):
            raise BuildError(
                REASON,
                f"outputLocation: {output} resolves to {real_output}, which is not strictly inside the storage root"
                f" {root} (resolved: {real_root}); a symlink leads out of the domain's storage",
            )
    for field, place in inputs:
        if place.scheme != "file":
            continue
        real_input = _real(place)
        if _overlaps(real_input, real_output):
            raise BuildError(
                REASON, f"{field}: {place} resolves to {real_input}, which overlaps the output {real_output}"
            )
    link = _first_symlink(real_output)
    if link is not None:
        raise BuildError(REASON, f"outputLocation: {output} holds a symlink ({link}); a build never writes through one")


def check_copy(request: BuildRequest, mode: CopyMode) -> str:
    """The location of the `mode` share copy, once proven to lie inside the product's own folder as it really is;
    raises BuildError(LocationRefused) otherwise. Local folders only: the catalog serves nothing else."""
    output = _place(request.output_location, "outputLocation")
    if output.scheme != "file":
        raise BuildError(REASON, f"share copies are written in the local lake only, not at {output}")
    target = _place(copy_location(request.output_location, mode), f"shareCopies[{mode}]")
    if not output.strictly_contains(target):
        raise BuildError(REASON, f"shareCopies[{mode}]: {target} is not strictly inside the output {output}")
    real_output = _real(output)
    real_folder = _real(_place(f"{request.output_location.rstrip('/')}/{COPY_FOLDER}", "shareCopies"))
    real_target = _real(target)
    expected = real_output / COPY_FOLDER
    if real_folder != expected or real_target != expected / mode:
        raise BuildError(
            REASON,
            f"shareCopies[{mode}]: {target} resolves to {real_target}, not inside the output {real_output}; a symlink"
            " leads out of the product's folder",
        )
    link = _first_symlink(real_folder)
    if link is not None:
        raise BuildError(REASON, f"shareCopies: {real_folder} holds a symlink ({link}); never written through")
    return copy_location(request.output_location, mode)


def _place(location: str, field: str) -> Place:
    try:
        return parse_location(location, field)
    except PlacementError as error:
        raise BuildError(REASON, str(error)) from None


def _real(place: Place) -> PurePosixPath:
    # realpath resolves the part that exists and keeps the rest: a folder created by this build cannot be a link.
    return PurePosixPath(os.path.realpath(str(place)))


def _strictly_inside(path: PurePosixPath, root: PurePosixPath) -> bool:
    return path != root and path.is_relative_to(root)


def _overlaps(a: PurePosixPath, b: PurePosixPath) -> bool:
    return a.is_relative_to(b) or b.is_relative_to(a)


def _first_symlink(folder: PurePosixPath) -> str | None:
    """A symlink anywhere in the existing table (walked without following links), or None."""
    for parent, dirs, files in os.walk(folder, followlinks=False):
        for name in [*dirs, *files]:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                return path
    return None
