"""Reading manifests: YAML documents from files and folders, parsed into API models with readable errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from datamesh.api import API_VERSION, KINDS, DataProduct, Domain, GovernancePolicy

MODELS: dict[str, type[BaseModel]] = {kind.kind: kind.model for kind in KINDS}


@dataclass(frozen=True)
class Document:
    """One YAML document and where it came from."""

    source: str
    index: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def where(self) -> str:
        return f"{self.source}#{self.index}" if self.index else self.source


@dataclass(frozen=True)
class Problem:
    """A validation problem: the field path first, then what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """Every non-empty YAML document in the given files and folders (recursively)."""
    documents = []
    for path in iter_files(paths):
        with path.open(encoding="utf-8") as stream:
            for index, body in enumerate(yaml.safe_load_all(stream)):
                if body is None:
                    continue
                if not isinstance(body, dict):
                    raise ValueError(f"{path}#{index}: a manifest must be a mapping, got {type(body).__name__}")
                documents.append(Document(str(path), index, body))
    return documents


def format_location(loc: tuple[str | int, ...]) -> str:
    """`('spec', 'schema', 1, 'name')` -> `spec.schema[1].name`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after", "function-before", "function-wrap")) or part in (
            "list[str]",
            "str",
        ):
            continue
        else:
            out += f".{part}" if out else part
    return out


def problems_of(error: ValidationError, prefix: str = "") -> list[Problem]:
    problems = []
    for item in error.errors():
        path = format_location(tuple(item["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        message = item["msg"].removeprefix("Value error, ")
        problems.append(Problem(path, message))
    return problems


def parse(body: dict[str, Any]) -> BaseModel:
    """Parse a manifest into its model; raises ValidationError or ValueError for an unknown kind."""
    kind = body.get("kind")
    if body.get("apiVersion") != API_VERSION or kind not in MODELS:
        found = f"{body.get('apiVersion')}/{kind}"
        raise ValueError(f"not a {API_VERSION} Domain, DataProduct or GovernancePolicy: {found}")
    return MODELS[str(kind)].model_validate(body)


def validate_body(body: dict[str, Any]) -> list[Problem]:
    """Every problem of one manifest, field path first; empty when valid."""
    try:
        parse(body)
    except ValidationError as error:
        return problems_of(error)
    except ValueError as error:
        return [Problem("", str(error))]
    except Exception as error:  # a value the models did not foresee: refused, never a crash of the CLI
        return [Problem("", f"cannot be read: {type(error).__name__}: {error}"[:1024])]
    return []


@dataclass
class Mesh:
    """The objects of a set of manifests, by kind."""

    domains: dict[str, Domain]
    products: dict[tuple[str, str], DataProduct]
    policies: dict[str, GovernancePolicy]

    def namespace_of(self, domain: str) -> str:
        found = self.domains.get(domain)
        return found.namespace_name if found else domain

    def find_product(self, ref: str) -> DataProduct:
        """A product by `name` or `namespace/name`."""
        namespace, _, name = ref.rpartition("/")
        matches = [p for (ns, n), p in self.products.items() if n == name and (not namespace or ns == namespace)]
        if len(matches) != 1:
            known = ", ".join(f"{ns}/{n}" for ns, n in self.products) or "none"
            raise LookupError(
                f"{'no' if not matches else 'more than one'} DataProduct {ref!r} in the manifests (known: {known})"
            )
        return matches[0]


def load_mesh(paths: Iterable[str | Path]) -> Mesh:
    """Parse the Domains, DataProducts and GovernancePolicies in the given files (others are ignored)."""
    models = [parse(d.body) for d in load_documents(paths) if d.body.get("apiVersion") == API_VERSION]
    mesh = Mesh({}, {}, {})
    for model in models:
        if isinstance(model, Domain):
            mesh.domains[model.name] = model
        elif isinstance(model, GovernancePolicy):
            mesh.policies[str(model.metadata.get("name", ""))] = model
    # Products go last: a product without metadata.namespace lives in its domain's namespace.
    for model in models:
        if isinstance(model, DataProduct):
            namespace = model.namespace or mesh.namespace_of(model.spec.domain)
            model.metadata["namespace"] = namespace
            mesh.products[(namespace, model.name)] = model
    return mesh
