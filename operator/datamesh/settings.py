"""Every `DATAMESH_*` environment variable, declared once: its name, default, meaning and who reads it.

Three kinds of process take settings from their environment: the operator (typed as
`controller.config.OperatorConfig`), the build pod (its Job's environment, which the operator writes) and the
`datamesh` command with the discovery API. Each reads a variable through its `Setting` here, so a name is
spelled once, and docs/configuration.md is generated from this list (`datamesh settings --out
docs/configuration.md`; tests/test_settings.py fails when the page drifts or code names an undeclared variable).

An empty variable counts as unset. Pure and standard library only: the build pod imports this module. One
exception reads its own names: build/jars.py runs on its own while the image is built, before the package is
installed (the test holds its names equal to these).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Reader = Literal["operator", "build pod", "API", "CLI"]


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    """What an unset (or empty) variable means, as the variable would spell it; "" for nothing."""
    meaning: str
    readers: tuple[Reader, ...]

    def get(self, environ: Mapping[str, str] | None = None) -> str:
        """The variable's value in `environ` (default: the process environment), else the default."""
        env = os.environ if environ is None else environ
        return env.get(self.name) or self.default


SETTINGS: list[Setting] = []


def _declare(name: str, default: str, meaning: str, *readers: Reader) -> Setting:
    setting = Setting(f"DATAMESH_{name}", default, meaning, readers)
    SETTINGS.append(setting)
    return setting


# ----------------------------------------------------------------------------------------------- the operator
BUILD_IMAGE = _declare("BUILD_IMAGE", "ghcr.io/datamesh-operator/datamesh:0.1.0", "Image of build pods.", "operator")
BUILD_IMAGE_PULL_POLICY = _declare(
    "BUILD_IMAGE_PULL_POLICY", "IfNotPresent", "imagePullPolicy of build pods.", "operator"
)
LAKE_HOST_PATH = _declare(
    "LAKE_HOST_PATH",
    "",
    "A host folder holding the lake, mounted per table at the same path in build pods (empty: no mount). For "
    "single-node labs: hostPath volumes need `DATAMESH_POD_SECURITY_LEVEL=privileged`.",
    "operator",
)
NOOP_BUILDS = _declare(
    "NOOP_BUILDS", "", "`1`: build pods skip Spark and report success (the scale benchmark).", "operator"
)
MAX_BUILD_ATTEMPTS = _declare("MAX_BUILD_ATTEMPTS", "3", "Attempts of one build before it stays failed.", "operator")
RETRY_BACKOFF_SECONDS = _declare(
    "RETRY_BACKOFF_SECONDS", "30", "Wait before the first retry of a failed build (doubling per attempt).", "operator"
)
PENDING_TIMEOUT_SECONDS = _declare(
    "PENDING_TIMEOUT_SECONDS",
    "300",
    "A build pod still unscheduled after this long fails with reason `Unschedulable`.",
    "operator",
)
COALESCE_SECONDS = _declare(
    "COALESCE_SECONDS",
    "5",
    "Upstream publications closer together than this are folded into one downstream rebuild.",
    "operator",
)
WORKERS = _declare("WORKERS", "8", "Concurrent reconciles (each is mostly API calls; builds run in pods).", "operator")
EVENT_RATE = _declare(
    "EVENT_RATE", "20", "Kubernetes Events posted per second at most; they never delay a reconcile.", "operator"
)
EVENT_BURST = _declare("EVENT_BURST", "50", "Events posted at once before `DATAMESH_EVENT_RATE` applies.", "operator")
SPARK_DEFAULTS = _declare(
    "SPARK_DEFAULTS",
    "{}",
    'Spark settings every build starts from (JSON object), e.g. `{"spark.sql.shuffle.partitions": "16"}`.',
    "operator",
)
CATALOG = _declare("CATALOG", "on", "`off`: no catalog (no sync, no lineage table).", "operator")
CATALOG_URL = _declare(
    "CATALOG_URL",
    "",
    "Catalog database (SQLAlchemy URL; `postgresql://` uses psycopg 3). Empty: SQLite at "
    "`$DATAMESH_STATE_DIR/catalog.db`.",
    "operator",
    "API",
)
STATE_DIR = _declare(
    "STATE_DIR",
    ".datamesh",
    "Folder of the default SQLite catalog (relative to the working folder).",
    "operator",
    "API",
)
METRICS_PORT = _declare("METRICS_PORT", "9090", "Prometheus metrics port (0: off); `--metrics-port` wins.", "operator")
METRICS_ADDR = _declare("METRICS_ADDR", "0.0.0.0", "Address the metrics endpoint listens on.", "operator")
ALERT_RULE_LABELS = _declare(
    "ALERT_RULE_LABELS",
    "",
    "Labels (`key=value,...`) on every product's PrometheusRule, for the Prometheus Operator's `ruleSelector` "
    "(e.g. `release=monitoring` for a kube-prometheus-stack release named monitoring).",
    "operator",
)
WEBHOOK_PORT = _declare(
    "WEBHOOK_PORT", "0", "Admission webhook port (0: no webhook); `--webhook-port` wins.", "operator"
)
WEBHOOK_ADDR = _declare("WEBHOOK_ADDR", "127.0.0.1", "Address the admission webhook listens on.", "operator")
WEBHOOK_HOST = _declare(
    "WEBHOOK_HOST",
    "127.0.0.1",
    "Host name or IP the API server calls the webhook at (its certificate's name).",
    "operator",
)
WEBHOOK_SERVICE = _declare(
    "WEBHOOK_SERVICE",
    "",
    "`NAMESPACE/NAME` of the Service in front of the webhook: the API server is then pointed at the Service (it "
    "resolves it itself, no cluster DNS needed) instead of `https://WEBHOOK_HOST:PORT`; the chart sets it.",
    "operator",
)
WEBHOOK_CERT_DIR = _declare(
    "WEBHOOK_CERT_DIR",
    ".datamesh/webhook",
    "Folder with the webhook's `ca.crt`, `tls.crt`, `tls.key` (generated there when missing).",
    "operator",
)
NAMESPACE = _declare(
    "NAMESPACE",
    "",
    "The namespace the operator runs in (its own Secrets live there; no Domain may claim it). Empty: "
    "`$POD_NAMESPACE`, else `datamesh-system`.",
    "operator",
    "CLI",
)
RESERVED_NAMESPACES = _declare(
    "RESERVED_NAMESPACES",
    "",
    "Namespaces no Domain may claim, on top of `kube-*`, `default` and the operator's own (comma-separated).",
    "operator",
    "CLI",
)
PYTHON_TRANSFORMS = _declare(
    "PYTHON_TRANSFORMS",
    "",
    "Module prefixes whose functions DataProducts may name as `transform.python`, comma-separated (empty: no "
    "Python transforms). The operator hands it to build pods, which check again before importing.",
    "operator",
    "build pod",
    "CLI",
)
POD_SECURITY_LEVEL = _declare(
    "POD_SECURITY_LEVEL",
    "restricted",
    "Pod Security Standard enforced on domain namespaces (`baseline` or `privileged` only for labs).",
    "operator",
)
PEERING_PRIORITY = _declare(
    "PEERING_PRIORITY",
    "",
    "kopf peering priority of this replica (empty: random in 1..32767, so one replica is elected active).",
    "operator",
)
LINEAGE_FILE = _declare(
    "LINEAGE_FILE",
    "",
    "OpenLineage events appended to this file, one JSON event per line, when `OPENLINEAGE_URL` is unset. The "
    "operator hands it to build pods.",
    "operator",
    "build pod",
)

# ------------------------------------------------------------------------------------------------ build pods
# The operator writes these into a build Job's environment (or an administrator into the image's); a local
# `datamesh build --local` reads them from the shell.
BUILD_REQUEST = _declare(
    "BUILD_REQUEST", "", "The BuildRequest or DeleteRequest as JSON (written by the operator).", "build pod"
)
MASKING_KEY = _declare(
    "MASKING_KEY",
    "",
    "The mesh-wide PII masking key (hex, at least 16 bytes), from the domain's build Secret.",
    "build pod",
    "API",
)
#: One variable per secret reader option, `DATAMESH_SECRET_<input>_<option>` (mesh.contract.secret_env).
SECRET_OPTION = _declare(
    "SECRET_<input>_<option>",
    "",
    "The value of a source's secret reader option, from a Secret in the build's namespace (written by the "
    "operator as a `secretKeyRef`).",
    "build pod",
)
SPARK_CONF = _declare(
    "SPARK_CONF",
    "",
    "Spark settings the operator chose for this build (JSON object: master, executors, `DATAMESH_SPARK_DEFAULTS`).",
    "build pod",
)
EXECUTOR_POD_TEMPLATE = _declare(
    "EXECUTOR_POD_TEMPLATE",
    "",
    "Pod template of the build's Spark executor pods (JSON, written by the operator when `compute.executors > 0`).",
    "build pod",
)
SPARK_MASTER = _declare("SPARK_MASTER", "local[2]", "Spark master of a build (`--master` wins).", "build pod", "CLI")
DRIVER_MEMORY = _declare("DRIVER_MEMORY", "2g", "Spark driver memory of a build.", "build pod", "CLI")
SHUFFLE_PARTITIONS = _declare("SHUFFLE_PARTITIONS", "8", "spark.sql.shuffle.partitions of a build.", "build pod", "CLI")
PUBLISH_METHOD = _declare(
    "PUBLISH_METHOD",
    "commit",
    "`copy`: publish through Spark's copy instead of committing the staged files (build/commit.py).",
    "build pod",
    "CLI",
)
VACUUM_RETAIN_HOURS = _declare(
    "VACUUM_RETAIN_HOURS",
    "168",
    "Hours of old table files vacuum keeps after a retention delete (Delta's default, a week).",
    "build pod",
    "CLI",
)
METASTORE_TABLE = _declare(
    "METASTORE_TABLE",
    "",
    "Register every published table in the session's catalog under this name template, e.g. "
    "`gold_{domain}.{product}` (needs a persistent metastore).",
    "build pod",
    "CLI",
)
ARROW_UNIQUENESS_MAX_ROWS = _declare(
    "ARROW_UNIQUENESS_MAX_ROWS",
    "2000000",
    "Largest staged table whose checks are read back with pyarrow (0: Spark for every metric).",
    "build pod",
    "CLI",
)
JARS_DIR = _declare(
    "JARS_DIR",
    "",
    "Folder of the Delta jars baked into the image (empty: resolve them through Ivy into `DATAMESH_CACHE`).",
    "build pod",
    "CLI",
)
CACHE = _declare("CACHE", "~/.cache/datamesh", "Cache of downloaded jars (Ivy).", "build pod", "CLI")
DELTA_VERSION = _declare("DELTA_VERSION", "4.4.0", "Maven version of the Delta jars to resolve.", "build pod", "CLI")

# ------------------------------------------------------------------- the warm engine (Spark Connect per domain)
ENGINE_URL = _declare(
    "ENGINE_URL",
    "",
    "Spark Connect address of the domain's warm engine (`sc://HOST:PORT`), written by the operator into a build "
    "Job of a Domain with `compute.engine: connect`. Empty: the build starts Spark in its own pod.",
    "build pod",
)
ENGINE_GUARD_URL = _declare(
    "ENGINE_GUARD_URL",
    "",
    "Address (`http://HOST:PORT`) of the warm engine's SQL guard, which checks tenant SQL with the engine's own "
    "parser and analyser before the engine runs it.",
    "build pod",
)
ENGINE_TOKEN = _declare(
    "ENGINE_TOKEN",
    "",
    "Bearer token of the domain's warm engine (from the domain's `datamesh-engine` Secret): the engine refuses "
    "to start without one, and refuses every call without it.",
    "build pod",
)
ENGINE_PORT = _declare("ENGINE_PORT", "15002", "Spark Connect (gRPC) port the warm engine listens on.", "build pod")
ENGINE_GUARD_PORT = _declare("ENGINE_GUARD_PORT", "15003", "Port of the warm engine's SQL guard.", "build pod")
ENGINE_WAIT_SECONDS = _declare(
    "ENGINE_WAIT_SECONDS",
    "240",
    "How long a build waits for its domain's warm engine to answer (it may be starting from zero replicas).",
    "build pod",
)

# ------------------------------------------------------------------------------------ the command and the API
API_HOST = _declare("API_HOST", "127.0.0.1", "Address `datamesh api` binds (`--host` wins).", "API")
API_PORT = _declare("API_PORT", "8080", "Port of `datamesh api` (`--port` wins).", "API")
API_URL = _declare(
    "API_URL", "http://127.0.0.1:8080", "Discovery API address `datamesh catalog` talks to (`--url` wins).", "CLI"
)
SHARING_KEY = _declare(
    "SHARING_KEY",
    "",
    "Key (hex, at least 16 bytes) the API signs Delta Sharing file URLs with; replicas behind one Service need the "
    "same key. Empty: a random key per process (URLs work only on the replica that issued them).",
    "API",
)
SHARING_ENDPOINT = _declare(
    "SHARING_ENDPOINT",
    "",
    "Delta Sharing endpoint recipients reach (the catalog API's external URL and `/delta-sharing`), written into "
    "the profile Secrets the operator hands each recipient domain. Empty: the operator hands out no profiles.",
    "operator",
)
SHARE_TOKEN_DAYS = _declare(
    "SHARE_TOKEN_DAYS", "30", "Lifetime of a recipient's token; it is rotated when a fifth of it is left.", "operator"
)
SHARING_URL_SECONDS = _declare("SHARING_URL_SECONDS", "900", "Lifetime of a Delta Sharing file URL.", "API")
TOKEN = _declare("TOKEN", "", "Bearer token `datamesh catalog` sends (`--token` wins; empty: the kubeconfig's).", "CLI")

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def markdown() -> str:
    """docs/configuration.md: every variable with its default, readers and meaning."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from operator/datamesh/settings.py by `datamesh settings --out docs/configuration.md`. "
        "Do not edit by hand. -->",
        "",
        "Every setting is a `DATAMESH_*` environment variable; an empty variable counts as unset. The operator "
        "reads its settings once at startup; build pods get theirs in their Job's environment, which the "
        "operator writes. Command-line flags, where they exist, win over the variables.",
        "",
        "| variable | default | read by | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(none)"
        meaning = setting.meaning.replace("|", "\\|")
        lines.append(f"| `{setting.name}` | {default} | {', '.join(setting.readers)} | {meaning} |")
    return "\n".join(lines) + "\n"
