"""`datamesh catalog search TEXT [--domain D]` and `datamesh catalog show NAME`: query the discovery API.

The API address comes from --url or $DATAMESH_API_URL; the bearer token from --token, $DATAMESH_TOKEN, or the
current kubeconfig user's token when it has one."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from datamesh import settings

DEFAULT_URL = settings.API_URL.default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=None, help=f"discovery API address (default: $DATAMESH_API_URL or {DEFAULT_URL})"
    )
    common.add_argument("--token", default=None, help="bearer token (default: $DATAMESH_TOKEN, else the kubeconfig's)")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    sub = parser.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    search = sub.add_parser("search", parents=[common], help="find products by text, best quality first")
    search.add_argument("text", nargs="?", default=None, metavar="TEXT", help="text in name, description, tags...")
    search.add_argument("--domain", default=None, help="only this domain")
    search.add_argument("--owner", default=None, help="owner contains this")
    search.add_argument("--classification", default=None, help="classification or column label (PERSONAL.*)")
    search.add_argument("--tag", action="append", default=None, help="required tag (repeatable)")
    show = sub.add_parser(
        "show", parents=[common], help="a product's contract, SLA, quality history, freshness and lineage"
    )
    show.add_argument("name", metavar="NAME", help="product name, or NAMESPACE/NAME")


def _named(entries: Any, name: Any, key: str) -> dict[str, Any]:
    """The `key` mapping of the kubeconfig list entry called `name` (contexts, users)."""
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(key), dict):
            found: dict[str, Any] = entry[key]
            return found
    return {}


def kubeconfig_token(env: dict[str, str] | None = None) -> str | None:
    """The token of the current context's user, when the kubeconfig carries one (not for client certificates)."""
    env = dict(os.environ) if env is None else env
    paths = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p] or [str(Path.home() / ".kube" / "config")]
    for path in paths:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        context = _named(loaded.get("contexts"), loaded.get("current-context"), "context")
        user = _named(loaded.get("users"), context.get("user"), "user")
        if user.get("token"):
            return str(user["token"])
        if user.get("tokenFile"):
            try:
                return Path(user["tokenFile"]).read_text().strip()
            except OSError:
                return None
    return None


class ApiError(Exception):
    pass


def _get(url: str, token: str | None, path: str, params: dict[str, Any] | None = None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}{path}", headers=headers, params=params, timeout=30)
    except httpx.HTTPError as error:
        raise ApiError(f"cannot reach the discovery API at {url}: {error}") from error
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ApiError(f"{response.status_code}: {detail}")
    return response.json()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def print_search(items: list[dict[str, Any]]) -> None:
    if not items:
        print("no products found")
        return
    rows = [["NAME", "DOMAIN", "QUALITY", "HEALTH", "SLA", "LAST UPDATED", "OWNER"]]
    for item in items:
        rows.append(
            [
                f"{item['namespace']}/{item['name']}",
                item["domain"],
                _percent(item.get("qualityScore")),
                item.get("health") or "-",
                item.get("slaFreshness") or "-",
                (item.get("lastUpdated") or "-")[:19],
                item["owner"],
            ]
        )
    print(_table(rows))


def print_detail(detail: dict[str, Any]) -> None:
    sla, fresh = detail["sla"], detail["freshness"]
    print(f"{detail['namespace']}/{detail['name']}  ({detail['domain']}, {detail['classification']})")
    print(f"  {detail['description']}")
    print(f"  owner: {detail['owner']}    tags: {', '.join(detail['tags']) or '-'}")
    print(f"  health: {detail['health']}    ready: {detail['ready']}    quality: {_percent(detail['qualityScore'])}")
    print(
        f"  SLA: freshness {sla['freshness']}, quality >= {_percent(sla['qualityScore'])}, availability "
        f"{sla['availability'] or '-'}"
    )
    print(
        f"  freshness: fresh={fresh['fresh']} updated {fresh['dataUpdatedAt'] or '-'} stale after "
        f"{fresh['staleAfter'] or '-'}"
    )
    print(f"  your access: {'read' if detail['readable'] else 'metadata only'} (PII: {detail['piiMode']})")
    print("\nschema:")
    rows = [["COLUMN", "TYPE", "PII", "CLASSIFICATION", "DESCRIPTION"]]
    for column in detail["schema"]:
        rows.append(
            [
                column["name"] + (" *" if column["primaryKey"] else ""),
                column["type"],
                "yes" if column["pii"] else "",
                column["classification"] or "",
                column["description"] or "",
            ]
        )
    print(_table(rows))
    lineage = detail["lineage"]
    print("\ninputs:")
    for item in lineage["inputs"]:
        print(f"  {item['kind']} {item['domain']}/{item['ref']}" + (f" as {item['alias']}" if item["alias"] else ""))
    print("outputs:")
    for output in lineage["outputs"]:
        print(f"  {output['name']} ({output['format']})")
    if lineage["downstream"]:
        print("read by:")
        for reader in lineage["downstream"]:
            print(f"  {reader['namespace']}/{reader['name']}")
    print("\nquality history (newest first):")
    for build in detail["qualityHistory"][:10] or []:
        print(f"  {(build['finishedAt'] or '-')[:19]}  {build['outcome']:<13} {_percent(build['qualityScore'])}")
    if not detail["qualityHistory"]:
        print("  no finished builds yet")


def run(args: argparse.Namespace) -> int:
    url = args.url or settings.API_URL.get()
    token = args.token or settings.TOKEN.get() or kubeconfig_token()
    try:
        if args.catalog_command == "search":
            params: dict[str, Any] = {"q": args.text, "domain": args.domain, "owner": args.owner}
            params.update({"classification": args.classification, "tag": args.tag})
            found = _get(url, token, "/api/v1/products", {k: v for k, v in params.items() if v})
            print(json.dumps(found, indent=2)) if args.json else print_search(found)
        else:
            path = f"/api/v1/products/{args.name}"
            detail = _get(url, token, path)
            print(json.dumps(detail, indent=2)) if args.json else print_detail(detail)
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
