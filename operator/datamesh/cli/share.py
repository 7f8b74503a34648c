"""`datamesh share profile PRODUCT --recipient DOMAIN`: issue a Delta Sharing token for a consumer domain and print
the profile file a person hands over to it.

Writes the catalog database directly (whoever holds its credentials administers sharing); refuses when
governance does not let the domain read the product. Every call issues a new token; `--rotate` revokes the
recipient's earlier ones."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from datamesh import settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="share_command", required=True, metavar="SUBCOMMAND")
    profile = sub.add_parser("profile", help="issue a recipient's token and print its profile file (JSON)")
    profile.add_argument("product", metavar="PRODUCT", help="product name, or DOMAIN/NAME")
    profile.add_argument("--recipient", required=True, metavar="DOMAIN", help="the consumer domain")
    profile.add_argument(
        "--endpoint",
        default=None,
        help=f"the sharing endpoint recipients reach (default: ${settings.API_URL.name}/delta-sharing)",
    )
    profile.add_argument("--days", type=float, default=30.0, help="token lifetime in days (default 30)")
    profile.add_argument("--rotate", action="store_true", help="revoke the recipient's earlier tokens")
    profile.add_argument(
        "--catalog-url", default=None, help=f"catalog database (default: ${settings.CATALOG_URL.name})"
    )
    profile.add_argument("--out", default=None, help="write the profile to this file (mode 0600) instead of stdout")


def run(args: argparse.Namespace) -> int:
    import os

    from datamesh.catalog.db import create_catalog_engine, default_catalog_url, migrate, session_factory
    from datamesh.catalog.sharing.profiles import ProfileRefused, issue_profile

    if args.days <= 0:
        print("error: --days must be positive", file=sys.stderr)
        return 2
    endpoint = args.endpoint or settings.API_URL.get().rstrip("/") + "/delta-sharing"
    engine = create_catalog_engine(args.catalog_url or default_catalog_url())
    try:
        migrate(engine)
        with session_factory(engine).begin() as session:
            profile = issue_profile(
                session,
                recipient=args.recipient,
                product=args.product,
                endpoint=endpoint,
                now=datetime.now(UTC),
                lifetime=timedelta(days=args.days),
                rotate=args.rotate,
            )
    except ProfileRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    text = json.dumps(profile.body, indent=2) + "\n"
    if args.out:
        descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    print(f"read it as: delta_sharing.load_as_pandas('<profile file>#{profile.coordinates}')", file=sys.stderr)
    return 0
