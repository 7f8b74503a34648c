"""A corpus of malformed and hostile DataProduct/Domain manifests (at least 100), built as mutations of a
valid contract so each case breaks exactly one thing. Every case must be refused at admission or land in a
clear failing condition; none may crash the operator or touch another product."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Body = dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    body: Body
    must_reject: bool = False
    """True where admission (schema, CEL or webhook) has to refuse it, not just a condition."""
    reason: str | None = None
    """The failing condition reason expected when it is admitted."""


def valid_product(namespace: str, name: str = "probe") -> Body:
    """A valid contract whose upstream never exists: admitted variants stop at InputsReady, no Spark needed."""
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "domain": namespace,
            "owner": "team@example.com",
            "description": "corpus probe",
            "sla": {"freshness": "1 hour", "qualityScore": 0.9},
            "schema": [{"name": "id", "type": "string", "primaryKey": True}, {"name": "amount", "type": "long"}],
            "inputs": [{"product": "never-published", "alias": "up"}],
            "transform": {"sql": "SELECT id, amount FROM up"},
            "outputs": [{"name": "table", "format": "delta"}],
            "governance": {"qualityChecks": [{"type": "uniqueness", "column": "id"}]},
        },
    }


def _mutated(namespace: str, index: int, mutate: Callable[[Body], Any]) -> Body:
    body = copy.deepcopy(valid_product(namespace, f"bad-{index:03d}"))
    mutate(body)
    return body


def _set(path: str, value: Any) -> Callable[[Body], None]:
    def apply(body: Body) -> None:
        node: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _drop(path: str) -> Callable[[Body], None]:
    def apply(body: Body) -> None:
        node: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node.pop(parts[-1])

    return apply


def _check(check: dict[str, Any]) -> Callable[[Body], None]:
    return lambda b: b["spec"]["governance"]["qualityChecks"].append(check)


REJECT: list[tuple[str, Callable[[Body], Any]]] = [
    # wrong types
    ("type-owner-number", _set("spec.owner", 42)),
    ("type-sla-string", _set("spec.sla", "fast")),
    ("type-quality-string", _set("spec.sla.qualityScore", "high")),
    ("type-schema-map", _set("spec.schema", {"id": "string"})),
    ("type-inputs-string", _set("spec.inputs", "everything")),
    ("type-column-name-list", _set("spec.schema.0.name", ["id"])),
    ("type-pii-string", _set("spec.schema.0.pii", "maybe")),
    ("type-outputs-map", _set("spec.outputs", {"name": "t"})),
    ("type-suspend-string", _set("spec.suspend", "yes please")),
    ("type-tags-number", _set("spec.tags", 7)),
    ("type-transform-list", _set("spec.transform", ["SELECT 1"])),
    ("type-checks-map", _set("spec.governance.qualityChecks", {"type": "uniqueness"})),
    ("type-executors-string", _set("spec.compute", {"executors": "many"})),
    ("type-threshold-string", _set("spec.governance.qualityChecks.0.threshold", "all")),
    ("type-spec-list", _set("spec", [1, 2, 3])),
    ("type-spec-null", _set("spec", None)),
    # missing fields
    ("missing-domain", _drop("spec.domain")),
    ("missing-owner", _drop("spec.owner")),
    ("missing-description", _drop("spec.description")),
    ("missing-sla", _drop("spec.sla")),
    ("missing-freshness", _drop("spec.sla.freshness")),
    ("missing-schema", _drop("spec.schema")),
    ("empty-schema", _set("spec.schema", [])),
    ("missing-inputs", _drop("spec.inputs")),
    ("empty-inputs", _set("spec.inputs", [])),
    ("missing-outputs", _drop("spec.outputs")),
    ("missing-column-type", _drop("spec.schema.1.type")),
    ("missing-output-format", _drop("spec.outputs.0.format")),
    ("input-neither", _set("spec.inputs.0", {"alias": "up"})),
    ("input-both", _set("spec.inputs.0", {"product": "a", "source": "b.c"})),
    ("transform-both", _set("spec.transform", {"sql": "SELECT 1", "python": "m:f"})),
    ("transform-empty", _set("spec.transform", {})),
    # giant strings
    ("giant-description", _set("spec.description", "d" * 5000)),
    ("giant-owner", _set("spec.owner", "o" * 300)),
    ("giant-sql", _set("spec.transform.sql", "SELECT id, amount FROM up -- " + "x" * 70000)),
    ("giant-column-name", _set("spec.schema.0.name", "c" * 200)),
    ("giant-tag", _set("spec.tags", ["t" * 100])),
    ("giant-check-expression", _check({"type": "sql", "expression": "amount > " + "9" * 9000})),
    ("too-many-inputs", _set("spec.inputs", [{"product": f"p{i}"} for i in range(60)])),
    ("too-many-outputs", _set("spec.outputs", [{"name": f"o{i}", "format": "rest"} for i in range(11)])),
    # unicode where identifiers are expected
    ("unicode-column", _set("spec.schema.0.name", "kundennummer_ü")),
    ("unicode-domain", _set("spec.domain", "verkäufe")),
    ("emoji-alias", _set("spec.inputs.0.alias", "up🚀")),
    ("rtl-classification", _set("spec.schema.0.classification", "PERSONAL.\u202eLIAME")),
    ("zero-width-source", _set("spec.inputs.0", {"source": "bronze.\u200bcrm.customers"})),
    # hostile SQL
    ("sql-drop", _set("spec.transform.sql", "DROP TABLE up")),
    ("sql-insert", _set("spec.transform.sql", "INSERT INTO up SELECT 'x', 1")),
    ("sql-two-statements", _set("spec.transform.sql", "SELECT id, amount FROM up; DROP TABLE up")),
    ("sql-read-file", _set("spec.transform.sql", "SELECT * FROM parquet.`/etc/passwd`")),
    ("sql-read-json-file", _set("spec.transform.sql", "SELECT * FROM json.`/var/run/secrets/token`")),
    ("sql-read-other-table", _set("spec.transform.sql", "SELECT id, amount FROM gold_sales.customer_360")),
    (
        "sql-subquery-other",
        _set("spec.transform.sql", "SELECT id, (SELECT max(amount) FROM secrets) AS amount FROM up"),
    ),
    ("sql-table-function", _set("spec.transform.sql", "SELECT * FROM read_files('/data')")),
    ("sql-range", _set("spec.transform.sql", "SELECT CAST(id AS STRING) AS id, id AS amount FROM range(10)")),
    ("sql-create", _set("spec.transform.sql", "CREATE TABLE t AS SELECT * FROM up")),
    ("sql-set", _set("spec.transform.sql", "SET spark.sql.runSQLOnFiles=true")),
    ("python-path-traversal", _set("spec.transform", {"python": "../../etc:passwd"})),
    # schedules, durations, percentages
    ("cron-words", _set("spec.schedule", "every hour")),
    ("cron-out-of-range", _set("spec.schedule", "61 * * * *")),
    ("cron-too-few-fields", _set("spec.schedule", "* * *")),
    ("freshness-words", _set("spec.sla.freshness", "soon")),
    ("freshness-negative", _set("spec.sla.freshness", "-1h")),
    ("freshness-zero", _set("spec.sla.freshness", "0s")),
    ("freshness-unknown-unit", _set("spec.sla.freshness", "3 fortnights")),
    ("availability-over-100", _set("spec.sla.availability", "150%")),
    ("availability-no-percent", _set("spec.sla.availability", "99.9")),
    ("retention-words", _set("spec.governance", {"retention": "forever"})),
    ("timeout-garbage", _set("spec.compute", {"timeout": "ages"})),
    # thresholds and bounds
    ("threshold-zero", _set("spec.governance.qualityChecks.0.threshold", 0)),
    ("threshold-negative", _set("spec.governance.qualityChecks.0.threshold", -0.5)),
    ("threshold-above-one", _set("spec.governance.qualityChecks.0.threshold", 1.5)),
    ("quality-score-negative", _set("spec.sla.qualityScore", -0.1)),
    ("quality-score-above-one", _set("spec.sla.qualityScore", 2)),
    ("executors-negative", _set("spec.compute", {"executors": -1})),
    ("executors-huge", _set("spec.compute", {"executors": 100000})),
    ("cpu-garbage", _set("spec.compute", {"driver": {"cpu": "lots"}})),
    # duplicates
    ("duplicate-column", lambda b: b["spec"]["schema"].append({"name": "id", "type": "string"})),
    ("duplicate-column-case", lambda b: b["spec"]["schema"].append({"name": "ID", "type": "string"})),
    ("duplicate-input", lambda b: b["spec"]["inputs"].append({"product": "never-published", "alias": "up"})),
    ("duplicate-input-case", lambda b: b["spec"]["inputs"].append({"product": "other", "alias": "UP"})),
    # quality-check shape
    ("check-unknown-type", _check({"type": "vibes"})),
    ("check-uniqueness-no-column", _check({"type": "uniqueness"})),
    ("check-range-no-bounds", _check({"type": "range", "column": "amount"})),
    ("check-format-no-pattern", _check({"type": "format", "column": "id"})),
    ("check-accepted-no-values", _check({"type": "acceptedValues", "column": "id"})),
    ("check-freshness-no-age", _check({"type": "freshness", "column": "amount"})),
    ("check-sql-no-expression", _check({"type": "sql"})),
    ("check-unknown-column", _check({"type": "notNull", "column": "ghost"})),
    ("check-bad-severity", _check({"type": "notNull", "column": "id", "severity": "panic"})),
    # other fields
    ("unknown-field", _set("spec.colour", "blue")),
    ("unknown-nested-field", _set("spec.sla.latency", "1ms")),
    ("unknown-classification", _set("spec.classification", "top-secret")),
    ("lowercase-column-classification", _set("spec.schema.0.classification", "personal.email")),
    ("bad-spark-type", _set("spec.schema.1.type", "varchar(10)")),
    ("bad-version", _set("spec.version", "v1")),
    ("bad-deletion-policy", _set("spec.deletionPolicy", "Shred")),
    ("bad-access-policy", _set("spec.governance", {"accessPolicy": "everyone"})),
    ("empty-grant", _set("spec.governance", {"grants": [{}]})),
    (
        "merge-without-key",
        lambda b: (b["spec"]["outputs"][0].update(mode="merge"), b["spec"]["schema"][0].pop("primaryKey")),
    ),  # fmt: skip
    ("mode-on-rest-output", _set("spec.outputs", [{"name": "api", "format": "rest", "mode": "merge"}])),
    # Kubernetes naming rules
    ("name-uppercase", _set("metadata.name", "Customer360")),
    ("name-underscore", _set("metadata.name", "customer_360")),
    ("name-too-long", _set("metadata.name", "p" * 41)),
    ("name-dots", _set("metadata.name", "a.b.c")),
    ("name-leading-dash", _set("metadata.name", "-abc")),
    ("domain-uppercase", _set("spec.domain", "Sales")),
]

# Admitted by the schema, refused or failed by the operator with a named reason.
ADMITTED: list[tuple[str, Callable[[Body], Any], str]] = [
    ("input-from-missing-domain", _set("spec.inputs.0", {"product": "x", "domain": "no-such-domain", "alias": "up"}),
     "DomainNotFound"),
    ("source-missing", _set("spec.inputs.0", {"source": "bronze.no.such", "alias": "up"}), "SourceNotFound"),
    ("product-of-missing-domain", _set("spec.domain", "no-such-domain"), "DomainNotFound"),
    ("unicode-description", _set("spec.description", "Kundenübersicht 顧客 🚀 \u202e"), "UpstreamNotFound"),
    ("no-transform", _drop("spec.transform"), "UpstreamNotFound"),
]  # fmt: skip


def corpus(namespace: str) -> list[Case]:
    cases = [
        Case(case_id, _mutated(namespace, i, mutate), must_reject=True) for i, (case_id, mutate) in enumerate(REJECT)
    ]
    offset = len(cases)
    for i, (case_id, mutate, reason) in enumerate(ADMITTED):
        cases.append(Case(case_id, _mutated(namespace, offset + i, mutate), reason=reason))
    # Graph problems need more than one object.
    a, b = valid_product(namespace, "cycle-a"), valid_product(namespace, "cycle-b")
    a["spec"]["inputs"] = [{"product": "cycle-b", "alias": "up"}]
    b["spec"]["inputs"] = [{"product": "cycle-a", "alias": "up"}]
    selfish = valid_product(namespace, "self-input")
    selfish["spec"]["inputs"] = [{"product": "self-input", "alias": "up"}]
    cases += [Case("cycle-a", a, reason="Cycle"), Case("cycle-b", b, reason="Cycle"),
              Case("self-input", selfish, reason="Cycle")]  # fmt: skip
    # Structurally broken documents.
    wrong_group = valid_product(namespace, "wrong-group")
    wrong_group["apiVersion"] = "datamesh.azure.com/v1"
    cases.append(Case("wrong-api-group", wrong_group, must_reject=True))
    not_a_product = valid_product(namespace, "not-a-product")
    not_a_product["kind"] = "DataProducts"
    cases.append(Case("wrong-kind", not_a_product, must_reject=True))
    return cases


def bad_domains(prefix: str) -> list[Case]:
    base = {"apiVersion": "datamesh.dev/v1alpha1", "kind": "Domain",
            "spec": {"owner": "o@example.com", "description": "d", "storage": {"location": "/tmp/x"}}}  # fmt: skip
    variants: list[tuple[str, Callable[[Body], Any]]] = [
        ("domain-name-uppercase", _set("metadata.name", f"{prefix}-Upper")),
        ("domain-namespace-invalid", _set("spec.namespace", "Not_A_Namespace")),
        ("domain-no-storage", _drop("spec.storage")),
        ("domain-volume-on-uri", _set("spec.storage", {"location": "s3a://bucket/x", "volume": {"size": "1Gi"}})),
        ("domain-bad-source-format", _set("spec.sources", [{"name": "a.b", "location": "/x", "format": "xlsx"}])),
        ("domain-bad-source-name", _set("spec.sources", [{"name": "a b c", "location": "/x"}])),
        (
            "domain-schema-on-parquet",
            _set("spec.sources", [{"name": "a.b", "location": "/x", "format": "parquet", "schema": "a INT"}]),
        ),
        (
            "domain-schema-on-default-delta",
            _set("spec.sources", [{"name": "a.b", "location": "/x", "schema": "a INT"}]),
        ),
        ("domain-quota-garbage", _set("spec.compute", {"quota": {"cpu": "infinite"}})),
        ("domain-no-owner", _drop("spec.owner")),
    ]
    cases = []
    for i, (case_id, mutate) in enumerate(variants):
        body = copy.deepcopy(base)
        body["metadata"] = {"name": f"{prefix}-{i}"}
        mutate(body)
        cases.append(Case(case_id, body, must_reject=True))
    return cases
