"""`kubectl datamesh why|graph|consumers`: the questions people ask of a mesh, answered from the cluster.

Why a plugin: `kubectl get dp` shows one product's Ready reason, but "it is not ready because an upstream two hops
away failed its quality checks" needs the graph, and so do "what reads this?" and "what does the mesh look like?".
Installed as the `kubectl-datamesh` console script, which kubectl runs as `kubectl datamesh`.

Everything that decides (upstreams, the cause chain, consumers, rendering) is a pure function over the objects as
plain dicts, exactly as the API server returns them; `_read_mesh` is the only I/O.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datamesh.api.reasons import PRODUCT_SUMMARY_OF, READY

Key = tuple[str, str]
"""(namespace, name) of a DataProduct."""

#: InputsReady reasons that point at an upstream product, whose own cause is then followed.
UPSTREAM_REASONS = frozenset({"UpstreamNotReady", "UpstreamNotFound"})


@dataclass(frozen=True)
class Mesh:
    """Domains' namespaces and the products, by key."""

    namespaces: Mapping[str, str]
    """Domain name -> the namespace its products live in."""
    products: Mapping[Key, dict[str, Any]]

    def namespace_of(self, domain: str) -> str:
        return self.namespaces.get(domain, domain)


def mesh_of(domains: Sequence[Mapping[str, Any]], products: Sequence[dict[str, Any]]) -> Mesh:
    namespaces = {}
    for domain in domains:
        name = str((domain.get("metadata") or {}).get("name", ""))
        namespaces[name] = str((domain.get("spec") or {}).get("namespace") or name)
    by_key = {key_of(p): p for p in products}
    return Mesh(namespaces, by_key)


def key_of(product: Mapping[str, Any]) -> Key:
    metadata = product.get("metadata") or {}
    return (str(metadata.get("namespace", "")), str(metadata.get("name", "")))


def label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def domain_of(product: Mapping[str, Any]) -> str:
    return str((product.get("spec") or {}).get("domain", ""))


def _inputs(product: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = (product.get("spec") or {}).get("inputs") or []
    return [item for item in items if isinstance(item, Mapping)]


def upstreams(product: Mapping[str, Any], mesh: Mesh) -> list[Key]:
    """The products this one reads, resolved as the operator resolves them (datamesh.mesh.resolve): an input's
    domain (default: the reader's) gives the namespace."""
    return [
        (mesh.namespace_of(str(item.get("domain") or domain_of(product))), str(item["product"]))
        for item in _inputs(product)
        if item.get("product")
    ]


def sources(product: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(domain, table) of each raw source the product reads."""
    return [
        (str(item.get("domain") or domain_of(product)), str(item["source"]))
        for item in _inputs(product)
        if item.get("source")
    ]


def computed_consumers(key: Key, mesh: Mesh) -> list[Key]:
    """Products with an input naming `key`, from the graph (for clusters whose operator does not yet write
    status.consumers)."""
    return sorted(other for other, product in mesh.products.items() if key in upstreams(product, mesh))


@dataclass(frozen=True)
class Consumer:
    namespace: str
    name: str
    domain: str
    columns: tuple[str, ...] = ()


def consumers(key: Key, mesh: Mesh) -> tuple[list[Consumer], str]:
    """Who reads the product, and where that came from: the operator's status.consumers when it reports them,
    otherwise the graph of inputs."""
    product = mesh.products.get(key) or {}
    reported = (product.get("status") or {}).get("consumers")
    if isinstance(reported, list):
        found = []
        for entry in reported:
            if not isinstance(entry, Mapping):
                continue
            namespace = str(entry.get("namespace") or mesh.namespace_of(str(entry.get("domain", ""))))
            columns = tuple(str(c) for c in entry.get("columns") or [])
            found.append(Consumer(namespace, str(entry.get("name", "")), str(entry.get("domain", "")), columns))
        return found, "status.consumers"
    computed = [Consumer(k[0], k[1], domain_of(mesh.products[k])) for k in computed_consumers(key, mesh)]
    return computed, "computed from the products' inputs"


def conditions(product: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    items = (product.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in items if isinstance(c, Mapping)}


def first_failing(product: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first condition, in the order the Ready summary consults them, that is not True; Ready itself when only
    it is not; None when the product is Ready."""
    found = conditions(product)
    for type_ in PRODUCT_SUMMARY_OF:
        condition = found.get(type_)
        if condition is not None and condition.get("status") != "True":
            return condition
    ready = found.get(READY)
    if ready is not None and ready.get("status") == "True":
        return None
    return ready or {"type": READY, "status": "Unknown", "reason": "NoStatus",
                     "message": "the operator has not reported on this product yet"}  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One link of a cause chain: a product and the condition that holds it back."""

    key: Key
    type: str
    status: str
    reason: str
    message: str


def is_ready(product: Mapping[str, Any]) -> bool:
    return conditions(product).get(READY, {}).get("status") == "True"


def cause_chain(key: Key, mesh: Mesh) -> list[Step]:
    """Why `key` is not Ready: its first failing condition and, while that condition blames an upstream, the
    upstream's own first failing condition, hop by hop (empty when the product is Ready)."""
    chain: list[Step] = []
    seen: set[Key] = set()
    current: Key | None = key
    while current is not None and current not in seen:
        seen.add(current)
        product = mesh.products.get(current)
        if product is None:
            chain.append(Step(current, "Exists", "False", "NotFound", "no such DataProduct"))
            break
        failing = first_failing(product)
        if failing is None:
            break
        step = Step(current, str(failing.get("type", "")), str(failing.get("status", "")),
                    str(failing.get("reason", "")), str(failing.get("message", "")))  # fmt: skip
        chain.append(step)
        current = None
        if step.type in ("InputsReady", READY) and step.reason in UPSTREAM_REASONS:
            blocked = [
                up for up in upstreams(product, mesh) if up not in mesh.products or not is_ready(mesh.products[up])
            ]
            current = blocked[0] if blocked else None
    return chain


def render_why(key: Key, chain: Sequence[Step]) -> str:
    if not chain:
        return f"{label(key)} is Ready\n"
    lines = []
    for depth, step in enumerate(chain):
        arrow = "" if depth == 0 else "  " * (depth - 1) + "└─ because "
        lines.append(f"{arrow}{label(step.key)}: {step.type}={step.status} ({step.reason})")
        if step.message:
            lines.append("  " * depth + f"   {step.message}")
    return "\n".join(lines) + "\n"


def _state(product: Mapping[str, Any]) -> str:
    suspended = " suspended" if (product.get("spec") or {}).get("suspend") else ""
    ready = conditions(product).get(READY)
    if ready is None:
        return f"no status{suspended}"
    status = "Ready" if ready.get("status") == "True" else f"not ready: {ready.get('reason', '?')}"
    return status + suspended


def _selected(mesh: Mesh, domain: str | None) -> list[Key]:
    keys = sorted(mesh.products, key=lambda k: (domain_of(mesh.products[k]), k))
    if domain is None:
        return keys
    touching = {k for k in keys if domain_of(mesh.products[k]) == domain}
    for k in list(touching):
        touching.update(up for up in upstreams(mesh.products[k], mesh))
        touching.update(computed_consumers(k, mesh))
    return [k for k in keys if k in touching] + sorted(k for k in touching if k not in mesh.products)


def render_graph_text(mesh: Mesh, domain: str | None = None) -> str:
    """Each product with what it reads and what reads it, grouped by domain (DOMAIN: its products and their
    direct neighbours)."""
    lines: list[str] = []
    current = None
    for key in _selected(mesh, domain):
        product = mesh.products.get(key)
        if product is None:
            continue
        if domain_of(product) != current:
            current = domain_of(product)
            lines.append(f"domain {current}")
        lines.append(f"  {label(key)}  [{_state(product)}]")
        for source_domain, table in sources(product):
            lines.append(f"    <- source {table} (domain {source_domain})")
        for up in upstreams(product, mesh):
            missing = "" if up in mesh.products else " (not found)"
            lines.append(f"    <- product {label(up)}{missing}")
        for down in computed_consumers(key, mesh):
            lines.append(f"    -> read by {label(down)}")
    return "\n".join(lines) + "\n" if lines else "no DataProducts\n"


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_graph_dot(mesh: Mesh, domain: str | None = None) -> str:
    """The same graph in Graphviz DOT: products boxed by domain, sources as cylinders, edges from reader to read."""
    keys = _selected(mesh, domain)
    lines = ["digraph mesh {", "  rankdir=LR;", "  node [shape=box];"]
    by_domain: dict[str, list[Key]] = {}
    for key in keys:
        if key in mesh.products:
            by_domain.setdefault(domain_of(mesh.products[key]), []).append(key)
    for name, members in sorted(by_domain.items()):
        lines.append(f"  subgraph {_dot_id('cluster_' + name)} {{")
        lines.append(f"    label={_dot_id(name)};")
        for key in members:
            lines.append(
                f"    {_dot_id(label(key))} [label={_dot_id(label(key) + chr(10) + _state(mesh.products[key]))}];"
            )
        lines.append("  }")
    edges: list[str] = []
    missing: list[Key] = []
    for key in keys:
        product = mesh.products.get(key)
        if product is None:
            continue
        for source_domain, table in sources(product):
            node = f"source:{source_domain}:{table}"
            lines.append(f"  {_dot_id(node)} [shape=cylinder, label={_dot_id(table)}];")
            edges.append(f"  {_dot_id(node)} -> {_dot_id(label(key))};")
        for up in upstreams(product, mesh):
            edges.append(f"  {_dot_id(label(up))} -> {_dot_id(label(key))};")
            if up not in mesh.products and up not in missing:
                missing.append(up)
    for key in missing:
        lines.append(f"  {_dot_id(label(key))} [style=dashed, label={_dot_id(label(key) + chr(10) + 'not found')}];")
    lines += sorted(set(edges), key=edges.index)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_consumers(key: Key, found: Sequence[Consumer], origin: str) -> str:
    if not found:
        return f"no products read {label(key)} ({origin})\n"
    rows = [("NAMESPACE", "NAME", "DOMAIN", "COLUMNS")]
    rows += [(c.namespace, c.name, c.domain, ",".join(c.columns) or "-") for c in found]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["   ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)) for row in rows]
    return "\n".join(lines) + f"\n({len(found)} consumer{'s' if len(found) != 1 else ''}, {origin})\n"


# ------------------------------------------------------------------------------------------------------ I/O


def _read_mesh(args: argparse.Namespace) -> Mesh:
    from datamesh.cli.kubeapi import api_client, list_mesh

    domains, products = list_mesh(api_client(args.kubeconfig, args.context))
    return mesh_of(domains, products)


def _namespace(args: argparse.Namespace) -> str:
    from datamesh.cli.kubeapi import current_namespace

    return str(args.namespace or current_namespace(args.kubeconfig, args.context))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser = argparse.ArgumentParser(prog="kubectl datamesh", description=__doc__.split("\n")[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    why = sub.add_parser("why", parents=[common], help="why a product is not Ready, through its upstreams")
    graph = sub.add_parser("graph", parents=[common], help="the mesh: what each product reads and what reads it")
    readers = sub.add_parser("consumers", parents=[common], help="the products that read a product")
    for command in (why, readers):
        command.add_argument("product", metavar="PRODUCT")
        command.add_argument("-n", "--namespace", help="the product's namespace (default: the context's)")
    graph.add_argument("domain", nargs="?", metavar="DOMAIN", help="only this domain's products and their neighbours")
    graph.add_argument("--format", choices=["text", "dot"], default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        mesh = _read_mesh(args)
        if args.command == "graph":
            render = render_graph_dot if args.format == "dot" else render_graph_text
            sys.stdout.write(render(mesh, args.domain))
            return 0
        key = (_namespace(args), args.product)
        if key not in mesh.products:
            print(f"error: no DataProduct {label(key)}", file=sys.stderr)
            return 1
        if args.command == "why":
            chain = cause_chain(key, mesh)
            sys.stdout.write(render_why(key, chain))
            return 0
        found, origin = consumers(key, mesh)
        sys.stdout.write(render_consumers(key, found, origin))
        return 0
    except Exception as error:  # the kubernetes client's config and API errors: one line, not a traceback
        print(f"error: {getattr(error, 'reason', None) or error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
