"""Operator settings, read once from the environment (DATAMESH_*)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from datamesh.api.entrypoints import parse_prefixes

#: Operator environment variables handed on to build pods as literal values: lineage transport settings, none of
#: them secret. The lineage API key is not one of them: builds read it from the domain's build Secret.
PASSED_TO_BUILDS = ("OPENLINEAGE_URL", "OPENLINEAGE_NAMESPACE", "DATAMESH_LINEAGE_FILE")
LINEAGE_API_KEY_ENV = "OPENLINEAGE_API_KEY"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DATAMESH_{name}", default)


@dataclass(frozen=True)
class OperatorConfig:
    #: Image of build pods.
    image: str = field(default_factory=lambda: _env("BUILD_IMAGE", "ghcr.io/datamesh-operator/datamesh:0.1.0"))
    image_pull_policy: str = field(default_factory=lambda: _env("BUILD_IMAGE_PULL_POLICY", "IfNotPresent"))
    #: Service account build pods run as, created by the Domain controller in every domain namespace.
    builder_service_account: str = "datamesh-builder"
    #: A host folder holding the lake, mounted per table at the same path in build pods (empty: no mount). For
    #: single-node labs: hostPath volumes need pod_security_level "privileged" (see `conflicts`).
    lake_host_path: str = field(default_factory=lambda: _env("LAKE_HOST_PATH", ""))
    #: Skip Spark in build pods and report success: the scale benchmark measures only the control loop.
    noop_builds: bool = field(default_factory=lambda: _env("NOOP_BUILDS", "") == "1")
    max_attempts: int = field(default_factory=lambda: int(_env("MAX_BUILD_ATTEMPTS", "3")))
    retry_backoff_seconds: float = field(default_factory=lambda: float(_env("RETRY_BACKOFF_SECONDS", "30")))
    #: A build pod still unscheduled after this long is failed with reason Unschedulable.
    pending_timeout_seconds: float = field(default_factory=lambda: float(_env("PENDING_TIMEOUT_SECONDS", "300")))
    default_build_timeout_seconds: int = 3600
    #: Upstream publications closer together than this are folded into one downstream rebuild.
    coalesce_seconds: float = field(default_factory=lambda: float(_env("COALESCE_SECONDS", "5")))
    #: Concurrent reconciles (each is mostly API calls; builds themselves run in pods).
    workers: int = field(default_factory=lambda: int(_env("WORKERS", "8")))
    #: Kubernetes Events posted per second at most (after a burst of `event_burst`); they never delay a reconcile.
    event_rate: float = field(default_factory=lambda: float(_env("EVENT_RATE", "20")))
    event_burst: int = field(default_factory=lambda: int(_env("EVENT_BURST", "50")))
    ttl_seconds_after_finished: int = 3600
    #: Spark settings every build starts from (JSON object), e.g. {"spark.sql.shuffle.partitions": "16"}.
    spark_defaults: dict[str, str] = field(default_factory=lambda: json.loads(_env("SPARK_DEFAULTS", "{}")))
    build_env: dict[str, str] = field(
        default_factory=lambda: {k: os.environ[k] for k in PASSED_TO_BUILDS if os.environ.get(k)}
    )
    #: Catalog database (SQLAlchemy URL); empty: $DATAMESH_STATE_DIR/catalog.db. DATAMESH_CATALOG=off disables it.
    catalog_enabled: bool = field(default_factory=lambda: _env("CATALOG", "on") != "off")
    catalog_url: str | None = field(default_factory=lambda: _env("CATALOG_URL", "") or None)
    #: Prometheus metrics endpoint (0: off).
    metrics_port: int = field(default_factory=lambda: int(_env("METRICS_PORT", "9090")))
    metrics_addr: str = field(default_factory=lambda: _env("METRICS_ADDR", "0.0.0.0"))
    #: Admission webhook: listening port (0: no webhook), address, the host the API server calls, and the
    #: folder with ca.crt/tls.crt/tls.key (generated there when missing).
    webhook_port: int = field(default_factory=lambda: int(_env("WEBHOOK_PORT", "0")))
    webhook_addr: str = field(default_factory=lambda: _env("WEBHOOK_ADDR", "127.0.0.1"))
    webhook_host: str = field(default_factory=lambda: _env("WEBHOOK_HOST", "127.0.0.1"))
    webhook_cert_dir: str = field(default_factory=lambda: _env("WEBHOOK_CERT_DIR", ".datamesh/webhook"))
    #: The namespace the operator runs in (its own Secrets live there; no Domain may claim it).
    namespace: str = field(
        default_factory=lambda: _env("NAMESPACE", "") or os.environ.get("POD_NAMESPACE", "") or "datamesh-system"
    )
    #: Namespaces no Domain may claim, on top of kube-*, default and the operator's own (comma-separated).
    reserved_namespaces: tuple[str, ...] = field(
        default_factory=lambda: tuple(n.strip() for n in _env("RESERVED_NAMESPACES", "").split(",") if n.strip())
    )
    #: Module prefixes whose functions DataProducts may name as `transform.python` (none: no Python transforms).
    python_transform_modules: tuple[str, ...] = field(
        default_factory=lambda: parse_prefixes(_env("PYTHON_TRANSFORMS", ""))
    )
    #: Pod Security Standard enforced on domain namespaces (restricted; baseline or privileged only for labs).
    pod_security_level: str = field(default_factory=lambda: _env("POD_SECURITY_LEVEL", "restricted"))
    #: Secret in the operator's namespace holding the mesh-wide PII masking key (created once when missing).
    masking_key_secret: str = "datamesh-masking-key"
    #: Secret the operator keeps in every domain namespace for build pods (masking key, lineage API key).
    build_secret: str = "datamesh-build"
    #: The OpenLineage API key builds send with their events: copied into each domain's build Secret, never into
    #: a Job (repr=False: the config may be logged).
    lineage_api_key: str | None = field(default_factory=lambda: os.environ.get(LINEAGE_API_KEY_ENV) or None, repr=False)

    def conflicts(self) -> list[str]:
        """Settings that cannot work together; the operator refuses to start with them rather than launch build
        pods that Pod Security admission refuses one by one."""
        found = []
        if self.pod_security_level not in ("restricted", "baseline", "privileged"):
            level = self.pod_security_level
            found.append(f"DATAMESH_POD_SECURITY_LEVEL={level!r}: use restricted, baseline or privileged")
        elif self.lake_host_path and self.pod_security_level != "privileged":
            found.append(
                f"DATAMESH_LAKE_HOST_PATH={self.lake_host_path!r} mounts hostPath volumes, which Pod Security "
                f"{self.pod_security_level!r} refuses: set DATAMESH_POD_SECURITY_LEVEL=privileged (a lab) or keep "
                "the lake on object storage or PersistentVolumeClaims"
            )
        return found
