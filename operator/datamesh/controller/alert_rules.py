"""Keeps each DataProduct's PrometheusRule (monitoring/rules.py) applied, when the cluster can hold one.

Why here and not in a kopf handler: the rule follows the product's spec like its other children, so the
product reconcile applies it, and only when what it renders changed (a fingerprint per product), so a status
write costs no extra API call.

Why the rule exists from admission on rather than from the first publish: monitoring then covers a product
before its data does (a product that never publishes goes stale and says so), and the rule, which depends only
on the spec, is created and updated without a build having to run.

Why the rules in the cluster are read once per namespace after a start: the fingerprints are in memory, so a
restarted operator re-applied every product's rule once (10,000 server-side applies under 10,000 products).
The first reconcile in a namespace now lists the operator's rules there (in pages) and takes the fingerprint
of each as the API server holds it, over exactly what an apply sets (name, labels, owner, spec), so an
unchanged rule is not applied, and a rule someone edited or deleted is. Without the right to list rules, each
rule is applied once after a start, as before.

The Prometheus Operator's CRD is optional. Whether it is served is asked through discovery (which every user
may read) at the first product reconcile, and again when the CRD is created, changed or deleted (the operator
watches that one CRD: `crd_event`, whose caller then re-queues every product) or, as a fallback, at most every
RECHECK_SECONDS after a "no". Never per reconcile: while it is absent nothing is applied and nothing fails.
kopf delivers the CRD again at every re-list (each start, each API server restart) and at each status update:
only a new uid or generation, or a deletion, is news (`crd_news`), so an API server restart does not re-apply
every rule. Without the right to apply rules in a namespace (a chart older than its operator), one warning is
logged and applies there pause for RECHECK_SECONDS.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from datamesh.api import DataProduct
from datamesh.controller.kube import ApiError, Kube
from datamesh.monitoring import rules

logger = logging.getLogger("datamesh.controller")
ProductKey = tuple[str, str]
RECHECK_SECONDS = 300.0
_API_VERSION, _PLURAL = rules.API_VERSION, "prometheusrules"
#: Page size of the per-namespace LIST of rules: a namespace of 10,000 products is not one response.
LIST_PAGE = 500
#: The CRD as far as its watch tells: uid, generation (a change of its spec, e.g. the versions it serves) and
#: whether it is Established (discovery serves a new CRD only then).
CrdIdentity = tuple[str, int, bool]


def fingerprint(rule: Mapping[str, Any]) -> str:
    """What an apply of `rule` sets, hashed: name, namespace, labels, owners and spec (the path fixes the kind).
    The same for the body we
    render and for the object the API server returns (which adds uid, resourceVersion, managedFields...), so
    a rule listed after a restart compares with the rule the operator would apply."""
    meta = rule.get("metadata") or {}
    applied = {
        "metadata": {key: meta.get(key) for key in ("name", "namespace", "labels", "ownerReferences")},
        "spec": rule.get("spec"),
    }
    return hashlib.sha256(json.dumps(applied, sort_keys=True).encode()).hexdigest()


def crd_news(known: CrdIdentity | None, seen: CrdIdentity | None, *, first: bool, served: bool | None) -> bool:
    """Whether a watch event of the PrometheusRule CRD changes what may be applied. `known`: the CRD as last
    seen (None: absent); `seen`: as this event shows it (None: deleted); `first`: the first event since the
    start; `served`: what discovery last said (None: not asked). The first event is news only when discovery
    said otherwise already; later ones when the CRD came, went, changed its spec or became Established."""
    if first:
        return served is not None and served != (seen is not None)
    return seen != known


def crd_identity(event_type: str | None, body: Mapping[str, Any]) -> CrdIdentity | None:
    if event_type == "DELETED":
        return None
    meta = body.get("metadata") or {}
    conditions = (body.get("status") or {}).get("conditions") or []
    established = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
    return str(meta.get("uid", "")), int(meta.get("generation") or 0), established


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
        #: The fingerprint of each product's rule as applied or listed, so unchanged rules are not applied again.
        self._applied: dict[ProductKey, str] = {}
        #: Namespaces whose rules this process has listed (or may not list), and a lock per namespace so that
        #: the workers reconciling its products list it once.
        self._listed: set[str] = set()
        self._listing: dict[str, asyncio.Lock] = {}
        self._crd: CrdIdentity | None = None
        self._crd_seen = False
        self._asking = asyncio.Lock()
        #: After a 403 in a namespace, no apply is tried there before this (clock) time; one warning in all.
        self._refused_until: dict[str, float] = {}
        self._refused = False

    async def available(self) -> bool:
        """Whether PrometheusRules can be applied, asked again only RECHECK_SECONDS after a "no". Asked by one
        worker at a time: at a start, every worker asked it at once."""
        if self._served is not None and (self._served or self.clock() - self._checked_at < RECHECK_SECONDS):
            return self._served
        async with self._asking:
            now = self.clock()
            if self._served is None or (not self._served and now - self._checked_at >= RECHECK_SECONDS):
                self._served = await self.kube.serves(_API_VERSION, _PLURAL)
                self._checked_at = now
                logger.info("%s %s: product alert rules %s", rules.CRD, *(
                    ("is served", "are applied") if self._served else ("is not served", "are skipped")))  # fmt: skip
            return bool(self._served)

    def crd_event(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """A watch event of the CRD. True when it is news (see `crd_news`): discovery is asked again and every
        rule is compared again (a CRD deleted and created anew took the rules with it); the caller then
        re-queues the products."""
        seen = crd_identity(event_type, body)
        news = crd_news(self._crd, seen, first=not self._crd_seen, served=self._served)
        self._crd, self._crd_seen = seen, True
        if news:
            self._served = None
            self._applied.clear()
            self._listed.clear()
        return news

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
        wanted = fingerprint(body)
        if key not in self._applied and namespace not in self._listed:
            try:
                await self._list(namespace)
            except ApiError as error:
                self._refusal(namespace, error)
                return
        if self._applied.get(key) == wanted:
            return
        try:
            await self.kube.apply(body)
        except ApiError as error:
            self._refusal(namespace, error)
            return
        self._applied[key] = wanted

    def _refusal(self, namespace: str, error: ApiError) -> None:
        """A missing CRD or missing rights: noted, not raised. Any other error is raised (the reconcile fails)."""
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
        raise error

    async def _list(self, namespace: str) -> None:
        """The fingerprints of the operator's rules in `namespace` as the API server holds them, once per
        namespace and start. Without the right to list (a chart older than this operator), every rule there is
        applied once instead, as before."""
        async with self._listing.setdefault(namespace, asyncio.Lock()):
            if namespace in self._listed:
                return
            path = f"/apis/{_API_VERSION}/namespaces/{namespace}/{_PLURAL}"
            selector = ",".join(f"{k}={v}" for k, v in rules.MANAGED.items())
            found: dict[ProductKey, str] = {}
            token = ""
            while True:
                params = {"labelSelector": selector, "limit": str(LIST_PAGE), **({"continue": token} if token else {})}
                try:
                    page = await self.kube.request("GET", path, params=params) or {}
                except ApiError as error:
                    if error.status != 403:
                        raise
                    logger.info("may not list PrometheusRules in %s: each rule there is applied once", namespace)
                    break
                for item in page.get("items") or []:
                    product = ((item.get("metadata") or {}).get("labels") or {}).get(rules.LABEL_PRODUCT)
                    if product and (item.get("metadata") or {}).get("name") == rules.rule_name(product):
                        found[(namespace, product)] = fingerprint(item)
                token = (page.get("metadata") or {}).get("continue") or ""
                if not token:
                    break
            for key, value in found.items():
                self._applied.setdefault(key, value)
            self._listed.add(namespace)

    def forget(self, key: ProductKey) -> None:
        """The product is gone: its rule goes with it (garbage collection), and so does what we knew of it."""
        self._applied.pop(key, None)
