"""Writes what share_plan.py decided into the recipients' `datamesh-shares` Secrets: the thin I/O half.

One server-side apply per recipient namespace the plan touches, under the product's own field manager, so a
product only ever adds, replaces or removes its own key (see share_plan.py for why)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from datamesh.controller.kube import ApiError
from datamesh.controller.share_plan import SharePlan, shares_secret

logger = logging.getLogger("datamesh.sharing")


class ApplyApi(Protocol):
    """The part of controller.kube.Kube used here."""

    async def apply(self, body: dict[str, Any], *, field_manager: str = ...) -> dict[str, Any]: ...


async def write_share_secrets(kube: ApplyApi, plan: SharePlan, manager: str) -> set[str]:
    """Apply the plan's issued profiles and removed keys; the namespaces where that failed (logged), so that one
    recipient's namespace cannot hold up the producer's reconcile (share_plan.settle). A removal in a namespace
    that is gone (404) is done."""
    profiles: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for revoke in plan.revoke:
        if revoke.remove_key:
            profiles[revoke.namespace] = (revoke.key, None)
    for issue in plan.issue:  # after the removals: a recipient that moved gets its key at the new place
        profiles[issue.namespace] = (issue.key, issue.profile)
    failed: set[str] = set()
    for namespace, (key, profile) in sorted(profiles.items()):
        try:
            await kube.apply(shares_secret(namespace, key, profile), field_manager=manager)
        except ApiError as error:
            if profile is None and error.not_found:
                logger.info("share key %s not removed from namespace %s: the namespace is gone", key, namespace)
                continue
            logger.warning("share key %s not written in namespace %s: %s", key, namespace, error)
            failed.add(namespace)
    return failed
