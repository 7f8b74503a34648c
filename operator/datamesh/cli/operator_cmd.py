"""`datamesh operator`: run the operator against the current kubeconfig (all namespaces)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", action="append", help="watch only these namespaces (default: all)")
    # kopf's own three peering modes: forced off, required (HA), or detected (neither flag).
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--standalone",
        action="store_true",
        help="never peer, even where kopf's `default` peering object exists (one instance only)",
    )
    peering.add_argument("--peering", default=None, metavar="NAME",
                         help="peer through this kopf peering object (HA: replicas elect one active instance); "
                              "without either flag, kopf peers through `default` when it exists")  # fmt: skip
    parser.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--webhook-port", type=int, help="serve the admission webhook on this port (0: off)")
    parser.add_argument("--webhook-host", help="host name or IP the API server uses to reach the webhook")
    parser.add_argument("--webhook-addr", help="address the webhook listens on (default 127.0.0.1)")
    parser.add_argument("--webhook-cert-dir", help="folder with ca.crt, tls.crt, tls.key (made when missing)")
    parser.add_argument("--metrics-port", type=int, help="Prometheus metrics port (default 9090; 0: off)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="log line format")
    parser.add_argument("--verbose", action="store_true")


def peering_options(standalone: bool, peering: str | None) -> dict[str, Any]:
    """kopf.operator's peering arguments: `standalone` forces no peering, a name makes that peering mandatory,
    neither leaves kopf to detect its `default` peering object (argparse refuses both at once)."""
    if standalone and peering:
        raise ValueError("--standalone and --peering exclude each other")
    if standalone:
        return {"standalone": True, "peering_name": None}
    return {"standalone": None, "peering_name": peering}


def keep_unused_clients_out() -> None:
    """kopf imports the official `kubernetes` client, when installed, only to recognise its objects, which the
    operator never hands it; kopf logs in through our own handler (controller/login.py). Kept out of the operator
    process: ~34 MB less for its whole life (the package stays installed for `datamesh api` and the kubectl
    plugin). Call before kopf is imported."""
    for name in ("kubernetes", "kubernetes_asyncio"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    import os

    keep_unused_clients_out()
    import kopf

    from datamesh import settings

    # Flags win over the environment: the operator's settings (OperatorConfig, built in kopf's startup handler)
    # read DATAMESH_* once at startup.
    for flag, setting in (("webhook_port", settings.WEBHOOK_PORT), ("webhook_host", settings.WEBHOOK_HOST),
                          ("webhook_addr", settings.WEBHOOK_ADDR), ("webhook_cert_dir", settings.WEBHOOK_CERT_DIR),
                          ("metrics_port", settings.METRICS_PORT)):  # fmt: skip
        value = getattr(args, flag)
        if value is not None:
            os.environ[setting.name] = str(value)

    from datamesh.controller.config import OperatorConfig

    conflicts = OperatorConfig().conflicts()
    if conflicts:
        for conflict in conflicts:
            print(f"datamesh operator: {conflict}", file=sys.stderr)
        return 2

    from datamesh.controller import handlers, logs  # importing handlers registers them

    logs.configure(args.log_format, args.verbose, quiet_handlers=handlers.EVENT_HANDLERS)
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace or (),
            **peering_options(args.standalone, args.peering),
            liveness_endpoint=args.liveness,
            # The catalog converges only inside the watched namespaces.
            memo=kopf.Memo({handlers.WATCHED_NAMESPACES: tuple(args.namespace or ())}),
        )
    )
    return 0
