"""`datamesh import FILE`: the seed's contract format, or an ODCS v3 contract, as a DataProduct manifest on stdout.

The format is told by the document itself: `apiVersion: v3.*` with `kind: DataContract` is ODCS (datamesh.odcs),
anything else must be the seed's (datamesh.seed_import). Both are read under the ODCS reader's size, depth and
alias limits: an imported file is someone else's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from datamesh import odcs
from datamesh.api import DataProduct
from datamesh.api.dataproduct import Transform
from datamesh.manifests import problems_of
from datamesh.seed_import import ImportError_, convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", metavar="FILE", help="a seed-format data_product.yaml or an ODCS v3 contract ('-' for stdin)"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sql", metavar="FILE", help="add a SQL transform read from FILE")
    group.add_argument("--python", metavar="MODULE:FUNCTION", help="add a Python entry-point transform")
    parser.add_argument("--namespace", help="set metadata.namespace (default: the domain's namespace)")
    parser.add_argument("--name", help="ODCS only: the product's name, when the contract's `name` is not a DNS label")


def _with(product: DataProduct, transform: Transform | None, namespace: str | None) -> DataProduct:
    """The ODCS import with the command line's transform and namespace, validated again as a whole."""
    body = product.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if transform is not None:
        body["spec"]["transform"] = transform.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if namespace:
        body["metadata"]["namespace"] = namespace
    return DataProduct.model_validate(body)


def run(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.path == "-" else Path(args.path).read_text(encoding="utf-8")
        document = odcs.load_text(text)
        transform = None
        if args.sql:
            transform = Transform(sql=Path(args.sql).read_text(encoding="utf-8"))
        elif args.python:
            transform = Transform(python=args.python)
        if odcs.is_odcs(document):
            imported = odcs.from_odcs(document, name=args.name)
            for note in imported.notes:
                print(f"note: {note}", file=sys.stderr)
            product = _with(imported.product, transform, args.namespace)
        else:
            if args.name:
                raise ImportError_("--name applies to ODCS contracts; the seed's format names the product itself")
            product = convert(document, transform=transform, namespace=args.namespace)
    except ValidationError as error:
        for problem in problems_of(error):
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except odcs.OdcsRefused as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (OSError, ImportError_) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if product.spec.transform is None:
        print(
            "note: the contract has no transform; the product validates and is catalogued but is not built"
            " until spec.transform is set (use --sql or --python)",
            file=sys.stderr,
        )
    # Only what the document said (plus what the conversion added): defaults stay implicit, as in the source.
    body = product.model_dump(by_alias=True, exclude_unset=True, mode="json")
    sys.stdout.write(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    return 0
