"""DataProduct <-> Open Data Contract Standard (ODCS) v3 documents, both ways, without loss.

Why: ODCS is what catalogs and contract tools (datacontract-cli, Entropy Data, DataHub) read and write. A product
exported here can be linted, diffed and published by them, and a contract written with them can become a product.

What ODCS can say is said natively: name, version, domain, description, owner (team), the published table as one
schema object whose properties carry logical and physical types, `required`, `primaryKey`, `classification`;
quality rules as ODCS quality entries; freshness (`latency`), availability, quality score and retention as SLA
properties; outputs as servers (with the Delta location when it is known). What ODCS has no place for (inputs,
transform, access policy and grants, compute, schedule, ...) travels in `customProperties` under `datamesh.dev/...`
keys, and each exported quality rule carries its exact form in `datamesh.dev/check` (ODCS's operators cannot hold
every threshold exactly). So `from_odcs(to_odcs(p)) == contract_of(p)` for every valid product.

Imported documents are hostile: the text is size-, depth- and alias-limited before it is parsed, the document is
validated with the `open-data-contract-standard` package's models, the result with our own models, and every
refusal names the ODCS field (and the DataProduct field it became). What cannot be translated is refused, not
guessed: an unknown `datamesh.dev/` key, a quality rule with no datamesh equivalent, a server we cannot publish to.
Rules and SLA entries that are prose only (type `text`, `timeOfAvailability`, ...) are not enforceable anywhere;
they are left out with a note. `roles` are derived from the access policy and grants on export; a document that
carries our governance and different roles is refused (which one was meant is unclear); roles alone grant nothing
(a product without `datamesh.dev/governance` gets the default, domain-internal access).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from open_data_contract_standard.model import OpenDataContractStandard
from pydantic import ValidationError

from datamesh.api import API_VERSION, DataProduct
from datamesh.api.common import DNS_LABEL_PATTERN
from datamesh.api.dataproduct import SPARK_TYPE_PATTERN, Column, Output, QualityCheck
from datamesh.manifests import Problem, format_location, problems_of

ODCS_API_VERSION = "v3.2.0"
ODCS_KIND = "DataContract"
VENDOR = "datamesh.dev/"
_ODCS_VERSION = re.compile(r"^v3\.[0-9]+\.[0-9]+$")

#: Limits on an imported document: far above any real contract (ours are a few KiB), far below harm.
MAX_DOCUMENT_BYTES = 1_048_576
MAX_DEPTH = 32
MAX_NODES = 100_000

#: Spec fields with no ODCS home, carried as `datamesh.dev/<field>` custom properties.
_SPEC_EXTRAS = ("classification", "inputs", "transform", "compute", "schedule", "suspend", "deletionPolicy")
#: Governance fields with no ODCS home (retention is an SLA property, quality checks are quality rules).
_GOVERNANCE_EXTRAS = ("accessPolicy", "grants")
_METADATA_KEYS = ("namespace", "labels", "annotations")
_TOP_KEYS = frozenset(
    {f"{VENDOR}{k}" for k in (*_SPEC_EXTRAS, *_METADATA_KEYS, "governance", "versionUnset")}
)  # fmt: skip
#: Annotations that describe the object's last apply, not the contract.
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

_LOGICAL_TYPES = {
    "string": "string", "binary": "string", "boolean": "boolean", "date": "date",
    "timestamp": "timestamp", "timestamp_ntz": "timestamp",
    "byte": "integer", "tinyint": "integer", "short": "integer", "smallint": "integer",
    "int": "integer", "integer": "integer", "long": "integer", "bigint": "integer",
    "float": "number", "double": "number", "decimal": "number",
}  # fmt: skip
#: A foreign property's Spark type when its physicalType is not one: from its logicalType.
_SPARK_OF_LOGICAL = {
    "string": "string", "boolean": "boolean", "date": "date", "timestamp": "timestamp",
    "integer": "long", "number": "double",
}  # fmt: skip
_DIMENSIONS = {
    "completeness": "completeness", "notNull": "completeness", "rowCount": "completeness",
    "uniqueness": "uniqueness", "acceptedValues": "conformity", "format": "conformity",
    "range": "accuracy", "sql": "accuracy", "freshness": "timeliness",
}  # fmt: skip
_SIMPLE_DURATION = re.compile(r"^([0-9]+) ([a-z]+)$")


class OdcsRefused(ValueError):
    """The document cannot become a DataProduct; `problems` name the fields."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _refuse(path: str, message: str) -> OdcsRefused:
    return OdcsRefused([Problem(path, message)])


@dataclass
class Imported:
    """A product made from an ODCS document, and what of the document it does not carry."""

    product: DataProduct
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------------ export


def contract_of(product: DataProduct) -> DataProduct:
    """The part of a product a contract describes: spec, name, namespace, labels and annotations (no status, no
    server-side metadata such as uid or resourceVersion). This is what an ODCS round trip preserves."""
    metadata: dict[str, Any] = {"name": product.metadata.get("name")}
    for key in _METADATA_KEYS:
        value = product.metadata.get(key)
        if key == "annotations" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _DROPPED_ANNOTATIONS} or None
        if value:
            metadata[key] = value
    return DataProduct(metadata=metadata, spec=product.spec.model_copy(deep=True))


def table_name(product: DataProduct) -> str:
    return product.name.replace("-", "_")


def _custom(key: str, value: Any) -> dict[str, Any]:
    return {"property": f"{VENDOR}{key}", "value": value}


def _duration_sla(text: str) -> dict[str, Any]:
    """The text "1 hour" as value 1, unit hour (how ODCS writes it); anything else ("1h30m") as the text itself."""
    match = _SIMPLE_DURATION.match(text)
    return {"value": int(match.group(1)), "unit": match.group(2)} if match else {"value": text}


def _percent_failing(threshold: float | None) -> float:
    return round((1 - (1.0 if threshold is None else threshold)) * 100, 9)


def _tolerance(check: QualityCheck) -> dict[str, Any]:
    """The ODCS operator for "at most this share of rows may fail"."""
    if check.threshold is None or check.threshold == 1:
        return {"mustBe": 0}
    return {"unit": "percent", "mustBeLessOrEqualTo": _percent_failing(check.threshold)}


def _quality(check: QualityCheck, order: int, table: str) -> dict[str, Any]:
    """One quality check as an ODCS quality rule a reader (or datacontract-cli) understands, plus its exact form."""
    rule: dict[str, Any] = {"name": check.display_name, "dimension": _DIMENSIONS[check.type]}
    if check.type == "completeness":  # ODCS counts nulls per property only; ours spans the required columns
        share = 0.99 if check.threshold is None else check.threshold
        columns = ", ".join(check.columns) if check.columns else "every required column"
        rule |= {"type": "text", "description": f"at least {share:.2%} of rows have {columns} filled"}
    elif check.type in ("notNull", "uniqueness"):
        rule |= {"type": "library", "metric": "nullValues" if check.type == "notNull" else "duplicateValues"}
        if check.columns is not None:
            rule["arguments"] = {"properties": check.columns}
        rule |= _tolerance(check)
    elif check.type == "acceptedValues":
        rule |= {"type": "library", "metric": "invalidValues", "arguments": {"validValues": check.values}}
        rule |= _tolerance(check)
    elif check.type == "format":
        rule |= {"type": "library", "metric": "invalidValues", "arguments": {"pattern": check.pattern}}
        rule |= _tolerance(check)
    elif check.type == "rowCount":
        rule |= {"type": "library", "metric": "rowCount", **_bounds(check.min, check.max)}
    elif check.type == "range":
        low = f"{check.column} < {check.min}" if check.min is not None else None
        high = f"{check.column} > {check.max}" if check.max is not None else None
        where = " OR ".join(part for part in (low, high) if part)
        rule |= {"type": "sql", "query": f"SELECT COUNT(*) FROM {table} WHERE {where}", "mustBe": 0}
    elif check.type == "sql":
        rule |= {"type": "sql", "query": f"SELECT COUNT(*) FROM {table} WHERE NOT ({check.expression})"}
        rule |= _tolerance(check) if check.threshold is not None and check.threshold < 1 else {"mustBe": 0}
        if "unit" in rule:  # a share of rows cannot be compared with a count; say it in words instead
            rule = {k: v for k, v in rule.items() if k not in ("unit", "mustBeLessOrEqualTo", "query")}
            rule |= {
                "type": "text",
                "description": f"at least {check.threshold:.2%} of rows satisfy {check.expression}",
            }
    else:  # freshness: ODCS has no metric for the age of the newest row
        rule |= {"type": "text", "description": f"the newest {check.column} is at most {check.max_age} old"}
    rule["severity"] = "warning" if check.severity == "warn" else "error"
    exact = check.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
    rule["customProperties"] = [_custom("check", exact), _custom("order", order)]
    return rule


def _bounds(low: float | None, high: float | None) -> dict[str, Any]:
    if low is not None and high is not None:
        return {"mustBe": low} if low == high else {"mustBeBetween": [low, high]}
    if low is not None:
        return {"mustBeGreaterOrEqualTo": low}
    return {"mustBeLessOrEqualTo": high}


def _property(column: Column, position: int | None, quality: list[dict[str, Any]]) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": column.name,
        "logicalType": _LOGICAL_TYPES[column.type.split("(")[0]],
        "physicalType": column.type,
        "required": not column.nullable,
    }
    if column.description is not None:
        prop["description"] = column.description
    if column.primary_key:
        prop |= {"primaryKey": True, "primaryKeyPosition": position}
    if column.classification is not None:
        prop["classification"] = column.classification
    if column.pii or column.classification is not None:
        prop["customProperties"] = [_custom("pii", column.pii)]
    if quality:
        prop["quality"] = quality
    return prop


def _server(output: Output, resolved: str | None) -> dict[str, Any]:
    server: dict[str, Any] = {"server": output.name, "format": output.format}
    custom: list[dict[str, Any]] = []
    location = output.location or resolved
    if output.format == "rest":
        if output.endpoint is not None:  # an ODCS api server has no format: api says rest already
            server = {"server": output.name, "type": "api", "location": output.endpoint}
        else:
            server["type"] = "custom"
        if output.location is not None:
            custom.append(_custom("location", output.location))
    elif location is None:
        server["type"] = "custom"
    else:
        scheme = location.split("://", 1)[0].lower() if "://" in location else ""
        kind = {"s3": "s3", "s3a": "s3", "abfss": "azure", "az": "azure", "": "local"}.get(scheme, "custom")
        server |= {"type": kind, "path" if kind == "local" else "location": location}
        if output.location is None:  # the operator's choice, shown to readers; import leaves it to the operator
            custom.append(_custom("resolvedLocation", True))
    if output.format == "delta" and output.mode is not None:
        custom.append(_custom("mode", output.mode))
    if custom:
        server["customProperties"] = custom
    return server


def roles_of(product: DataProduct) -> list[dict[str, Any]]:
    """Who may read, as ODCS roles (for readers; import takes access from `datamesh.dev/governance`)."""
    governance = product.spec.governance
    readers = {
        "domain-internal": f"domain:{product.spec.domain}",
        "organization": "organization",
        "public": "public",
    }
    roles = [{"role": readers[governance.access_policy], "access": "read", "description": "access policy"}]
    for grant in governance.grants:
        for name in [*(f"domain:{d}" for d in grant.domains or []), *(f"group:{g}" for g in grant.groups or [])]:
            roles.append({"role": name, "access": "read", "description": f"grant; PII columns: {grant.pii}"})
    return roles


def to_odcs(product: DataProduct, *, location: str | None = None) -> dict[str, Any]:
    """The product's contract as an ODCS v3 document (a plain dict, checked against the ODCS models). `location`
    is where the operator publishes the first delta output (status.location), shown when the spec leaves it out."""
    product = contract_of(product)
    spec = product.spec
    table = table_name(product)
    checks: dict[str | None, list[dict[str, Any]]] = {}
    for order, check in enumerate(spec.governance.quality_checks):
        on = check.column if check.column is not None and check.columns is None else None
        checks.setdefault(on, []).append(_quality(check, order, table))
    keys = spec.primary_key
    properties = [
        _property(c, keys.index(c.name) + 1 if c.primary_key else None, checks.get(c.name, [])) for c in spec.schema_
    ]
    schema: dict[str, Any] = {"name": table, "physicalType": "table", "logicalType": "object", "properties": properties}
    if checks.get(None):
        schema["quality"] = checks[None]
    sla: list[dict[str, Any]] = [
        {"property": "latency", **_duration_sla(spec.sla.freshness), "description": "freshness: maximum data age"},
        {"property": "qualityScore", "value": spec.sla.quality_score},
    ]
    if spec.sla.availability is not None:
        sla.append({"property": "availability", "value": spec.sla.availability})
    if spec.governance.retention is not None:
        retention = {"property": "retention", **_duration_sla(spec.governance.retention)}
        if spec.governance.retention_column is not None:
            retention["element"] = f"{table}.{spec.governance.retention_column}"
        sla.append(retention)
    first_delta = next((o.name for o in spec.outputs if o.format == "delta"), None)
    document: dict[str, Any] = {
        "apiVersion": ODCS_API_VERSION,
        "kind": ODCS_KIND,
        "id": f"{product.namespace}/{product.name}" if product.namespace else product.name,
        "name": product.name,
        "version": spec.version or "0.0.0",
        "status": "active",
        "domain": spec.domain,
        "dataProduct": product.name,
        "description": {"purpose": spec.description},
        "team": {"members": [{"username": spec.owner, "role": "owner"}]},
        "schema": [schema],
        "slaProperties": sla,
        "servers": [_server(o, location if o.name == first_delta else None) for o in spec.outputs],
        "roles": roles_of(product),
    }
    if spec.tags:
        document["tags"] = list(spec.tags)
    wire = spec.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
    custom = [_custom(key, product.metadata[key]) for key in _METADATA_KEYS if product.metadata.get(key)]
    if spec.version is None:
        custom.append(_custom("versionUnset", True))
    custom += [_custom(key, wire[key]) for key in _SPEC_EXTRAS if key in wire]
    governance = {k: v for k, v in wire.get("governance", {}).items() if k in _GOVERNANCE_EXTRAS}
    if governance:
        custom.append(_custom("governance", governance))
    document["customProperties"] = custom
    validate_odcs(document)
    return document


def validate_odcs(document: Mapping[str, Any]) -> OpenDataContractStandard:
    """The document read by the ODCS project's own models; OdcsRefused naming the fields otherwise."""
    try:
        return OpenDataContractStandard.model_validate(dict(document))
    except ValidationError as error:
        raise OdcsRefused(problems_of(error)) from None


# ------------------------------------------------------------------------------------------------------ import


def is_odcs(body: Mapping[str, Any]) -> bool:
    """Whether a parsed document claims to be an ODCS v3 contract."""
    return (
        isinstance(body.get("apiVersion"), str)
        and body["apiVersion"].startswith("v3")
        and body.get("kind") == ODCS_KIND
    )


def load_text(text: str) -> dict[str, Any]:
    """One YAML document, refused before it is built when it is too large, too deep, too many nodes or uses
    aliases (a few aliases can expand into gigabytes once something walks the result)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise _refuse("", f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    depth = nodes = documents = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise _refuse("", "YAML aliases (*name) are not accepted in an imported contract")
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _refuse("", f"the document nests deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            nodes += 1
            if nodes > MAX_NODES:
                raise _refuse("", f"the document has more than {MAX_NODES} YAML nodes")
        if documents != 1:
            raise _refuse("", f"expected one YAML document, found {documents}")
        body = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _refuse("", f"not YAML: {error}") from None
    if not isinstance(body, dict):
        raise _refuse("", f"a contract must be a mapping, got {type(body).__name__}")
    return body


def _customs(items: Any, path: str, allowed: frozenset[str]) -> dict[str, Any]:
    """Our `datamesh.dev/` custom properties by short key; others' are theirs and left alone."""
    found: dict[str, Any] = {}
    for index, item in enumerate(items or []):
        name = item.property or ""
        if not name.startswith(VENDOR):
            continue
        where = f"{path}customProperties[{index}]"
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none here"
            raise _refuse(where, f"unknown custom property {name!r} (known: {known})")
        key = name.removeprefix(VENDOR)
        if key in found:
            raise _refuse(where, f"custom property {name!r} is given twice")
        found[key] = item.value
    return found


def _local(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f"{VENDOR}{k}" for k in keys)


def _duration_text(item: Any, where: str) -> str:
    value, unit = item.value, item.unit
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _refuse(f"{where}.value", "a duration must be a number with a unit, or text such as '1 hour'")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value} {unit}" if unit else str(value)


@dataclass
class _Reader:
    """One import: the spec being built, where each part came from (for error messages), notes."""

    contract: OpenDataContractStandard
    origins: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def owner(self) -> str:
        team = self.contract.team
        members = team.members if team is not None and not isinstance(team, list) else team
        for member in members or []:
            if (member.role or "").lower() == "owner" and member.username:
                return member.username
        if members and members[0].username:
            return members[0].username
        if team is not None and not isinstance(team, list) and team.name:
            return team.name
        raise _refuse("team", "names no owner (a member with role owner, or the team's name)")

    def column(self, index: int, prop: Any, where: str) -> dict[str, Any]:
        custom = _customs(prop.customProperties, f"{where}.", _local(("pii",)))
        physical = (prop.physicalType or "").strip().lower()
        spark = physical if re.match(SPARK_TYPE_PATTERN, physical) else _SPARK_OF_LOGICAL.get(prop.logicalType or "")
        if spark is None:
            raise _refuse(f"{where}.physicalType", f"no Spark type for physicalType {prop.physicalType!r} "
                          f"and logicalType {prop.logicalType!r}")  # fmt: skip
        column: dict[str, Any] = {"name": prop.name, "type": spark, "nullable": not prop.required}
        classification = prop.classification.upper() if prop.classification else None
        if "pii" in custom:
            column["pii"] = custom["pii"]
        elif (
            classification is not None
            and classification.startswith(("PII", "PERSONAL"))
            or any((tag or "").lower() == "pii" for tag in prop.tags or [])
        ):
            column["pii"] = True
            self.notes.append(f"{where}: marked pii from its classification or tags")
        for key, value in (("description", prop.description), ("classification", classification)):
            if value is not None:
                column[key] = value
        if prop.primaryKey:
            column["primaryKey"] = True
        self.origins[f"spec.schema[{index}]"] = where
        return column

    def check(self, rule: Any, where: str, column: str | None) -> tuple[float, dict[str, Any]] | None:
        custom = _customs(rule.customProperties, f"{where}.", _local(("check", "order")))
        order = custom.get("order", math.inf)
        if isinstance(order, bool) or not isinstance(order, (int, float)):
            raise _refuse(f"{where}.customProperties", "datamesh.dev/order must be a number")
        if "check" in custom:
            exact = custom["check"]
            if not isinstance(exact, dict):
                raise _refuse(f"{where}.customProperties", "datamesh.dev/check must be a mapping")
            if column is not None and exact.get("column", column) != column:
                raise _refuse(
                    where, f"the rule sits on {column!r} but its datamesh.dev/check names {exact['column']!r}"
                )
            return float(order), exact if column is None else {**exact, "column": column}
        translated = _translate(rule, where, column)
        if translated is None:
            self.notes.append(f"{where}: rule of type {rule.type or 'text'} is prose only; not carried over")
            return None
        return float(order), translated


def _count(rule: Any, where: str) -> dict[str, Any]:
    """ODCS operators on a row count as rowCount bounds."""
    if rule.mustBeBetween is not None:
        return {"min": rule.mustBeBetween[0], "max": rule.mustBeBetween[1]}
    for name, bound in (("mustBe", "both"), ("mustBeGreaterOrEqualTo", "min"), ("mustBeLessOrEqualTo", "max"),
                        ("mustBeGreaterThan", "above"), ("mustBeLessThan", "below")):  # fmt: skip
        value = getattr(rule, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if bound == "both":
                return {"min": value, "max": value}
            if bound == "above":
                return {"min": math.floor(value) + 1}
            if bound == "below":
                return {"max": math.ceil(value) - 1}
            return {bound: value}
    raise _refuse(where, "a rowCount rule needs a numeric mustBe, mustBeBetween or mustBe(Greater|Less)... bound")


def _share(rule: Any, where: str) -> float | None:
    """The threshold (share of rows that must pass) of a rule on failing rows: mustBe 0, or a percent bound."""
    if rule.mustBe == 0 and not isinstance(rule.mustBe, bool):
        return None
    if rule.unit == "percent" and isinstance(rule.mustBeLessOrEqualTo, (int, float)):
        share = 1 - float(rule.mustBeLessOrEqualTo) / 100
        if 0 < share <= 1:
            return share
    raise _refuse(where, "only 'mustBe: 0' or 'unit: percent' with mustBeLessOrEqualTo translate to a threshold")


def _translate(rule: Any, where: str, column: str | None) -> dict[str, Any] | None:
    """A quality rule another tool wrote, as a check, where a faithful one exists."""
    kind = rule.type or ("library" if rule.metric else "text")
    if kind == "text":
        return None
    metric = rule.metric or rule.rule
    severity = "warn" if (rule.severity or "").lower() in ("warn", "warning", "info") else "error"
    check: dict[str, Any] = {"severity": severity}
    if rule.name and re.match(r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$", rule.name):
        check["name"] = rule.name
    if kind == "library" and metric == "rowCount" and column is None:
        return {**check, "type": "rowCount", **_count(rule, where)}
    properties = (rule.arguments or {}).get("properties")
    if kind == "library" and metric == "duplicateValues" and column is None and isinstance(properties, list):
        threshold = _share(rule, where)
        columns = {"columns": properties} | ({} if threshold is None else {"threshold": threshold})
        return {**check, "type": "uniqueness", **columns}
    if kind == "library" and column is not None and metric in ("nullValues", "duplicateValues", "invalidValues"):
        check["column"] = column
        threshold = _share(rule, where)
        if threshold is not None:
            check["threshold"] = threshold
        if metric == "nullValues":
            return {**check, "type": "notNull"}
        if metric == "duplicateValues":
            return {**check, "type": "uniqueness"}
        arguments = rule.arguments or {}
        if "validValues" in arguments:
            values = arguments["validValues"]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _refuse(f"{where}.arguments.validValues", "accepted values must be a list of strings")
            return {**check, "type": "acceptedValues", "values": values}
        if isinstance(arguments.get("pattern"), str):
            return {**check, "type": "format", "pattern": arguments["pattern"]}
    raise _refuse(where, f"no datamesh quality check for a {kind} rule{f' with metric {metric!r}' if metric else ''}"
                  f"{' on the table' if column is None else f' on column {column!r}'}")  # fmt: skip


def _output(server: Any, where: str) -> dict[str, Any]:
    custom = _customs(server.customProperties, f"{where}.", _local(("mode", "location", "resolvedLocation")))
    name = server.server
    if not name:
        raise _refuse(f"{where}.server", "a server needs a name (it becomes the output's name)")
    kind = server.type
    fmt = (server.format or "").lower()
    if fmt == "rest" or (kind == "api" and not fmt):
        output: dict[str, Any] = {"name": name, "format": "rest"}
        if kind == "api" and server.location:
            output["endpoint"] = server.location
        if "location" in custom:
            output["location"] = custom["location"]
        return output
    if fmt != "delta":
        raise _refuse(f"{where}.format", f"{server.format!r}: datamesh publishes delta tables and rest outputs only")
    output = {"name": name, "format": "delta"}
    location = server.path if kind == "local" else server.location
    if kind not in ("local", "s3", "azure", "custom"):
        raise _refuse(f"{where}.type", f"{kind!r}: a delta output lives on local, s3, azure or custom storage")
    if location and not custom.get("resolvedLocation"):
        output["location"] = location
    if "mode" in custom:
        output["mode"] = custom["mode"]
    return output


def _sla(reader: _Reader, spec: dict[str, Any], table: str) -> None:
    sla: dict[str, Any] = {}
    seen: set[str] = set()
    for index, item in enumerate(reader.contract.slaProperties or []):
        where = f"slaProperties[{index}]"
        name = item.property or ""
        key = "latency" if name == "freshness" else name
        if key in seen and key in ("latency", "availability", "qualityScore", "retention"):
            raise _refuse(where, f"a second {name!r} SLA property")
        seen.add(key)
        if key == "latency":
            sla["freshness"] = _duration_text(item, where)
            reader.origins["spec.sla.freshness"] = where
        elif key == "availability":
            value = item.value
            sla["availability"] = (
                f"{value}%" if isinstance(value, (int, float)) and not isinstance(value, bool) else value
            )
            reader.origins["spec.sla.availability"] = where
        elif key == "qualityScore":
            sla["qualityScore"] = item.value
            reader.origins["spec.sla.qualityScore"] = where
        elif key == "retention":
            governance = spec.setdefault("governance", {})
            governance["retention"] = _duration_text(item, where)
            if item.element:
                element = item.element.strip()
                prefix = f"{table}."
                governance["retentionColumn"] = element.removeprefix(prefix) if "." in element else element
            reader.origins["spec.governance.retention"] = where
            reader.origins["spec.governance.retentionColumn"] = f"{where}.element"
        else:
            reader.notes.append(f"{where}: SLA property {name!r} has no datamesh equivalent; not carried over")
    if "freshness" not in sla:
        raise _refuse("slaProperties", "needs a 'latency' (freshness) property: the maximum age of the data")
    spec["sla"] = sla


def _header(reader: _Reader, top: dict[str, Any], name: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """metadata and the spec's scalar fields: name, domain, owner, description, version, tags, our extras."""
    contract = reader.contract
    name = name or contract.name or ""
    if not (re.match(DNS_LABEL_PATTERN, name) and len(name) <= 40):
        raise _refuse("name", f"{name!r} is not a DataProduct name (a DNS label of at most 40 characters)")
    if contract.domain is None:
        raise _refuse("domain", "required: the Domain that owns the product")
    metadata: dict[str, Any] = {"name": name, **{k: top[k] for k in _METADATA_KEYS if k in top}}
    purpose = (contract.description.purpose or contract.description.usage) if contract.description else None
    if not purpose:
        raise _refuse("description.purpose", "required: what the product is for")
    spec: dict[str, Any] = {"domain": contract.domain, "owner": reader.owner(), "description": purpose}
    reader.origins |= {"spec.domain": "domain", "spec.owner": "team", "spec.description": "description.purpose",
                       "metadata.name": "name", "spec.version": "version", "spec.tags": "tags"}  # fmt: skip
    extras = (*_SPEC_EXTRAS, *(f"governance.{key}" for key in _GOVERNANCE_EXTRAS))
    reader.origins |= {f"spec.{key}": f"customProperties[{VENDOR}{key.split('.')[0]}]" for key in extras}
    reader.origins |= {"spec.schema": "schema[0].properties", "spec.sla": "slaProperties"}
    if top.get("versionUnset") is not True:
        spec["version"] = contract.version
    if contract.tags:
        spec["tags"] = contract.tags
    spec |= {key: top[key] for key in _SPEC_EXTRAS if key in top}
    if "governance" in top:
        extra = top["governance"]
        if not isinstance(extra, dict) or set(extra) - set(_GOVERNANCE_EXTRAS):
            raise _refuse(f"customProperties[{VENDOR}governance]", f"holds only {', '.join(_GOVERNANCE_EXTRAS)}")
        spec["governance"] = dict(extra)
    return metadata, spec


def _quality_checks(reader: _Reader, table: Any) -> list[dict[str, Any]]:
    """The table's and its properties' quality rules as checks, in the product's order (datamesh.dev/order);
    rules without one follow in document order."""
    sources: list[tuple[str, Any, str | None]] = [
        (f"schema[0].quality[{i}]", rule, None) for i, rule in enumerate(table.quality or [])
    ]
    for i, prop in enumerate(table.properties or []):
        sources += [(f"schema[0].properties[{i}].quality[{j}]", r, prop.name) for j, r in enumerate(prop.quality or [])]
    ordered: list[tuple[float, int, dict[str, Any]]] = []
    for index, (where, rule, column) in enumerate(sources):
        found = reader.check(rule, where, column)
        if found is not None:
            ordered.append((found[0], index, found[1]))
    ordered.sort(key=lambda item: (item[0], item[1]))
    for position, (_, index, _check) in enumerate(ordered):
        reader.origins[f"spec.governance.qualityChecks[{position}]"] = sources[index][0]
    return [check for _, _, check in ordered]


def from_odcs(body: Mapping[str, Any], *, name: str | None = None) -> Imported:
    """An ODCS v3 document as a validated DataProduct, or OdcsRefused naming the fields. `name` replaces the
    document's `name` as the product's name (other tools' names are often titles, not DNS labels)."""
    version = body.get("apiVersion")
    if not (isinstance(version, str) and _ODCS_VERSION.match(version)) or body.get("kind") != ODCS_KIND:
        raise _refuse("apiVersion", f"expected an ODCS v3 document (apiVersion v3.x.y, kind {ODCS_KIND})")
    reader = _Reader(validate_odcs(body))
    contract = reader.contract
    top = _customs(contract.customProperties, "", _TOP_KEYS)
    metadata, spec = _header(reader, top, name)
    objects = contract.schema_ or []
    if len(objects) != 1:
        raise _refuse("schema", f"a DataProduct publishes one table: expected one schema object, found {len(objects)}")
    table = objects[0]
    spec["schema"] = [reader.column(i, p, f"schema[0].properties[{i}]") for i, p in enumerate(table.properties or [])]
    checks = _quality_checks(reader, table)
    if checks:
        spec.setdefault("governance", {})["qualityChecks"] = checks
    _sla(reader, spec, table.name or "")
    spec["outputs"] = [_output(s, f"servers[{i}]") for i, s in enumerate(contract.servers or [])]
    reader.origins |= {f"spec.outputs[{i}]": f"servers[{i}]" for i in range(len(spec["outputs"]))}
    reader.origins["spec.outputs"] = "servers"
    product = _validated(reader, {"apiVersion": API_VERSION, "kind": "DataProduct", "metadata": metadata, "spec": spec})
    written = [r.model_dump(exclude_none=True) for r in contract.roles or []]
    if contract.roles is not None and written != roles_of(product):
        if "governance" in top:
            raise _refuse("roles", f"differ from customProperties[{VENDOR}governance] (roles are derived from it)")
        reader.notes.append("roles: grant nothing by themselves; access is the default (domain-internal)")
    return Imported(product, reader.notes)


def _validated(reader: _Reader, body: dict[str, Any]) -> DataProduct:
    try:
        return DataProduct.model_validate(body)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = format_location(tuple(item["loc"]))
            message = item["msg"].removeprefix("Value error, ")
            where = _origin(reader.origins, path)
            if path == "spec":  # a rule across fields: its message may start with the field it is about
                candidate = f"spec.{message.split(' ', 1)[0]}"
                found = _origin(reader.origins, candidate)
                where = found if found != candidate else where
            problems.append(Problem(where, message))
        raise OdcsRefused(problems) from None


def _origin(origins: Mapping[str, str], path: str) -> str:
    """`spec.schema[2].type` -> `schema[0].properties[2] (spec.schema[2].type)`: the document's field first."""
    for prefix in sorted(origins, key=len, reverse=True):
        if origins[prefix] and (path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))):
            return f"{origins[prefix]} ({path})"
    return path
