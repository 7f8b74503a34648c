"""`datamesh crds`: write (or check) the CRDs generated from the API models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from datamesh.api import KINDS, crdgen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="crds", help="folder to write to (default: crds)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the models")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.check:
        stale = [
            crdgen.file_name(kind)
            for kind in KINDS
            if not (out / crdgen.file_name(kind)).is_file()
            or (out / crdgen.file_name(kind)).read_text() != crdgen.render(kind)
        ]
        for name in stale:
            print(f"{out / name} is out of date: run `make crds`", file=sys.stderr)
        return 1 if stale else 0
    for path in crdgen.write_all(out):
        print(f"wrote {path}")
    return 0
