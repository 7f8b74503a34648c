"""Reading what a Delta table currently holds, straight from its log and parquet files (test helper)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def versions(table: Path) -> list[int]:
    return sorted(int(p.stem) for p in (table / "_delta_log").glob("*.json"))


def rows(table: Path) -> list[dict[str, Any]]:
    files: set[str] = set()
    for version in versions(table):
        for line in (table / "_delta_log" / f"{version:020d}.json").read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                files.add(action["add"]["path"])
            elif "remove" in action:
                files.discard(action["remove"]["path"])
    out: list[dict[str, Any]] = []
    for name in sorted(files):
        out.extend(pq.read_table(table / name).to_pylist())
    return out
