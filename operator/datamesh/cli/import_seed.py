"""`datamesh import FILE`: the seed's contract format as a DataProduct manifest on stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from datamesh.api.dataproduct import Transform
from datamesh.manifests import problems_of
from datamesh.seed_import import ImportError_, convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="FILE", help="a seed-format data_product.yaml ('-' for stdin)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sql", metavar="FILE", help="add a SQL transform read from FILE")
    group.add_argument("--python", metavar="MODULE:FUNCTION", help="add a Python entry-point transform")
    parser.add_argument("--namespace", help="set metadata.namespace (default: the domain's namespace)")


def run(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.path == "-" else Path(args.path).read_text(encoding="utf-8")
        seed = yaml.safe_load(text)
        transform = None
        if args.sql:
            transform = Transform(sql=Path(args.sql).read_text(encoding="utf-8"))
        elif args.python:
            transform = Transform(python=args.python)
        product = convert(seed, transform=transform, namespace=args.namespace)
    except ValidationError as error:
        for problem in problems_of(error):
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (OSError, ImportError_, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if product.spec.transform is None:
        print(
            "note: the seed has no transform; the product validates and is catalogued but is not built"
            " until spec.transform is set (use --sql or --python)",
            file=sys.stderr,
        )
    # Only what the seed said (plus what the conversion added): defaults stay implicit, as in the source.
    body = product.model_dump(by_alias=True, exclude_unset=True, mode="json")
    sys.stdout.write(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    return 0
