"""`datamesh build --local -f PATH... NAME`: build, check and publish one product with a local Spark session."""

from __future__ import annotations

import argparse
import sys

import yaml
from pydantic import ValidationError

from datamesh.manifests import load_mesh


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="the DataProduct to build: NAME or NAMESPACE/NAME")
    parser.add_argument(
        "-f",
        "--filename",
        dest="paths",
        action="append",
        nargs="+",
        required=True,
        metavar="PATH",
        help="manifest files or folders holding the product and the Domains it reads from",
    )
    parser.add_argument("--local", action="store_true", help="build in this process with a local Spark session")
    parser.add_argument("--master", help="Spark master (default: $DATAMESH_SPARK_MASTER or local[2])")
    parser.add_argument("--run-id", help="run id recorded in the Delta commit (default: generated)")


def run(args: argparse.Namespace) -> int:
    if not args.local:
        print("error: only --local builds are supported here; in a cluster the operator runs builds", file=sys.stderr)
        return 2
    from datamesh.build.__main__ import emit, stdout_to_stderr
    from datamesh.build.local import build_request

    paths = [p for group in args.paths for p in group]
    name = args.name
    # `-f A B NAME` hands NAME to -f's greedy list; the product is then its last word.
    if name is None and len(paths) > 1:
        name = paths.pop()
    if name is None:
        print("error: name the DataProduct to build (NAME or NAMESPACE/NAME)", file=sys.stderr)
        return 2
    try:
        request = build_request(load_mesh(paths), name, run_id=args.run_id)
    except (OSError, LookupError, ValueError, ValidationError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from datamesh.build.runner import run_build
    from datamesh.build.session import create_session

    def progress(line: str) -> None:
        print(f"[{request.namespace}/{request.name}] {line}", file=sys.stderr, flush=True)

    with stdout_to_stderr() as stdout:
        progress("starting Spark")
        spark = create_session(master=args.master) if args.master else None
        return emit(run_build(request, spark=spark, progress=progress), stdout)
