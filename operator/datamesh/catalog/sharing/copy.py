"""The masked (or reduced) copy of a product that recipients whose grant says `mask` or `exclude` are served.

Delta Sharing hands out whole files, so PII cannot be masked per reader at read time: such recipients read a
second Delta table, `<product location>/_shares/<mode>`, holding the product's rows with PII columns masked
(the mesh's keyed hash of `cast(value as string)`, exactly as builds and REST outputs mask) or left out. It
lives inside the product's own folder, so the build's isolation walls (build/confine.py) and a product's
deletion cover it, and Delta readers and vacuum of the product table never look into `_`-prefixed folders.

Each copy commit records the product table version it was made from and its mode. The API serves a copy only when
that version is the product's current one, the mode is the recipient's, and its schema proves it: no PII column
in clear, no column the product does not declare (one the catalog cannot classify). Anything else is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from datamesh.catalog.api.rest_output import mask

CopyMode = Literal["mask", "exclude"]
COPY_FOLDER = "_shares"
SOURCE_VERSION = "datamesh.sourceVersion"
PII_MODE = "datamesh.piiMode"
PII_COLUMNS = "datamesh.piiColumns"


class CopyRefused(Exception):
    """No copy may be served: missing, behind the product, of another mode, or not provably free of clear PII."""


def copy_location(location: str, mode: CopyMode) -> str:
    return f"{location.rstrip('/')}/{COPY_FOLDER}/{mode}"


def _masked_batches(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, masked: list[str], key: bytes
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        arrays = []
        for field in schema:
            column = batch.column(field.name)
            if field.name in masked:
                column = pa.array([mask(value, key) for value in column.to_pylist()], pa.string())
            arrays.append(column)
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_copy(location: str, *, mode: CopyMode, pii_columns: set[str], key: bytes) -> int:
    """Write the `mode` copy of the product table's current version, batch by batch; returns that version.

    Meant to run in the build right after the product's commit, in the same run (see docs/sharing.md)."""
    source = DeltaTable(location)
    version = source.version()
    dataset = source.to_pyarrow_dataset()
    pii = {f.name for f in dataset.schema if f.name.lower() in {c.lower() for c in pii_columns}}
    kept = [f for f in dataset.schema if not (mode == "exclude" and f.name in pii)]
    schema = pa.schema([pa.field(f.name, pa.string()) if f.name in pii else f for f in kept])
    masked = sorted(pii) if mode == "mask" else []
    batches = dataset.to_batches(columns=[f.name for f in kept])
    reader = pa.RecordBatchReader.from_batches(schema, _masked_batches(batches, schema, masked, key))
    metadata = {SOURCE_VERSION: str(version), PII_MODE: mode, PII_COLUMNS: json.dumps(sorted(pii))}
    write_deltalake(
        copy_location(location, mode),
        reader,
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=CommitProperties(custom_metadata=metadata),
    )
    return version


@dataclass(frozen=True)
class ServedCopy:
    table: DeltaTable
    location: str


def current_copy(
    location: str, *, mode: CopyMode, source_version: int, pii_columns: frozenset[str], declared: frozenset[str]
) -> ServedCopy:
    """The copy to serve for `source_version` of the product, or CopyRefused saying why not."""
    where = copy_location(location, mode)
    try:
        table = DeltaTable(where)
    except Exception as error:  # TableNotFoundError, or a folder that is no Delta table
        raise CopyRefused(
            f"masked copy not published ({mode} copy missing at {where}: {type(error).__name__})"
        ) from None
    last = table.history(1)
    commit = last[0] if last else {}
    if str(commit.get(PII_MODE)) != mode:
        raise CopyRefused(f"masked copy not published: the copy at {where} is not a {mode} copy")
    if str(commit.get(SOURCE_VERSION)) != str(source_version):
        raise CopyRefused(
            f"masked copy not published for version {source_version}: the {mode} copy was made from version"
            f" {commit.get(SOURCE_VERSION)}"
        )
    try:
        masked = {str(c).lower() for c in json.loads(str(commit.get(PII_COLUMNS, "[]")))}
    except ValueError:
        masked = set()
    pii = {c.lower() for c in pii_columns}
    known = {c.lower() for c in declared}
    for field in table.schema().fields:
        name = field.name.lower()
        if name not in known:
            raise CopyRefused(f"the {mode} copy holds column {field.name!r}, which the product does not declare")
        # The copy's commit must name the column as masked (a column marked PII after the copy was made is not).
        if name in pii and (mode == "exclude" or name not in masked or getattr(field.type, "type", None) != "string"):
            raise CopyRefused(f"the {mode} copy holds PII column {field.name!r} unmasked")
    return ServedCopy(table, where)
