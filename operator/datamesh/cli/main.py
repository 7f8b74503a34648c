"""`datamesh` entry point: parses arguments and hands each subcommand to its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from datamesh import __version__

# Subcommand -> module with `add_arguments(parser)` and `run(args) -> int`. Only the module of the command being run
# is imported: `datamesh validate` does not pay for Spark or kopf, and the long-running `datamesh operator` does not
# keep pyarrow and numpy (the demo-data and build commands' imports, ~45 MB) resident for its whole life.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("datamesh.cli.validate", "check manifests offline; exit 1 listing every problem"),
    "import": ("datamesh.cli.import_seed", "convert a seed-format or ODCS v3 contract into a DataProduct manifest"),
    "export": (
        "datamesh.cli.export",
        "write a product's contract as an ODCS v3 document (from the cluster or manifests)",
    ),
    "crds": ("datamesh.cli.crds", "write the CRDs generated from the API models"),
    "settings": ("datamesh.cli.settings_cmd", "list every DATAMESH_* setting, or write docs/configuration.md"),
    "build": ("datamesh.cli.build", "build, check and publish a data product (--local: with a local Spark session)"),
    "demo-data": ("datamesh.cli.demo_data", "write the seed's bronze demo tables where the example Domains read them"),
    "operator": ("datamesh.cli.operator_cmd", "run the operator against the current kubeconfig"),
    "catalog": ("datamesh.cli.catalog", "search the data catalog and show products (through the discovery API)"),
    "api": ("datamesh.cli.api", "serve the discovery API: search, product detail, REST outputs, the mesh page"),
    "share": ("datamesh.cli.share", "issue a Delta Sharing profile for a consumer domain (recipient)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand, with the arguments of `only` (None: of all of them, importing every module)."""
    parser = argparse.ArgumentParser(prog="datamesh", description=__doc__)
    parser.add_argument("--version", action="version", version=f"datamesh {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            importlib.import_module(module_name).add_arguments(command)
    return parser


def requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line: the first argument that is not an option (the top-level parser
    has no option taking a value), when it is one of COMMANDS."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(requested_command(argv)).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    code: int = module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
