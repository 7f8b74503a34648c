"""`datamesh demo-data [--out DIR] [--scale N]`: write the seed's bronze tables where the example Domains read them."""

from __future__ import annotations

import argparse
import sys

from datamesh.build.demodata import DEFAULT_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(DEFAULT_ROOT), help=f"lake root folder (default: {DEFAULT_ROOT})")
    parser.add_argument(
        "--scale", type=float, default=0.01, help="1.0 = 1M customers, 5M sessions, 500k tickets (default: 0.01)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed; the same seed writes the same data")


def run(args: argparse.Namespace) -> int:
    from datamesh.build import demodata

    try:
        written = demodata.write(args.out, scale=args.scale, seed=args.seed)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for table, folder in written.items():
        print(f"{table}: {folder}")
    return 0
