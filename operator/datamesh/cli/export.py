"""`datamesh export --format odcs (-n NAMESPACE | -f FILE_OR_DIR...) PRODUCT`: a product's contract for other tools.

From the cluster (-n) the document also shows where the product publishes (status.location); from manifests (-f)
it shows what the manifests say. Either way it is checked against the ODCS project's own models before it is
written, and `datamesh import` turns it back into the same contract.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from datamesh.api import DataProduct
from datamesh.manifests import load_mesh, problems_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("product", metavar="PRODUCT", help="the DataProduct: NAME (or NAMESPACE/NAME with -f)")
    parser.add_argument("--format", choices=["odcs"], default="odcs", help="document format (default odcs: ODCS v3)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-n", "--namespace", help="read the product from the cluster, in this namespace")
    source.add_argument(
        "-f", "--filename", dest="paths", action="append", metavar="FILE_OR_DIR",
        help="read the product from manifest files or folders instead of the cluster (repeatable)",
    )  # fmt: skip
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the document here (default: stdout)")


def _from_cluster(args: argparse.Namespace) -> tuple[DataProduct, str | None]:
    from datamesh.cli.kubeapi import api_client, current_namespace, get_product

    namespace = args.namespace or current_namespace(args.kubeconfig, args.context)
    body = get_product(api_client(args.kubeconfig, args.context), namespace, args.product)
    status: dict[str, Any] = body.get("status") or {}
    # The contract is the spec; status is the operator's (and may carry fields of newer versions).
    product = DataProduct.model_validate({k: v for k, v in body.items() if k != "status"})
    location = status.get("location")
    return product, location if isinstance(location, str) else None


def run(args: argparse.Namespace) -> int:
    from datamesh import odcs

    try:
        if args.paths:
            product, location = load_mesh(args.paths).find_product(args.product), None
        else:
            product, location = _from_cluster(args)
        document = odcs.to_odcs(odcs.contract_of(product), location=location)
    except ValidationError as error:
        for problem in problems_of(error):
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except odcs.OdcsRefused as error:
        for problem in error.problems:
            print(f"error: the export is not valid ODCS: {problem}", file=sys.stderr)
        return 1
    except (OSError, LookupError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # the kubernetes client's ApiException and config errors
        reason = getattr(error, "reason", None) or error
        print(f"error: reading {args.product!r} from the cluster: {reason}", file=sys.stderr)
        return 1
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
