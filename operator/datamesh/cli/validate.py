"""`datamesh validate FILE... [--policies DIR]`: every problem of every manifest, field path first.

Schema problems come first; a schema-valid Domain or DataProduct is then checked against every GovernancePolicy
(those in DIR and those among FILE). Violations of a Deny policy fail validation; violations of an Audit policy
are printed and marked `(audit)` but do not change the exit code. Locations and namespaces are checked across
the manifests given, as admission checks them against the cluster (datamesh.placement): a product's table inside
its domain's storage and apart from every other table, source and domain storage; a Domain's namespace neither a
system one, the operator's (DATAMESH_NAMESPACE, default datamesh-system), a reserved one
(DATAMESH_RESERVED_NAMESPACES) nor another Domain's. A product whose Domain is not among the manifests has only
the spelling of its locations checked.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel

from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.api.entrypoints import entry_point_problems
from datamesh.controller.config import OperatorConfig
from datamesh.governance import Violation, check_domain, check_policy, check_product, policy_name
from datamesh.manifests import Document, Problem, load_documents, parse, validate_body
from datamesh.placement import domain_problems, namespace_problems, product_problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="FILE", help="manifest files or folders")
    parser.add_argument(
        "--policies",
        metavar="DIR",
        help="folder (or file) of GovernancePolicy manifests to check every Domain and DataProduct against;"
        " GovernancePolicies among FILE apply too",
    )


@dataclass
class Checked:
    """One document and what validation found."""

    document: Document
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model: BaseModel | None = None

    @property
    def label(self) -> str:
        return f"{self.document.kind or '?'}/{self.document.name or '?'} ({self.document.where})"


def _load(paths: list[str], policies_dir: str | None) -> list[Document]:
    documents = load_documents(paths)
    if policies_dir:
        for document in load_documents([policies_dir]):
            if document.kind == "GovernancePolicy":
                documents.append(document)
            else:
                print(f"note: {document.where}: --policies reads GovernancePolicies only, skipping", file=sys.stderr)
    # A policy folder that also lies under a FILE folder must not be read (and reported) twice.
    unique: dict[tuple[Path, int], Document] = {}
    for document in documents:
        unique.setdefault((Path(document.source).resolve(), document.index), document)
    return list(unique.values())


def _schema_check(document: Document) -> Checked:
    checked = Checked(document)
    problems = validate_body(document.body)
    if problems:
        checked.problems = [str(problem) for problem in problems]
    else:
        checked.model = parse(document.body)
    return checked


def _policy_problems(checked: list[Checked]) -> None:
    seen: dict[str, str] = {}
    for item in checked:
        if not isinstance(item.model, GovernancePolicy):
            continue
        name = policy_name(item.model)
        if name in seen:
            item.problems.append(
                str(Problem("metadata.name", f"GovernancePolicy {name!r} is also defined in {seen[name]}"))
            )
        seen.setdefault(name, item.document.where)
        item.problems.extend(str(problem) for problem in check_policy(item.model))


def _placement_problems(checked: list[Checked]) -> None:
    domains = {item.model.name: item.model for item in checked if isinstance(item.model, Domain)}
    products = [item.model for item in checked if isinstance(item.model, DataProduct)]
    config = OperatorConfig()
    for item in checked:
        if isinstance(item.model, DataProduct):
            item.problems.extend(product_problems(item.model, domains, products))
            transform = item.model.spec.transform
            if transform is not None and transform.python is not None:
                item.problems.extend(entry_point_problems(transform.python, config.python_transform_modules))
        elif isinstance(item.model, Domain):
            item.problems.extend(domain_problems(item.model, domains, products))
            item.problems.extend(namespace_problems(item.model, domains, config.namespace, config.reserved_namespaces))


def _file_violations(item: Checked, violations: list[Violation]) -> None:
    for violation in violations:
        if violation.denies:
            item.problems.append(str(violation))
        else:
            item.warnings.append(f"{violation} (audit)")


def run(args: argparse.Namespace) -> int:
    try:
        documents = _load(args.paths, args.policies)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not documents:
        print("error: no manifests found", file=sys.stderr)
        return 1
    checked = [_schema_check(document) for document in documents]
    _policy_problems(checked)
    policies = [item.model for item in checked if isinstance(item.model, GovernancePolicy) and not item.problems]
    for item in checked:
        if isinstance(item.model, DataProduct):
            _file_violations(item, check_product(policies, item.model))
        elif isinstance(item.model, Domain):
            _file_violations(item, check_domain(policies, item.model))
    _placement_problems(checked)
    failed = 0
    for item in checked:
        if item.problems:
            failed += 1
            print(f"{item.label}: invalid")
        elif item.warnings:
            print(f"{item.label}: ok, {len(item.warnings)} audit warning{'s' if len(item.warnings) > 1 else ''}")
        else:
            print(f"{item.label}: ok")
        for line in [*item.problems, *item.warnings]:
            print(f"  {line}")
    return 1 if failed else 0
