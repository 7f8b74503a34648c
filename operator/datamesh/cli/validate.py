"""`datamesh validate FILE...`: every problem of every manifest, field path first."""

from __future__ import annotations

import argparse
import sys

import yaml

from datamesh.manifests import load_documents, validate_body


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="FILE", help="manifest files or folders")


def run(args: argparse.Namespace) -> int:
    try:
        documents = load_documents(args.paths)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed = 0
    for document in documents:
        problems = validate_body(document.body)
        label = f"{document.kind or '?'}/{document.name or '?'} ({document.where})"
        if problems:
            failed += 1
            print(f"{label}: invalid")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{label}: ok")
    if not documents:
        print("error: no manifests found", file=sys.stderr)
        return 1
    return 1 if failed else 0
