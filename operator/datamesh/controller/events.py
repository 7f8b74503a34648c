"""Kubernetes Events for what a user should see, with spam kept down.

The API server's spam filter allows 25 events per object and then one per five minutes, so repeated
identical events from this operator are dropped locally for a while instead of spent there.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from datamesh.controller.kube import ApiError, Kube

logger = logging.getLogger(__name__)
REPEAT_WINDOW_SECONDS = 300.0


class EventRecorder:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._recent: dict[tuple[str, str, str], float] = {}
        self.instance = os.environ.get("POD_NAME") or os.uname().nodename

    async def record(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        meta = involved.get("metadata") or {}
        key = (meta.get("uid", ""), reason, message)
        now = time.monotonic()
        if now - self._recent.get(key, -REPEAT_WINDOW_SECONDS) < REPEAT_WINDOW_SECONDS:
            return
        self._recent[key] = now
        if len(self._recent) > 10000:
            self._recent = {k: v for k, v in self._recent.items() if now - v < REPEAT_WINDOW_SECONDS}
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        namespace = meta.get("namespace") or "default"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "datamesh-operator"},
            "reportingComponent": "datamesh-operator",
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.kube.create(body)
        except ApiError as error:  # events are best effort; never fail a reconcile over one
            logger.warning("could not post event %s for %s: %s", reason, meta.get("name"), error)
