"""`datamesh api`: serve the discovery API (search, product detail, REST outputs, mesh graph and page)."""

from __future__ import annotations

import argparse

from datamesh import settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=settings.API_HOST.get(), help="address to bind")
    parser.add_argument("--port", type=int, default=int(settings.API_PORT.get()), help="port")
    parser.add_argument(
        "--catalog-url",
        default=None,
        help=f"catalog database URL (default: ${settings.CATALOG_URL.name}, else sqlite under "
        f"${settings.STATE_DIR.name} or .datamesh)",
    )
    parser.add_argument(
        "--kubeconfig",
        default=None,
        help="credentials for TokenReviews (default: in-cluster service account, else the current kubeconfig)",
    )
    parser.add_argument("--token-ttl", type=float, default=60.0, help="seconds to cache a token review")
    parser.add_argument("--secure-cookie", action="store_true", help="mark the page's cookie Secure (HTTPS)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from datamesh.catalog.api import ApiSettings, create_app

    settings = ApiSettings(
        catalog_url=args.catalog_url,
        kubeconfig=args.kubeconfig,
        token_ttl=args.token_ttl,
        secure_cookie=args.secure_cookie,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=True)
    return 0
