"""The operator's settings, typed: each field reads its `DATAMESH_*` variable once, through datamesh.settings.

What a variable means and its default are declared in datamesh/settings.py (and listed in docs/configuration.md,
generated from it); this class gives the operator's ones a type and says how they combine.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field

from datamesh import settings as env
from datamesh.api.entrypoints import parse_prefixes

#: Operator environment variables handed on to build pods as literal values: lineage transport settings, none of
#: them secret. The lineage API key is not one of them: builds read it from the domain's build Secret.
PASSED_TO_BUILDS = ("OPENLINEAGE_URL", "OPENLINEAGE_NAMESPACE", env.LINEAGE_FILE.name)
LINEAGE_API_KEY_ENV = "OPENLINEAGE_API_KEY"
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def parse_labels(text: str, setting: str) -> dict[str, str]:
    """`key=value,...` as Kubernetes labels; anything else is refused, naming the setting."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
            raise ValueError(f"{setting}: {item!r} is not a Kubernetes label (key=value)")
        labels[key] = value
    return labels


def _peering_priority() -> int:
    # With peering, kopf pauses every replica that sees a peer of equal or higher priority: equal priorities
    # would pause them all. A random one elects a single active replica; the rest stand by.
    return int(env.PEERING_PRIORITY.get() or random.randint(1, 32767))


@dataclass(frozen=True)
class OperatorConfig:
    """Fields without a comment are documented with their variable in datamesh/settings.py."""

    image: str = field(default_factory=env.BUILD_IMAGE.get)
    image_pull_policy: str = field(default_factory=env.BUILD_IMAGE_PULL_POLICY.get)
    #: Service account build pods run as, created by the Domain controller in every domain namespace.
    builder_service_account: str = "datamesh-builder"
    lake_host_path: str = field(default_factory=env.LAKE_HOST_PATH.get)
    noop_builds: bool = field(default_factory=lambda: env.NOOP_BUILDS.get() == "1")
    max_attempts: int = field(default_factory=lambda: int(env.MAX_BUILD_ATTEMPTS.get()))
    retry_backoff_seconds: float = field(default_factory=lambda: float(env.RETRY_BACKOFF_SECONDS.get()))
    pending_timeout_seconds: float = field(default_factory=lambda: float(env.PENDING_TIMEOUT_SECONDS.get()))
    default_build_timeout_seconds: int = 3600
    coalesce_seconds: float = field(default_factory=lambda: float(env.COALESCE_SECONDS.get()))
    workers: int = field(default_factory=lambda: int(env.WORKERS.get()))
    event_rate: float = field(default_factory=lambda: float(env.EVENT_RATE.get()))
    event_burst: int = field(default_factory=lambda: int(env.EVENT_BURST.get()))
    ttl_seconds_after_finished: int = 3600
    spark_defaults: dict[str, str] = field(default_factory=lambda: json.loads(env.SPARK_DEFAULTS.get()))
    build_env: dict[str, str] = field(
        default_factory=lambda: {k: os.environ[k] for k in PASSED_TO_BUILDS if os.environ.get(k)}
    )
    #: The catalog database comes from DATAMESH_CATALOG_URL / DATAMESH_STATE_DIR, read where it is opened
    #: (catalog/db.py), the same way in the operator and in `datamesh api`.
    catalog_enabled: bool = field(default_factory=lambda: env.CATALOG.get() != "off")
    sharing_endpoint: str = field(default_factory=env.SHARING_ENDPOINT.get)
    share_token_days: float = field(default_factory=lambda: float(env.SHARE_TOKEN_DAYS.get()))
    metrics_port: int = field(default_factory=lambda: int(env.METRICS_PORT.get()))
    metrics_addr: str = field(default_factory=env.METRICS_ADDR.get)
    alert_rule_labels: dict[str, str] = field(
        default_factory=lambda: parse_labels(env.ALERT_RULE_LABELS.get(), env.ALERT_RULE_LABELS.name)
    )
    webhook_port: int = field(default_factory=lambda: int(env.WEBHOOK_PORT.get()))
    webhook_addr: str = field(default_factory=env.WEBHOOK_ADDR.get)
    webhook_host: str = field(default_factory=env.WEBHOOK_HOST.get)
    webhook_service: str = field(default_factory=env.WEBHOOK_SERVICE.get)
    webhook_cert_dir: str = field(default_factory=env.WEBHOOK_CERT_DIR.get)
    namespace: str = field(
        default_factory=lambda: env.NAMESPACE.get() or os.environ.get("POD_NAMESPACE", "") or "datamesh-system"
    )
    reserved_namespaces: tuple[str, ...] = field(
        default_factory=lambda: tuple(n.strip() for n in env.RESERVED_NAMESPACES.get().split(",") if n.strip())
    )
    python_transform_modules: tuple[str, ...] = field(
        default_factory=lambda: parse_prefixes(env.PYTHON_TRANSFORMS.get())
    )
    pod_security_level: str = field(default_factory=env.POD_SECURITY_LEVEL.get)
    peering_priority: int = field(default_factory=_peering_priority, compare=False)
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
            found.append(f"{env.POD_SECURITY_LEVEL.name}={level!r}: use restricted, baseline or privileged")
        elif self.lake_host_path and self.pod_security_level != "privileged":
            found.append(
                f"{env.LAKE_HOST_PATH.name}={self.lake_host_path!r} mounts hostPath volumes, which Pod Security "
                f"{self.pod_security_level!r} refuses: set {env.POD_SECURITY_LEVEL.name}=privileged (a lab) or keep "
                "the lake on object storage or PersistentVolumeClaims"
            )
        return found
