"""A DataProduct's alert rules, as the `PrometheusRule` the Prometheus Operator loads (issue 16).

Why per product and rendered from its spec: the thresholds are the product's own promises (`sla.freshness`,
`sla.qualityScore`), and the rule's labels (`domain`, `owner`, `product`, `namespace`) are what Alertmanager
routes on, so each alert reaches the team that owns the product without a central rule file listing teams.
The object is owned by the product: deleting the product garbage-collects its rules.

Every expression reads the operator's own metrics (controller/metrics.py); tests/monitoring runs them through
`promtool test rules`. Tenant strings reach two languages here, and neither may be broken out of:

- PromQL label matchers: values are written as double-quoted strings with every character outside printable
  ASCII, and `"` and `\\`, escaped (`promql_string`);
- Go templates: Prometheus expands `{{ ... }}` in alert labels and annotations (with functions such as
  `query`), so a tenant string that contains `{` is emitted as a template string constant (`template_text`).
"""

from __future__ import annotations

from typing import Any, Final

from datamesh.api import DataProduct
from datamesh.api.durations import parse_duration

API_VERSION: Final = "monitoring.coreos.com/v1"
KIND: Final = "PrometheusRule"
#: The CRD whose presence turns the rules on (checked by the controller, never assumed).
CRD: Final = "prometheusrules.monitoring.coreos.com"
MANAGED: Final = {"app.kubernetes.io/managed-by": "datamesh-operator"}
LABEL_PRODUCT: Final = "datamesh.dev/product"
LABEL_DOMAIN: Final = "datamesh.dev/domain"

STALE: Final = "DataProductStale"
QUALITY: Final = "DataProductQualityBelowSla"
BUILDS_FAILING: Final = "DataProductBuildsFailing"
CATALOG_SYNC_LOST: Final = "DataProductCatalogSyncLost"
ALERTS: Final = (STALE, QUALITY, BUILDS_FAILING, CATALOG_SYNC_LOST)

#: Failed builds within BUILD_FAILURE_WINDOW that make "failing repeatedly" (while the last build failed).
BUILD_FAILURES: Final = 3
BUILD_FAILURE_WINDOW: Final = "6h"
#: How long a condition must hold before the alert fires: one missed scrape or a catalog blip is no page.
STALE_FOR: Final = "5m"
QUALITY_FOR: Final = "1m"
CATALOG_FOR: Final = "15m"

#: Metrics the expressions read (all registered by controller/metrics.py; tests hold the two lists together).
METRICS: Final = (
    "datamesh_product_data_age_seconds",
    "datamesh_product_fresh",
    "datamesh_product_quality_score",
    "datamesh_product_builds_failed_total",
    "datamesh_product_build_failing",
    "datamesh_product_catalog_synced",
)


def rule_name(product: str) -> str:
    """The PrometheusRule's name: the product's name is a DNS label of at most 40 characters, so this fits."""
    return f"{product}-alerts"


def _go_escape(text: str) -> str:
    """The body of a Go double-quoted string literal (PromQL strings and Go template constants use Go's
    syntax) that decodes to exactly `text`. Anything but printable ASCII is a \\u or \\U escape, so no quote,
    backslash, newline or invisible character from a tenant survives as itself."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF:
            # Go refuses surrogate halves in escapes, and the text would not be valid UTF-8 anyway.
            raise ValueError(f"{text!r} holds a lone surrogate (U+{code:04X}), which is not valid UTF-8")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def promql_string(text: str) -> str:
    """`text` as a PromQL string literal, safe in a label matcher whatever it holds."""
    return f'"{_go_escape(text)}"'


def template_text(text: str) -> str:
    """`text` where Prometheus expands Go templates (alert labels and annotations): as itself when it cannot
    open an action (no `{`), else as a template string constant that prints it verbatim."""
    if "{" not in text:
        return text
    return '{{ "' + _go_escape(text) + '" }}'


def selector(metric: str, namespace: str, product: str) -> str:
    """`metric{namespace="...",product="..."}`: a product is named by its namespace and name."""
    return f"{metric}{{namespace={promql_string(namespace)},product={promql_string(product)}}}"


def _seconds(text: str) -> int:
    return max(1, int(parse_duration(text).total_seconds()))


def _number(value: float) -> str:
    # repr of a float is exact and PromQL reads it (e.g. 0.95, 1.0, 1e-05).
    return repr(float(value))


def _alert(
    name: str, expr: str, for_: str, severity: str, routing: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ != "0m":
        rule["for"] = for_
    rule["labels"] = {**routing, "severity": severity}
    rule["annotations"] = annotations
    return rule


def alert_rules(product: DataProduct) -> list[dict[str, Any]]:
    """The product's alerting rules (the `rules` of one Prometheus rule group)."""
    namespace, name = product.namespace or "", product.name
    spec = product.spec
    routing = {
        "domain": template_text(spec.domain),
        "owner": template_text(spec.owner),
        "product": template_text(name),
        "namespace": template_text(namespace),
    }
    who = template_text(f"{namespace}/{name}")
    owner = template_text(spec.owner)
    describe = f"kubectl -n {template_text(namespace)} describe dataproduct {template_text(name)}"
    sla_seconds = _seconds(spec.sla.freshness)
    minimum = spec.sla.quality_score

    def sel(metric: str) -> str:
        return selector(metric, namespace, name)

    stale = _alert(
        STALE,
        f"{sel('datamesh_product_data_age_seconds')} > {sla_seconds} or {sel('datamesh_product_fresh')} == 0",
        STALE_FOR,
        "critical",
        routing,
        {
            "summary": f"Data product {who} is stale",
            "description": (
                f"The published data of {who} is older than its freshness SLA of "
                f"{template_text(spec.sla.freshness)}, or nothing has been published yet. Owner: {owner}."
            ),
            "runbook": (
                f"{describe}: the Fresh and Built conditions say why (a failing or suspended build, inputs not "
                "ready); `kubectl annotate dataproduct ... datamesh.dev/rebuild=$(date +%s)` rebuilds now."
            ),
        },
    )
    quality = _alert(
        QUALITY,
        f"{sel('datamesh_product_quality_score')} < {_number(minimum)}",
        QUALITY_FOR,
        "warning",
        routing,
        {
            "summary": f"Data product {who}: quality score below its SLA",
            "description": (
                f"The last build of {who} scored {{{{ $value }}}}, below the SLA's qualityScore of "
                f"{_number(minimum)}; that build was not published. Owner: {owner}."
            ),
            "runbook": f"{describe}: status.checks lists each quality check's value and threshold.",
        },
    )
    failing = _alert(
        BUILDS_FAILING,
        f"increase({sel('datamesh_product_builds_failed_total')}[{BUILD_FAILURE_WINDOW}]) >= {BUILD_FAILURES}"
        f" and {sel('datamesh_product_build_failing')} == 1",
        "0m",
        "warning",
        routing,
        {
            "summary": f"Data product {who}: builds failing repeatedly",
            "description": (
                f"At least {BUILD_FAILURES} builds of {who} failed in the last {BUILD_FAILURE_WINDOW}, the latest "
                f"too. Owner: {owner}."
            ),
            "runbook": f"{describe}: the Built condition and status.lastBuild carry the failure's reason and message.",
        },
    )
    catalog = _alert(
        CATALOG_SYNC_LOST,
        f"{sel('datamesh_product_catalog_synced')} == 0",
        CATALOG_FOR,
        "warning",
        routing,
        {
            "summary": f"Data product {who}: catalog entry not synced",
            "description": (
                f"The catalog has not taken {who}'s changes for {CATALOG_FOR}: consumers searching the catalog see "
                f"an outdated entry. Owner: {owner}."
            ),
            "runbook": f"{describe}: the CatalogSynced condition names the catalog database's error.",
        },
    )
    return [stale, quality, failing, catalog]


def owner_reference(product: DataProduct) -> dict[str, Any]:
    """The rule's owner: the product (deleting it garbage-collects the rule; nothing waits on the rule)."""
    return {
        "apiVersion": product.api_version,
        "kind": product.kind,
        "name": product.name,
        "uid": str(product.metadata.get("uid", "")),
        "controller": True,
        "blockOwnerDeletion": False,
    }


def prometheus_rule(product: DataProduct, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The PrometheusRule of `product`. `extra_labels`: labels the cluster's Prometheus selects rules by
    (a kube-prometheus-stack release's `ruleSelector`, e.g. `release: monitoring`)."""
    namespace, name = product.namespace or "", product.name
    labels = {**(extra_labels or {}), **MANAGED, LABEL_PRODUCT: name, LABEL_DOMAIN: product.spec.domain}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": rule_name(name),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(product)],
        },
        "spec": {"groups": [{"name": f"datamesh/{namespace}/{name}", "rules": alert_rules(product)}]},
    }
