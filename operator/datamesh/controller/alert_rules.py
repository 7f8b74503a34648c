"""Keeps each DataProduct's PrometheusRule (monitoring/rules.py) applied, when the cluster can hold one.

Why here and not in a kopf handler: the rule follows the product's spec like its other children, so the
product reconcile applies it, and only when what it renders changed (a fingerprint per product), so a status
write costs no extra API call.

Why the rule exists from admission on rather than from the first publish: monitoring then covers a product
before its data does (a product that never publishes goes stale and says so), and the rule, which depends only
on the spec, is created and updated without a build having to run.

The Prometheus Operator's CRD is optional. Whether it is served is asked through discovery (which every user
may read) at the first product reconcile, and again when the CRD is created or deleted (the operator watches
that one CRD: `crd_changed`, which also re-queues every product) or, as a fallback, at most every
RECHECK_SECONDS after a "no". Never per reconcile: while it is absent nothing is applied and nothing fails.
Without the right to apply rules in a namespace (a chart older than its operator), one warning is logged and
applies there pause for RECHECK_SECONDS.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from datamesh.api import DataProduct
from datamesh.controller.kube import ApiError, Kube
from datamesh.monitoring import rules

logger = logging.getLogger("datamesh.controller")
ProductKey = tuple[str, str]
RECHECK_SECONDS = 300.0
_API_VERSION, _PLURAL = rules.API_VERSION, "prometheusrules"


class AlertRules:
    def __init__(
        self,
        kube: Kube,
        *,
        extra_labels: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.extra_labels = dict(extra_labels or {})
        self.clock = clock
        #: Whether the CRD is served: None until asked.
        self._served: bool | None = None
        self._checked_at = 0.0
        #: What was last applied per product (the rendered object), so unchanged rules are not applied again.
        self._applied: dict[ProductKey, str] = {}
        #: After a 403 in a namespace, no apply is tried there before this (clock) time; one warning in all.
        self._refused_until: dict[str, float] = {}
        self._refused = False

    async def available(self) -> bool:
        """Whether PrometheusRules can be applied, asked again only RECHECK_SECONDS after a "no"."""
        now = self.clock()
        if self._served is None or (not self._served and now - self._checked_at >= RECHECK_SECONDS):
            self._served = await self.kube.serves(_API_VERSION, _PLURAL)
            self._checked_at = now
            logger.info("%s %s: product alert rules %s", rules.CRD, *(
                ("is served", "are applied") if self._served else ("is not served", "are skipped")))  # fmt: skip
        return self._served

    def crd_changed(self) -> None:
        """The CRD was created, changed or deleted: ask discovery again, and apply every rule again (a CRD
        deleted and created anew took the rules with it). The caller re-queues the products."""
        self._served = None
        self._applied.clear()

    async def ensure(self, product: DataProduct, *, validated: bool = True) -> None:
        """Apply the product's rule when the CRD is served and the rule changed. Never raises for a missing CRD
        or missing rights (logged once; asked again later); other API errors fail the reconcile as usual.
        `validated`: the product's Validated condition; only then is it in its domain's workspace, where the
        operator may write rules (a product in a wrong namespace gets none)."""
        namespace = product.namespace or ""
        if not validated or self.clock() < self._refused_until.get(namespace, 0.0) or not await self.available():
            return
        body = rules.prometheus_rule(product, self.extra_labels)
        key = (namespace, product.name)
        fingerprint = json.dumps(body, sort_keys=True)
        if self._applied.get(key) == fingerprint:
            return
        try:
            await self.kube.apply(body)
        except ApiError as error:
            if error.not_found:
                # The CRD went away (or the namespace did): ask discovery again before the next apply.
                self._served = None
                return
            if error.status == 403:
                if not self._refused:
                    logger.warning(
                        "may not apply PrometheusRules (grant them in datamesh-operator-workspace): %s", error.message
                    )
                    self._refused = True
                self._refused_until[namespace] = self.clock() + RECHECK_SECONDS
                return
            raise
        self._applied[key] = fingerprint

    def forget(self, key: ProductKey) -> None:
        """The product is gone: its rule goes with it (garbage collection), and so does what we knew of it."""
        self._applied.pop(key, None)
