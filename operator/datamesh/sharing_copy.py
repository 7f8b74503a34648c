"""Writing the masked (or reduced) copy of a product that Delta Sharing recipients whose grant says `mask` or
`exclude` are served; the build writes it right after the product's commit, the catalog API validates and serves it.

Delta Sharing hands out whole files, so PII cannot be masked per reader at read time: such recipients read a
second Delta table, `<product location>/_shares/<mode>`, holding the product's rows with PII columns masked
(`datamesh.masking.mask_value`, exactly as builds and REST outputs mask) or left out. It lives inside the product's
own folder, so the build's isolation walls (build/confine.py) and a product's deletion cover it, and Delta readers
and vacuum of the product table never look into `_`-prefixed folders.

Each copy commit records the product table version it was made from, its mode and the columns it masked; the API
(datamesh.catalog.sharing.copy) serves a copy only when all three prove it current and free of clear PII. This
module sits outside both the build and the catalog packages because both use it and neither may import the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from datamesh.masking import mask_value

CopyMode = Literal["mask", "exclude"]
COPY_MODES: tuple[CopyMode, ...] = ("mask", "exclude")
COPY_FOLDER = "_shares"
SOURCE_VERSION = "datamesh.sourceVersion"
PII_MODE = "datamesh.piiMode"
PII_COLUMNS = "datamesh.piiColumns"


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
                column = pa.array([mask_value(value, key) for value in column.to_pylist()], pa.string())
            arrays.append(column)
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_copy(
    location: str, *, mode: CopyMode, pii_columns: set[str], key: bytes | None, retain_hours: float | None = None
) -> int:
    """Write the `mode` copy of the product table's current version, batch by batch; returns that version.

    `key` is required for `mask` (a copy is never written with a plain hash). `retain_hours`: afterwards, vacuum
    the copy's files no version within that window needs (only the newest copy is ever served)."""
    if mode == "mask" and not key:
        raise ValueError("a mask copy needs the mesh's masking key")
    source = DeltaTable(location)
    version = source.version()
    dataset = source.to_pyarrow_dataset()
    wanted = {c.lower() for c in pii_columns}
    pii = {f.name for f in dataset.schema if f.name.lower() in wanted}
    kept = [f for f in dataset.schema if not (mode == "exclude" and f.name in pii)]
    schema = pa.schema([pa.field(f.name, pa.string()) if f.name in pii else f for f in kept])
    masked = sorted(pii) if mode == "mask" else []
    batches = dataset.to_batches(columns=[f.name for f in kept])
    reader = pa.RecordBatchReader.from_batches(schema, _masked_batches(batches, schema, masked, key or b""))
    metadata = {SOURCE_VERSION: str(version), PII_MODE: mode, PII_COLUMNS: json.dumps(sorted(pii))}
    target = copy_location(location, mode)
    write_deltalake(
        target,
        reader,
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=CommitProperties(custom_metadata=metadata),
    )
    if retain_hours is not None:
        DeltaTable(target).vacuum(retention_hours=int(retain_hours), enforce_retention_duration=False, dry_run=False)
    return version
