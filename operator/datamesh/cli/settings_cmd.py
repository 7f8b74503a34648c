"""`datamesh settings`: list every DATAMESH_* variable (default, readers, meaning), or write/check the docs page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from datamesh import settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="write the Markdown page here (e.g. docs/configuration.md)")
    parser.add_argument("--check", action="store_true", help="with --out: exit 1 if the page differs from the list")


def run(args: argparse.Namespace) -> int:
    page = settings.markdown()
    if args.out is None:
        sys.stdout.write(page)
        return 0
    out = Path(args.out)
    if args.check:
        if not out.is_file() or out.read_text() != page:
            print(f"{out} is out of date: run `datamesh settings --out {out}`", file=sys.stderr)
            return 1
        return 0
    out.write_text(page)
    print(f"wrote {out}")
    return 0
