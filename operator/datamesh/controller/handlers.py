"""The kopf handlers: thin translations of watch events and the Domain finalizer into Runtime calls.

This is the only module that uses kopf's decorators. Run it with `datamesh operator`.
"""

from __future__ import annotations

import functools
import logging
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf

from datamesh.admission import certs as webhook_certs
from datamesh.admission import review
from datamesh.controller import metrics
from datamesh.controller.config import OperatorConfig
from datamesh.controller.credentials import Authenticator
from datamesh.controller.essence import EssenceWhereHandled
from datamesh.controller.kube import Kube, load_credentials
from datamesh.controller.login import Login
from datamesh.controller.runtime import DomainInUse, Runtime
from datamesh.mesh import access
from datamesh.monitoring import rules as alert_rules

GROUP, VERSION = "datamesh.dev", "v1alpha1"
BUILD_JOBS = {"app.kubernetes.io/managed-by": "datamesh-operator"}
#: Objects per page of kopf's initial lists.
LIST_PAGE = 500
#: Key of the operator memo holding the `--namespace` values kopf watches (set by `datamesh operator`).
WATCHED_NAMESPACES = "watched_namespaces"


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo["runtime"]
    return runtime


@functools.cache
def _login() -> Login:
    return Login(Authenticator(load_credentials()))


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    # kopf's watches use the operator's own credentials and renewal rules (controller/login.py).
    return kopf.ConnectionInfo(**await _login().fields())


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any
) -> None:
    # kopf's own bookkeeping lives under our prefix and never in .status (which our CRD schema prunes).
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    # No essence for kinds without change handlers: building one deep-copies every event's whole body.
    settings.persistence.diffbase_storage = EssenceWhereHandled(prefix=GROUP, key="last-handled-configuration")
    # A watch that dies silently makes an operator blind (kopf #585, #957): bound every stream.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    # The initial list (each start, each re-list after an API server restart) in pages: kopf's default is one
    # response with every object, all of it parsed in memory at once (10,000 products at a restart).
    settings.watching.chunk_size = LIST_PAGE
    settings.networking.request_timeout = 60
    settings.posting.level = logging.WARNING
    # Retries of our finalizers back off; permanent failures are status, not infinite retries.
    settings.execution.max_workers = 8
    # kopf runs one worker task per object with pending events. Our handlers only hand keys to the work queue,
    # so a worker has nothing to wait for: it exits at once when idle. (Held for 1 s in a pool of 64, they capped
    # the operator at ~60 new products/s.) The bound keeps a burst of thousands of objects from becoming
    # thousands of tasks at once.
    settings.queueing.worker_limit = 256
    settings.queueing.idle_timeout = 0.05
    config = OperatorConfig()
    settings.peering.priority = config.peering_priority
    if config.webhook_port:
        _serve_admission(settings, config)
    runtime = Runtime(Kube(load_credentials()), config)
    runtime.compliance = access.compliance
    runtime.decide = access.input_access(runtime.cache.world)
    runtime.queue.on_error = lambda key: metrics.RECONCILE_ERRORS.labels(str(key[0])).inc()  # type: ignore[index]
    if config.metrics_port:
        metrics.serve(
            config.metrics_port,
            config.metrics_addr,
            runtime.cache.world,
            lambda: runtime.queue.depth,
            lambda: runtime.events.pending,
        )
    if config.catalog_enabled:
        # Imported only when used: SQLAlchemy and its drivers weigh on the operator's memory.
        from datamesh.catalog import open_catalog
        from datamesh.catalog.inventory import Scope
        from datamesh.controller.catalog_link import CatalogLink, cluster_inventory

        # The namespaces `datamesh operator --namespace` watches (none: all); converge touches no other.
        scope = Scope(tuple(memo.get(WATCHED_NAMESPACES) or ()))
        runtime.catalog = CatalogLink(
            open_catalog(), runtime.cache.world, cluster_inventory(runtime.kube, scope), scope
        )
        runtime.catalog.start(on_recovered=runtime.enqueue_all_products)
    memo["runtime"] = runtime
    runtime.queue.start()
    runtime.events.start()
    logger.info("datamesh operator started with %d reconcile workers", config.workers)


def parse_service(text: str) -> tuple[str, str] | None:
    """`NAMESPACE/NAME` (DATAMESH_WEBHOOK_SERVICE) or None when empty; anything else is refused."""
    if not text:
        return None
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"DATAMESH_WEBHOOK_SERVICE={text!r}: expected NAMESPACE/NAME")
    return namespace, name


class ServiceWebhookServer(kopf.WebhookServer):
    """kopf's webhook server, registered by Service reference when one is given.

    kopf registers `https://HOST:PORT/...`, which the API server must resolve: in most clusters it cannot resolve
    `*.svc` names (it does not use cluster DNS). A `service` reference it resolves itself (kopf supports both)."""

    def __init__(self, *, service: tuple[str, str] | None, **options: Any) -> None:
        super().__init__(**options)
        self.service = service

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for client_config in super().__call__(fn):
            if self.service is not None and "url" in client_config:
                url = urllib.parse.urlsplit(str(client_config.pop("url")))
                namespace, name = self.service
                reference: Any = {"namespace": namespace, "name": name, "port": url.port or 443,
                                  "path": url.path.rstrip("/")}  # fmt: skip
                client_config["service"] = reference
            yield client_config


def _serve_admission(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    certs = webhook_certs.ensure(Path(config.webhook_cert_dir), [config.webhook_host, "localhost"])
    settings.admission.server = ServiceWebhookServer(
        service=parse_service(config.webhook_service),
        addr=config.webhook_addr,
        port=config.webhook_port,
        host=config.webhook_host,
        certfile=str(certs.cert),
        pkeyfile=str(certs.key),
        cafile=str(certs.ca),
    )
    # kopf keeps a ValidatingWebhookConfiguration of this name in sync with the handlers below.
    settings.admission.managed = GROUP


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    runtime = memo.get("runtime")
    if runtime is not None:
        await runtime.queue.stop()
        await runtime.events.stop()
        if runtime.catalog is not None:
            await runtime.catalog.stop()
        await runtime.kube.close()


@kopf.on.event(GROUP, VERSION, "dataproducts")
async def product_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _runtime(memo).observe_product(event.get("type"), dict(event["object"]))


@kopf.on.event(GROUP, VERSION, "domains")
async def domain_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _runtime(memo).observe_domain(event.get("type"), dict(event["object"]))


@kopf.on.event(GROUP, VERSION, "governancepolicies")
async def policy_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _runtime(memo).observe_policy(event.get("type"), dict(event["object"]))


@kopf.on.event("batch", "v1", "jobs", labels=BUILD_JOBS)
async def job_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _runtime(memo).observe_job(event.get("type"), dict(event["object"]))


@kopf.on.event(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", when=lambda name, **_: name == alert_rules.CRD
)
async def alert_rule_crd_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    # Products get their PrometheusRules once the Prometheus Operator's CRD is installed (controller/alert_rules.py).
    _runtime(memo).observe_alert_rule_crd(event.get("type"), dict(event["object"]))


#: kopf's ids of the handlers above: they only hand each watch event to the runtime, so their success is not logged.
EVENT_HANDLERS = ("product_event", "domain_event", "policy_event", "job_event", "alert_rule_crd_event")


# Admission. failurePolicy Ignore (ignore_failures): while the operator is down, applies still go through and
# the reconciler's Validated/Compliant conditions catch what the webhook would have refused; a webhook must
# never make the cluster unusable (kopf docs/admission.rst).
def admit_product(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    runtime = _runtime(memo)
    world = runtime.cache.world
    problems = review.review_product(
        dict(body),
        _old(kwargs),
        world.policies.values(),
        domains=world.domains,
        products=world.products.values(),
        python_modules=runtime.config.python_transform_modules,
    )
    _refuse(problems, "DataProduct")


def admit_domain(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    runtime = _runtime(memo)
    world = runtime.cache.world
    problems = review.review_domain(
        dict(body),
        _old(kwargs),
        world.policies.values(),
        domains=world.domains,
        products=world.products.values(),
        operator_namespace=runtime.config.namespace,
        reserved_namespaces=runtime.config.reserved_namespaces,
    )
    _refuse(problems, "Domain")


def admit_policy(body: kopf.Body, **kwargs: Any) -> None:
    _refuse(review.review_policy(dict(body), _old(kwargs)), "GovernancePolicy")


# kopf refuses to start with admission handlers but no webhook server, so they exist only when the webhook is on
# (the CLI sets DATAMESH_WEBHOOK_PORT before importing this module).
if OperatorConfig().webhook_port:
    for _plural, _handler in (("dataproducts", admit_product), ("domains", admit_domain),
                              ("governancepolicies", admit_policy)):  # fmt: skip
        # The id is the webhook's URL path: RFC 1123 segments (no `_`), as a Service reference's path requires.
        kopf.on.validate(GROUP, VERSION, _plural, id=_handler.__name__.replace("_", "-"),
                         operations=["CREATE", "UPDATE"], ignore_failures=True)(_handler)  # fmt: skip


def _old(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    # kopf passes the previous object of an UPDATE as `old` (absent from its typed protocol).
    old = kwargs.get("old")
    return dict(old) if old else None


def _refuse(problems: list[str], kind: str) -> None:
    if problems:
        raise kopf.AdmissionError(f"{kind} refused by datamesh governance: " + "; ".join(problems), code=422)


# DataProducts have no kopf deletion handler: kopf would put its finalizer (and its last-handled-configuration
# annotation) on every product, two writes each. The few products whose deletion has work left carry the
# operator's own finalizer (runtime.DATA_FINALIZER), handled by the product reconcile.


@kopf.on.delete(GROUP, VERSION, "domains", backoff=10)
async def domain_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await _runtime(memo).finalize_domain(dict(body))
    except DomainInUse as error:
        raise kopf.TemporaryError(str(error), delay=10) from error
