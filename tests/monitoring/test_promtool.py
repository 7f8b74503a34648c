"""The rendered alert rules, run by Prometheus' own evaluator: `promtool check rules` parses them and
`promtool test rules` feeds synthetic series of the operator's metrics through them, asserting that each alert
fires when it should (after its `for`), not before, and resolves when the condition clears."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from datamesh.api import DataProduct
from datamesh.monitoring import rules

Minutes = Callable[[int], float]


def values(f: Minutes, minutes: int) -> str:
    """A promtool `values` string sampled every minute from minute 0 to `minutes`."""
    return " ".join(repr(float(f(m))) for m in range(minutes + 1))


def expand(text: str, value: float | None = None) -> str:
    """What Prometheus prints for an annotation the renderer wrote: `{{ $value }}` and string constants.
    (Python's unicode_escape decodes the Go escapes independently of the renderer.)"""
    text = re.sub(r'\{\{ "((?:[^"\\]|\\.)*)" \}\}', lambda m: m.group(1).encode().decode("unicode_escape"), text)
    return text.replace("{{ $value }}", repr(value) if value is not None else "")


class Suite:
    """A promtool rule-test file over one product's rendered rules."""

    def __init__(self, product: DataProduct, tmp: Path) -> None:
        self.product = product
        self.rule = rules.prometheus_rule(product)
        self.alerts = {r["alert"]: r for g in self.rule["spec"]["groups"] for r in g["rules"]}
        self.tmp = tmp
        self.tests: list[dict[str, Any]] = []
        self.series_labels = {"domain": product.spec.domain, "namespace": product.namespace or "",
                              "product": product.name}  # fmt: skip

    def series(self, metric: str, f: Minutes, minutes: int, **labels: str) -> dict[str, str]:
        selector = ",".join(f"{k}={rules.promql_string(v)}" for k, v in {**self.series_labels, **labels}.items())
        return {"series": f"{metric}{{{selector}}}", "values": values(f, minutes)}

    def expect(self, alert: str, value: float | None = None) -> dict[str, Any]:
        rule = self.alerts[alert]
        return {
            "exp_labels": {**self.series_labels, **{k: expand(v) for k, v in rule["labels"].items()}},
            "exp_annotations": {k: expand(v, value) for k, v in rule["annotations"].items()},
        }

    def case(self, series: list[dict[str, str]], checks: list[tuple[int, str, list[dict[str, Any]]]]) -> None:
        self.tests.append({
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": f"{m}m", "alertname": a, "exp_alerts": e} for m, a, e in checks],
        })  # fmt: skip

    def run(self, promtool: Path) -> str:
        rule_file = self.tmp / "rules.yaml"
        rule_file.write_text(yaml.safe_dump({"groups": self.rule["spec"]["groups"]}, sort_keys=False))
        test_file = self.tmp / "tests.yaml"
        test_file.write_text(yaml.safe_dump({"rule_files": [rule_file.name], "evaluation_interval": "1m",
                                             "tests": self.tests}, sort_keys=False))  # fmt: skip
        check = subprocess.run([str(promtool), "check", "rules", str(rule_file)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        result = subprocess.run(
            [str(promtool), "test", "rules", str(test_file)], capture_output=True, text=True, cwd=self.tmp
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


def test_check_rules_accepts_the_rendered_rules(promtool: Path, customer_360: DataProduct, tmp_path: Path) -> None:
    out = Suite(customer_360, tmp_path).run(promtool)
    assert "SUCCESS" in out or out == ""


def test_stale_fires_after_the_sla_and_its_for_and_resolves_on_publish(
    promtool: Path, customer_360: DataProduct, tmp_path: Path
) -> None:
    suite = Suite(customer_360, tmp_path)
    # SLA 1 hour: the data is 50 min old at minute 0, ages past 3600 s at minute 11, is republished at minute 21.
    age = suite.series("datamesh_product_data_age_seconds", lambda m: 3000 + 60 * m if m <= 20 else 60 * (m - 21), 40)
    fresh = suite.series("datamesh_product_fresh", lambda m: 0 if 11 <= m <= 20 else 1, 40)
    stale = [suite.expect(rules.STALE)]
    suite.case([age, fresh], [(10, rules.STALE, []), (15, rules.STALE, []), (16, rules.STALE, stale),
                              (20, rules.STALE, stale), (22, rules.STALE, [])])  # fmt: skip
    # Never published: no age series at all, Fresh=False (NoData) from the start.
    never = suite.series("datamesh_product_fresh", lambda m: 0, 20)
    suite.case([never], [(4, rules.STALE, []), (6, rules.STALE, stale)])
    suite.run(promtool)


def test_quality_fires_below_the_sla_score_and_resolves_above_it(
    promtool: Path, customer_360: DataProduct, tmp_path: Path
) -> None:
    suite = Suite(customer_360, tmp_path)
    # qualityScore 0.95: a build scoring exactly that is fine; 0.9 (minutes 11-21) is not; 0.96 resolves.
    score = suite.series("datamesh_product_quality_score", lambda m: 0.95 if m <= 10 else 0.9 if m <= 21 else 0.96, 35)
    low = [suite.expect(rules.QUALITY, 0.9)]
    suite.case([score], [(10, rules.QUALITY, []), (11, rules.QUALITY, []), (13, rules.QUALITY, low),
                         (21, rules.QUALITY, low), (23, rules.QUALITY, [])])  # fmt: skip
    suite.run(promtool)


def test_builds_failing_fires_on_the_third_failure_and_resolves_on_success(
    promtool: Path, customer_360: DataProduct, tmp_path: Path
) -> None:
    suite = Suite(customer_360, tmp_path)
    # Builds fail at minutes 60, 90 and 120; the build at minute 180 succeeds.
    failed = suite.series("datamesh_product_builds_failed_total", lambda m: sum(m >= t for t in (60, 90, 120)), 240)
    failing = suite.series("datamesh_product_build_failing", lambda m: 1 if 60 <= m < 180 else 0, 240)
    fires = [suite.expect(rules.BUILDS_FAILING)]
    checks = [(100, rules.BUILDS_FAILING, []), (125, rules.BUILDS_FAILING, fires),
              (179, rules.BUILDS_FAILING, fires), (185, rules.BUILDS_FAILING, [])]  # fmt: skip
    suite.case([failed, failing], checks)
    # An operator restart (minute 100) resets the counter to 0: Prometheus reads the drop as a reset, so the
    # third failure still counts.
    restarted = suite.series(
        "datamesh_product_builds_failed_total",
        lambda m: sum(m >= t for t in (60, 90)) if m < 100 else int(m >= 120),
        240,
    )
    suite.case([restarted, failing], [(125, rules.BUILDS_FAILING, fires)])
    suite.run(promtool)


def test_catalog_sync_lost_fires_after_fifteen_minutes_and_resolves(
    promtool: Path, customer_360: DataProduct, tmp_path: Path
) -> None:
    suite = Suite(customer_360, tmp_path)
    synced = suite.series("datamesh_product_catalog_synced", lambda m: 0 if 11 <= m <= 40 else 1, 50)
    lost = [suite.expect(rules.CATALOG_SYNC_LOST)]
    suite.case([synced], [(10, rules.CATALOG_SYNC_LOST, []), (25, rules.CATALOG_SYNC_LOST, []),
                          (27, rules.CATALOG_SYNC_LOST, lost), (42, rules.CATALOG_SYNC_LOST, [])])  # fmt: skip
    suite.run(promtool)


def test_hostile_strings_stay_strings_in_matchers_labels_and_annotations(
    promtool: Path, customer_360: DataProduct, tmp_path: Path
) -> None:
    # The model keeps names to DNS labels; the renderer does not rely on it: a namespace and an owner that try
    # to end the matcher, add a selector, open a template action or smuggle a newline stay themselves.
    namespace = 'x"} or vector(1) or up{a="\n\u2028caf\u00e9\\'
    owner = '{{ query "up" }} team"}\U0001f600'
    hostile = customer_360.model_copy(deep=True, update={"metadata": {**customer_360.metadata, "namespace": namespace}})
    hostile.spec.owner = owner
    suite = Suite(hostile, tmp_path)
    expected = suite.expect(rules.QUALITY, 0.5)
    assert expected["exp_labels"]["owner"] == owner and expected["exp_labels"]["namespace"] == namespace
    assert owner in expected["exp_annotations"]["description"]
    low = lambda m: 0.5  # noqa: E731
    target = suite.series("datamesh_product_quality_score", low, 10)
    decoys = [suite.series("datamesh_product_quality_score", low, 10, namespace=near) for near in ("x", namespace[:-1])]
    suite.case([target, *decoys], [(5, rules.QUALITY, [expected])])
    suite.run(promtool)
