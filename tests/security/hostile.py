"""The red team's corpus: manifests a hostile tenant writes, one class of hole at a time.

Each case is built from a valid contract in a test mesh of two domains (`own` and `other`) and breaks exactly
one wall. `expect` lists what the refusal must name (the field, then the construct): every string must appear
in the message of the webhook and of `datamesh validate`. The same corpus serves the admission test, the
offline validation test and the webhook-down test (the reconciler's re-check).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Body = dict[str, Any]
API = "datamesh.dev/v1alpha1"


@dataclass(frozen=True)
class Case:
    id: str
    cls: str
    """The class of hole: sql-command, script-transform, reflection, table-read, nesting, check-expression,
    regex, bounds, location, namespace, secret-literal, python-entry-point, reader-option."""
    body: Body
    expect: tuple[str, ...]
    context: tuple[Body, ...] = field(default_factory=tuple)
    """Other objects the refusal depends on (they must exist in the cluster, or be given to validate)."""

    @property
    def kind(self) -> str:
        return str(self.body["kind"])


@dataclass(frozen=True)
class Mesh:
    """The two domains every case lives in, with their lake folders."""

    own: str
    other: str
    lake: Path

    def domain(self, name: str, **spec: Any) -> Body:
        root = self.lake / name
        body: Body = {
            "apiVersion": API,
            "kind": "Domain",
            "metadata": {"name": name},
            "spec": {
                "owner": f"{name}@example.com",
                "description": f"red-team domain {name}",
                "teamGroups": [f"{name}-team"],
                "storage": {"location": str(root / "gold")},
                "sources": [{"name": "raw.events", "location": str(root / "bronze" / "events"), "format": "parquet"}],
            },
        }
        body["spec"].update(spec)
        return body

    def product(self, name: str = "probe", **spec: Any) -> Body:
        body: Body = {
            "apiVersion": API,
            "kind": "DataProduct",
            "metadata": {"name": name, "namespace": self.own},
            "spec": {
                "domain": self.own,
                "owner": "team@example.com",
                "description": "red-team probe",
                "sla": {"freshness": "1 hour", "qualityScore": 0.9},
                "schema": [{"name": "id", "type": "string", "primaryKey": True}, {"name": "amount", "type": "long"}],
                "inputs": [{"source": "raw.events", "alias": "up"}],
                "transform": {"sql": "SELECT id, amount FROM up"},
                "outputs": [{"name": "table", "format": "delta"}],
                "governance": {"qualityChecks": [{"type": "uniqueness", "column": "id"}]},
            },
        }
        body["spec"].update(spec)
        return body

    def other_product(self) -> Body:
        """A product of the other domain whose table hostile cases aim at."""
        body = self.product("victim")
        body["metadata"]["namespace"] = self.other
        body["spec"]["domain"] = self.other
        return body


def _sql(mesh: Mesh, cls: str, index: int, sql: str, *construct: str) -> Case:
    body = mesh.product(f"{cls}-{index}", transform={"sql": sql})
    return Case(f"{cls}-{index}", cls, body, ("transform.sql", *construct))


def sql_cases(mesh: Mesh) -> list[Case]:
    other_gold = mesh.lake / mesh.other / "gold"
    commands = [
        f"INSERT OVERWRITE DIRECTORY '{other_gold}' USING parquet SELECT id, amount FROM up",
        f"REPLACE TABLE stolen USING delta LOCATION '{other_gold}/victim' AS SELECT id, amount FROM up",
        f"CREATE TABLE t USING parquet LOCATION '{other_gold}' AS SELECT id, amount FROM up",
        "BEGIN DECLARE x INT; SELECT id, amount FROM up; END",
        "CREATE TEMPORARY FUNCTION pwn AS 'Evil' USING JAR '/tmp/evil.jar'",
        "ADD JAR /tmp/evil.jar",
        "SET spark.sql.runSQLOnFiles=true",
        "SELECT id, amount FROM up; DROP TABLE up",
        "EXECUTE IMMEDIATE 'SELECT 1'",
        "MERGE INTO up USING up AS s ON up.id = s.id WHEN MATCHED THEN DELETE",
    ]
    scripts = [
        "SELECT TRANSFORM(id, amount) USING 'sh -c \"cat /etc/passwd\"' AS (id, amount) FROM up",
        "SELECT TRANSFORM(id, amount) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' USING '/bin/cat' AS (id, amount)"
        " FROM up",
        "SELECT * FROM (SELECT TRANSFORM(*) USING 'python3 -c \"import os; os.system(1)\"' FROM up) AS t",
        "WITH x AS (SELECT TRANSFORM(id) USING 'id' AS (id) FROM up) SELECT id, 1 AS amount FROM x",
    ]
    reflection = [
        "SELECT reflect('java.lang.System', 'exit', '0') AS id, amount FROM up",
        "SELECT java_method('java.lang.Thread', 'sleep', 600000L) AS id, amount FROM up",
        "SELECT try_reflect('java.lang.System', 'getenv', 'HOME') AS id, amount FROM up",
        "SELECT CASE WHEN amount > 0 THEN REFLECT('java.lang.System', 'getProperty', 'user.home') END AS id,"
        " amount FROM up",
        "SELECT id, size(transform(array(1), x -> JaVa_MeThOd('java.lang.Runtime', 'getRuntime'))) AS amount FROM up",
        "SELECT id, amount FROM up WHERE id IN (SELECT reflect('java.util.UUID', 'randomUUID'))",
    ]
    reads = [
        f"SELECT id, amount FROM parquet.`{mesh.lake / mesh.other / 'bronze' / 'events'}`",
        f"SELECT id, amount FROM delta.`{other_gold}/victim`",
        "SELECT id, id AS amount FROM range(10)",
        f"SELECT * FROM read_files('{other_gold}')",
        "SELECT id, amount FROM spark_catalog.default.victim",
        "SELECT id, amount FROM up UNION ALL SELECT id, amount FROM victim",
    ]
    nesting = [
        "SELECT " + "(" * 400 + "1" + ")" * 400 + " AS id, 1 AS amount FROM up",
        "SELECT id, amount FROM " + "(SELECT * FROM " * 120 + "up" + ") AS t" * 120,
        "SELECT id, " + " + ".join(["amount"] * 3) + " AS amount FROM up WHERE " + "NOT " * 3000 + "true",
    ]
    cases: list[Case] = []
    for cls, sqls, construct in (
        ("sql-command", commands, ()),
        ("script-transform", scripts, ()),
        ("reflection", reflection, ()),
        ("table-read", reads, ()),
        ("nesting", nesting, ()),
    ):
        cases.extend(_sql(mesh, cls, i, sql, *construct) for i, sql in enumerate(sqls))
    return cases


def check_cases(mesh: Mesh) -> list[Case]:
    expressions = [
        "(SELECT count(*) FROM up) > 0",
        "id IN (SELECT id FROM up)",
        "EXISTS (SELECT 1 FROM up)",
        "reflect('java.lang.System', 'exit', '0') IS NULL",
        "amount > 0) OR (SELECT 1",
        "secret_column > 0",
        "max(amount) > 0",
    ]
    cases = []
    for i, expression in enumerate(expressions):
        checks = [{"type": "sql", "name": "hostile", "expression": expression}]
        body = mesh.product(f"check-{i}", governance={"qualityChecks": checks})
        cases.append(Case(f"check-expression-{i}", "check-expression", body, ("qualityChecks[0].expression",)))
    return cases


def policy(name: str, pattern: str) -> Body:
    return {
        "apiVersion": API,
        "kind": "GovernancePolicy",
        "metadata": {"name": name},
        "spec": {
            "enforcement": "Audit",
            "scope": {"domains": ["redteam-none"]},
            "productRules": [{"name": "names", "namePattern": pattern}],
        },
    }


def regex_cases(mesh: Mesh) -> list[Case]:
    patterns = [r"^(a+)\1$", r"^(?=.*x).*$", r"^.*(?<!-)$", r"^(?P<x>a)(?P=x)$"]
    return [
        Case(f"regex-{i}", "regex", policy(f"{mesh.own}-re-{i}", p), ("namePattern", "RE2"))
        for i, p in enumerate(patterns)
    ]


def bounds_cases(mesh: Mesh) -> list[Case]:
    variants: list[tuple[str, dict[str, Any], str]] = [
        ("freshness", {"sla": {"freshness": "9000 years"}}, "sla.freshness"),
        ("freshness-decimal", {"sla": {"freshness": "99999999999 days"}}, "sla.freshness"),
        ("cron-never", {"schedule": "0 0 30 2 *"}, "schedule"),
        ("cron-leap", {"schedule": "0 0 29 2 *"}, "schedule"),
        ("cron-31-nov", {"schedule": "0 0 31 11 *"}, "schedule"),
        ("timeout", {"compute": {"timeout": "400 days"}}, "compute.timeout"),
        ("cpu", {"compute": {"driver": {"cpu": "99999999999", "memory": "2Gi"}}}, "cpu"),
        ("memory", {"compute": {"driver": {"cpu": "1", "memory": "999999Ti"}}}, "memory"),
        ("retention", {"governance": {"retention": "100000 years"}}, "retention"),
    ]
    return [
        Case(f"bounds-{name}", "bounds", mesh.product(f"bounds-{name}", **spec), (where,))
        for name, spec, where in variants
    ]


def location_cases(mesh: Mesh) -> list[Case]:
    other = mesh.domain(mesh.other)
    victim = mesh.other_product()
    own_root = mesh.lake / mesh.own / "gold"
    other_root = mesh.lake / mesh.other / "gold"
    outputs: list[tuple[str, str, dict[str, Any]]] = [
        ("other-storage", f"{other_root}/stolen", {}),
        ("other-table", f"{other_root}/victim", {}),
        ("other-table-merge", f"{other_root}/victim", {"mode": "merge"}),
        ("own-source", str(mesh.lake / mesh.own / "bronze" / "events"), {}),
        ("dotdot", f"{own_root}/../../{mesh.other}/gold/victim", {}),
        ("dotdot-encoded", f"{own_root}/%2e%2e/%2e%2e/{mesh.other}/gold", {}),
        ("root-itself", str(own_root), {}),
        ("other-scheme", f"s3a://bucket/{mesh.own}/gold/x", {}),
    ]
    cases = []
    for name, location, extra in outputs:
        output = {"name": "table", "format": "delta", "location": location, **extra}
        body = mesh.product(f"loc-{name}", outputs=[output])
        cases.append(Case(f"location-{name}", "location", body, ("location",), (other, victim)))
    domains: list[tuple[str, dict[str, Any]]] = [
        ("storage-equal", {"storage": {"location": str(other_root)}}),
        ("storage-parent", {"storage": {"location": str(mesh.lake / mesh.other)}}),
        ("storage-child", {"storage": {"location": str(other_root / "sub")}}),
        ("source-published", {"sources": [{"name": "raw.stolen", "location": f"{other_root}/victim"}]}),
        ("source-root", {"sources": [{"name": "raw.stolen", "location": str(other_root)}]}),
    ]
    for name, spec in domains:
        body = mesh.domain(f"{mesh.own}-{name}", **spec)
        cases.append(Case(f"domain-{name}", "location", body, ("location",), (other, victim)))
    return cases


def namespace_cases(mesh: Mesh, operator_namespace: str) -> list[Case]:
    other = mesh.domain(mesh.other)
    claims = ["kube-system", "kube-public", "default", "kube-node-lease", operator_namespace, mesh.other]
    cases = []
    for i, claim in enumerate(claims):
        body = mesh.domain(f"{mesh.own}-ns{i}", namespace=claim)
        # A fresh storage root of its own, so only the namespace is wrong.
        body["spec"]["storage"]["location"] = str(mesh.lake / f"{mesh.own}-ns{i}" / "gold")
        body["spec"]["sources"] = []
        cases.append(Case(f"namespace-{i}", "namespace", body, ("namespace", claim), (other,)))
    return cases


def secret_cases(mesh: Mesh) -> list[Case]:
    keys = ["fs.s3a.secret.key", "fs.azure.account.key.acct.dfs.core.windows.net", "password", "sasToken"]
    cases = []
    for i, key in enumerate(keys):
        body = mesh.domain(f"{mesh.own}-sec{i}")
        body["spec"]["storage"]["location"] = str(mesh.lake / f"{mesh.own}-sec{i}" / "gold")
        body["spec"]["sources"][0]["location"] = str(mesh.lake / f"{mesh.own}-sec{i}" / "bronze")
        body["spec"]["sources"][0]["options"] = {key: "hunter2"}
        cases.append(Case(f"secret-literal-{i}", "secret-literal", body, ("options", "secret")))
    return cases


def reader_option_cases(mesh: Mesh) -> list[Case]:
    """Reader options that would change what a source reads, or load a class."""
    variants = [
        ("parquet", {"path": str(mesh.lake / mesh.other / "gold" / "victim")}, "path"),
        ("parquet", {"basePath": str(mesh.lake / mesh.other)}, "basePath"),
        ("delta", {"versionAsOf": "0"}, "versionAsOf"),
        ("json", {"fs.file.impl": "org.example.Evil"}, "fs.file.impl"),
    ]
    cases = []
    for i, (fmt, options, named) in enumerate(variants):
        body = mesh.domain(f"{mesh.own}-opt{i}")
        body["spec"]["storage"]["location"] = str(mesh.lake / f"{mesh.own}-opt{i}" / "gold")
        body["spec"]["sources"][0].update(location=str(mesh.lake / f"{mesh.own}-opt{i}" / "bronze"), format=fmt,
                                          options=options)  # fmt: skip
        cases.append(Case(f"reader-option-{i}", "reader-option", body, ("options", named)))
    return cases


def python_cases(mesh: Mesh) -> list[Case]:
    """No Python transform package is allowed in the test operator's configuration: every entry point is code."""
    entries = ["os:system", "subprocess:run", "builtins:exec", "datamesh.build.__main__:main", "antigravity:fly"]
    return [
        Case(f"python-{i}", "python-entry-point", mesh.product(f"python-{i}", transform={"python": entry}),
             ("transform.python", entry.partition(":")[0]))
        for i, entry in enumerate(entries)
    ]  # fmt: skip


def all_cases(mesh: Mesh, operator_namespace: str) -> list[Case]:
    return [
        *sql_cases(mesh),
        *check_cases(mesh),
        *regex_cases(mesh),
        *bounds_cases(mesh),
        *location_cases(mesh),
        *namespace_cases(mesh, operator_namespace),
        *secret_cases(mesh),
        *python_cases(mesh),
        *reader_option_cases(mesh),
    ]


def copy_of(case: Case) -> Body:
    return copy.deepcopy(case.body)
