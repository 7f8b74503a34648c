"""What the protocol says about a served Delta table, read with delta-rs: version, metadata, files; and the one
way a file is turned into bytes on disk (`confined_file`).

Only tables a parquet-format reader can read whole are served: a table needing reader features (deletion
vectors, column mapping) would hand out files whose rows are not the table's, so it is refused. Per-file
statistics are reduced to the row count: min and max values of a PII column would leak it in clear."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from deltalake import DeltaTable

from datamesh.catalog.api.rest_output import spark_string
from datamesh.catalog.errors import Refused


class TableRefused(Refused):
    """The table cannot be served."""


@dataclass(frozen=True)
class TableFile:
    path: str
    size: int
    num_records: int | None
    partition_values: dict[str, str | None]

    @property
    def id(self) -> str:
        return hashlib.sha256(self.path.encode("utf-8")).hexdigest()[:32]


def local_folder(location: str) -> Path:
    """The table's folder on this machine; object-store tables are refused (their bytes are not ours to serve)."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else location)
    raise TableRefused(501, f"sharing serves tables of the local lake only, not {parsed.scheme}:// locations")


def open_table(location: str, version: int | None = None) -> DeltaTable:
    local_folder(location)
    try:
        table = DeltaTable(location, version=version) if version is not None else DeltaTable(location)
    except Exception as error:  # TableNotFoundError, or an unknown version
        raise TableRefused(404, f"the table is not published (at that version): {type(error).__name__}") from None
    protocol = table.protocol()
    if protocol.min_reader_version > 1 or protocol.reader_features:
        raise TableRefused(
            403, f"the table needs Delta reader features ({protocol.reader_features or 'readerVersion>1'})"
        )
    return table


def _partition_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date, bool)):
        return spark_string(value)
    return str(value)


def files(table: DeltaTable) -> list[TableFile]:
    actions = pa.table(table.get_add_actions(flatten=False)).to_pylist()
    found = []
    for action in actions:
        values = action.get("partition_values") or {}
        found.append(
            TableFile(
                path=str(action["path"]),
                size=int(action["size_bytes"]),
                num_records=action.get("num_records"),
                partition_values={k: _partition_text(v) for k, v in values.items()},
            )
        )
    return sorted(found, key=lambda f: f.path)


def protocol_line() -> dict[str, Any]:
    return {"protocol": {"minReaderVersion": 1}}


def metadata_line(table: DeltaTable, table_files: list[TableFile], version: int) -> dict[str, Any]:
    """The `metaData` line; `version` is the product table version the answer is for."""
    metadata = table.metadata()
    return {
        "metaData": {
            "id": metadata.id,
            "format": {"provider": "parquet"},
            "schemaString": table.schema().to_json(),
            "partitionColumns": list(metadata.partition_columns),
            "configuration": {},
            "version": version,
            "size": sum(f.size for f in table_files),
            "numFiles": len(table_files),
        }
    }


def file_line(table_file: TableFile, url: str, expires_ms: int) -> dict[str, Any]:
    stats = json.dumps({"numRecords": table_file.num_records}) if table_file.num_records is not None else None
    body: dict[str, Any] = {
        "url": url,
        "id": table_file.id,
        "partitionValues": table_file.partition_values,
        "size": table_file.size,
        "expirationTimestamp": expires_ms,
    }
    if stats is not None:
        body["stats"] = stats
    return {"file": body}


def confined_file(location: str, table: DeltaTable, path: str) -> Path:
    """The real file behind `path` when it is a data file of `table`'s snapshot and lies inside the table's folder
    as it really is (no `..`, no absolute paths, no symlink leading out)."""
    if path not in {f.path for f in files(table)}:
        raise TableRefused(404, "the file is not part of the shared table's snapshot")
    if os.path.isabs(path) or "://" in path or ".." in Path(path).parts:
        raise TableRefused(403, "the file lies outside the table's folder")
    root = Path(os.path.realpath(local_folder(location)))
    real = Path(os.path.realpath(root / unquote(path)))
    if real == root or not real.is_relative_to(root) or not real.is_file():
        raise TableRefused(403, "the file lies outside the table's folder")
    return real
