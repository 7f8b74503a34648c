"""A domain's warm engine (`spec.compute.engine: connect`): its manifests, when it runs, and which builds use it.

A build pod pays a cold JVM (~8 s of Spark start-up, most of a small build's CPU) on every build. A Domain may
instead keep one Spark Connect server (`python -m datamesh.engine`, the project's image) in its namespace: its
builds become small pods that connect to it, and its SQL guard checks tenant SQL with the engine's own parser
before the engine runs it. The decisions, pure (the runtime does the I/O):

- **what the engine may touch**: the domain's storage read-write and, read-only, the inputs its products are
  granted from elsewhere; nothing else of the lake (`engine_storage`). It runs under its own ServiceAccount with
  no token mounted, as the build's user, on a read-only root filesystem.
- **who may use it**: only callers holding the domain's engine token (`engine_token`: an HMAC of the domain's uid
  under the mesh key, so another domain can neither guess it nor read it: it lives in the domain's namespace, in
  a Secret the team's role cannot read). The engine refuses every call without it.
- **which builds use it** (`placement`): a build whose every mount the engine has and whose work the Connect
  path can do; anything else still builds in its own pod, and says why in its BuildStarted event.
- **when it runs** (`replicas`): one replica while builds use it and for `idleAfter` after the last one; zero
  after that; the next build scales it up again and waits for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from datamesh import settings
from datamesh.api import DataProduct, Domain
from datamesh.api.durations import parse_duration
from datamesh.controller.config import PASSED_TO_BUILDS, OperatorConfig
from datamesh.controller.jobs import (
    IMAGE_HOME,
    LABEL_ENGINE,
    SCRATCH,
    HostPathRefused,
    Storage,
    container_security_context,
    driver_heap,
    executor_count,
    host_state,
    init_containers,
    inside,
    pod_security_context,
)
from datamesh.mesh.contract import BuildRequest
from datamesh.placement import is_local, local_path

ENGINE_NAME: Final = "datamesh-engine"
"""The Deployment, Service, ServiceAccount, NetworkPolicy and Secret of a domain's engine all carry this name."""
TOKEN_KEY: Final = "token"
GRPC_PORT: Final = 15002
GUARD_PORT: Final = 15003
LABEL_DOMAIN: Final = "datamesh.dev/domain"
#: When a build last used the engine (RFC 3339): kept on the Deployment, so a restarted operator knows it too.
ANNOTATION_LAST_USED: Final = "datamesh.dev/last-used"
MANAGED: Final = {"app.kubernetes.io/managed-by": "datamesh-operator"}


def wants_engine(domain: Domain) -> bool:
    return domain.spec.compute.engine == "connect"


def engine_token(mesh_key: bytes, domain_uid: str) -> str:
    """The domain's engine token: derived, so applying the Secret again never changes it, and bound to the
    Domain's uid, so a Domain deleted and made again under the same name gets a new one."""
    if not mesh_key or not domain_uid:
        raise ValueError("an engine token needs the mesh key and the Domain's uid")
    return hmac.new(mesh_key, b"datamesh-engine:" + domain_uid.encode(), hashlib.sha256).hexdigest()


def idle_after(domain: Domain) -> timedelta:
    return parse_duration(domain.spec.compute.connect.idle_after)


def replicas(
    last_used: datetime | None, now: datetime, idle: timedelta, running_builds: int
) -> tuple[int, float | None]:
    """(replicas, seconds until this should be decided again): 1 while builds run and for `idle` after the last
    use, else 0. A last use in the future (a clock step) counts as now."""
    if running_builds > 0:
        return 1, idle.total_seconds()
    if last_used is None:
        return 0, None
    left = (min(last_used, now) + idle - now).total_seconds()
    return (1, max(1.0, left)) if left > 0 else (0, None)


def engine_storage(domain: Domain, input_locations: Iterable[str], config: OperatorConfig) -> Storage:
    """The engine's mounts: the domain's storage read-write (every product's table and its staging folders, at the
    paths builds use), and each local input outside it read-only. Raises HostPathRefused for a symlinked host path
    (the runtime would follow it), ValueError when the storage is not a local folder the engine can have."""
    storage = Storage()
    root = domain.spec.storage.location
    if not is_local(root):
        raise ValueError(f"spec.storage.location {root}: an object store; the warm engine serves local storage only")
    root_path = os.path.normpath(local_path(root))
    volume = domain.spec.storage.volume
    lake = config.lake_host_path
    if volume is not None:
        claim = {"name": "storage", "persistentVolumeClaim": {"claimName": f"{domain.name}-storage"}}
        storage.add(claim, {"name": "storage", "mountPath": os.path.normpath(volume.mount_path)})
    elif lake and inside(root_path, lake) is not None:
        host_state(root_path, lake)
        storage.add(
            {"name": "lake-output", "hostPath": {"path": root_path}}, {"name": "lake-output", "mountPath": root_path}
        )
        storage.create.append(root_path)
    else:
        raise ValueError(f"spec.storage.location {root}: neither on the domain's volume nor under the host lake")
    for location in sorted(set(input_locations)):
        if not location or not is_local(location):
            continue
        path = os.path.normpath(local_path(location))
        if covered(path, mount_table(storage), read_only=True):
            continue
        in_lake = inside(path, lake) if lake else None
        if in_lake is None:
            continue  # not mountable: its builds stay in their own pods (placement says so)
        state = host_state(in_lake, lake)
        if state == "missing":
            continue
        name = f"lake-input-{len(storage.mounts)}"
        kind = {"dir": "Directory", "file": "File"}.get(state)
        storage.add({"name": name, "hostPath": {"path": in_lake, **({"type": kind} if kind else {})}},
                    {"name": name, "mountPath": in_lake, "readOnly": True})  # fmt: skip
    return storage


def mount_table(storage: Storage) -> dict[str, bool]:
    """mount path -> read-only, of the storage mounts (not scratch space)."""
    return {
        m["mountPath"]: bool(m.get("readOnly")) for m in storage.mounts if m["mountPath"] not in (SCRATCH, IMAGE_HOME)
    }


def covered(path: str, mounts: Mapping[str, bool], *, read_only: bool) -> bool:
    """Whether `path` lies at or below a mount that allows the access (a read-only one only for reading)."""
    for mount, mount_read_only in mounts.items():
        if mount_read_only and not read_only:
            continue
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return True
    return False


def placement(
    product: DataProduct,
    domain: Domain,
    request: BuildRequest,
    build_mounts: Mapping[str, bool],
    engine_mounts: Mapping[str, bool] | None,
    config: OperatorConfig,
) -> str | None:
    """None when this build runs on the domain's engine; else why it builds in its own pod ("" when the domain
    has no engine at all)."""
    if not wants_engine(domain) or config.noop_builds:
        return ""
    if executor_count(product, domain) > 0:
        return "its build runs Spark executors as pods"
    transform = product.spec.transform
    if transform is not None and transform.python is not None:
        return "a Python transform runs with a Spark session of its own"
    if any(o.format == "delta" and o.mode == "merge" for o in product.spec.outputs):
        return "a merge publish needs Delta's JVM API"
    if config.build_env.get(settings.METASTORE_TABLE.name):
        return "metastore registration needs the JVM"
    if not is_local(request.output_location):
        return "the table is in an object store"
    for item in request.inputs:
        if not is_local(item.location):
            return f"input {item.ref} is in an object store"
        if item.secret_options:
            return f"input {item.ref} reads with secret options"
    if engine_mounts is None:
        return "the engine is not deployed yet"
    for path, read_only in build_mounts.items():
        if not covered(path, engine_mounts, read_only=read_only):
            return f"the engine does not mount {path} yet"
    return None


@dataclass
class EngineState:
    """What the runtime knows of one domain's engine."""

    mounts: dict[str, bool] | None = None
    last_used: datetime | None = None
    applied: str | None = None
    """Fingerprint of the manifests last applied, so an unchanged engine is not applied again."""
    replicas: int = 0
    running: set[str] = field(default_factory=set)
    """Build Jobs using the engine that have not finished."""


def _meta(domain: Domain, namespace: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": ENGINE_NAME,
        "namespace": namespace,
        "labels": {**MANAGED, LABEL_DOMAIN: domain.name, **(labels or {})},
        "ownerReferences": [
            {"apiVersion": domain.api_version, "kind": domain.kind, "name": domain.name,
             "uid": str(domain.metadata.get("uid", "")), "controller": True, "blockOwnerDeletion": True}
        ],
    }  # fmt: skip


def server_labels(domain: Domain) -> dict[str, str]:
    return {LABEL_ENGINE: "server", LABEL_DOMAIN: domain.name}


def engine_spark_conf(domain: Domain, config: OperatorConfig) -> dict[str, str]:
    resources = domain.spec.compute.connect.resources
    cores = max(1, int(resources.cpu)) if resources.cpu.isdigit() else 1
    return {"spark.driver.memory": driver_heap(resources.memory), **config.spark_defaults,
            "spark.master": f"local[{max(cores, 2)}]"}  # fmt: skip


def manifests(
    domain: Domain,
    storage: Storage,
    config: OperatorConfig,
    *,
    token: str,
    replica_count: int,
    last_used: datetime | None,
) -> list[dict[str, Any]]:
    """ServiceAccount, token Secret, Service, NetworkPolicy and Deployment of the domain's engine, in apply order."""
    ns = domain.namespace_name
    labels = server_labels(domain)
    security = container_security_context()
    resources = domain.spec.compute.connect.resources
    volumes = [*storage.volumes, {"name": "scratch", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    mounts = [*storage.mounts, {"name": "scratch", "mountPath": SCRATCH}, {"name": "home", "mountPath": IMAGE_HOME}]
    init = init_containers(Storage(volumes=volumes, mounts=mounts, create=list(storage.create)), config, security)
    env = [
        {"name": settings.ENGINE_TOKEN.name,
         "valueFrom": {"secretKeyRef": {"name": ENGINE_NAME, "key": TOKEN_KEY}}},
        {"name": settings.ENGINE_PORT.name, "value": str(GRPC_PORT)},
        {"name": settings.ENGINE_GUARD_PORT.name, "value": str(GUARD_PORT)},
        {"name": settings.SPARK_CONF.name, "value": json.dumps(engine_spark_conf(domain, config), sort_keys=True)},
        {"name": "TMPDIR", "value": SCRATCH},
        {"name": "SPARK_LOCAL_DIRS", "value": SCRATCH},
        *({"name": k, "value": v} for k, v in sorted(config.build_env.items()) if k in PASSED_TO_BUILDS),
    ]  # fmt: skip
    annotations = {ANNOTATION_LAST_USED: last_used.isoformat()} if last_used else {}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": ENGINE_NAME,
        # The engine asks the Kubernetes API nothing.
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [{
            "name": "engine",
            "image": config.image,
            "imagePullPolicy": config.image_pull_policy,
            "command": ["python", "-m", "datamesh.engine"],
            "env": env,
            "ports": [{"name": "connect", "containerPort": GRPC_PORT}, {"name": "guard", "containerPort": GUARD_PORT}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": GUARD_PORT},
                               "periodSeconds": 1, "failureThreshold": 3},
            # Both limits explicit: the namespace's LimitRange would otherwise cap the CPU at the builds' default.
            "resources": {"requests": {"cpu": resources.cpu, "memory": resources.memory},
                          "limits": {"cpu": resources.cpu, "memory": resources.memory}},
            "volumeMounts": mounts,
            "securityContext": security,
        }],
        "volumes": volumes,
    }  # fmt: skip
    if init:
        pod_spec["initContainers"] = init
    token_data = {TOKEN_KEY: _b64(token)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(domain, ns),
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": _meta(domain, ns), "data": token_data},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(domain, ns),
         # Headless: builds connect to the engine's pod itself. A Spark Connect session is one long HTTP/2
         # connection to one server anyway, and a node without IP forwarding (the local lab's) cannot route a
         # virtual Service IP to a pod on its own bridge.
         "spec": {"clusterIP": "None", "selector": labels, "ports": [
             {"name": "connect", "port": GRPC_PORT, "targetPort": GRPC_PORT, "protocol": "TCP"},
             {"name": "guard", "port": GUARD_PORT, "targetPort": GUARD_PORT, "protocol": "TCP"}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(domain, ns),
         "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": {LABEL_ENGINE: "client"}}}],
                               "ports": [{"protocol": "TCP", "port": GRPC_PORT},
                                         {"protocol": "TCP", "port": GUARD_PORT}]}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {**_meta(domain, ns, labels), "annotations": annotations},
         "spec": {"replicas": replica_count, "selector": {"matchLabels": labels},
                  # One engine at a time: two would each hold a JVM's memory in the domain's quota.
                  "strategy": {"type": "Recreate"},
                  "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
    ]  # fmt: skip


#: What the engine leaves behind when the domain goes back to pod builds (deleted; a 404 is fine).
OBSOLETE: Final = (
    ("apps/v1", "Deployment", ENGINE_NAME),
    ("networking.k8s.io/v1", "NetworkPolicy", ENGINE_NAME),
    ("v1", "Service", ENGINE_NAME),
    ("v1", "Secret", ENGINE_NAME),
    ("v1", "ServiceAccount", ENGINE_NAME),
)


def fingerprint(objects: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()


def client_env(namespace: str) -> list[dict[str, Any]]:
    """What a build pod needs to use its domain's engine: the addresses and the token (by reference)."""
    host = f"{ENGINE_NAME}.{namespace}.svc"
    return [
        {"name": settings.ENGINE_URL.name, "value": f"sc://{host}:{GRPC_PORT}"},
        {"name": settings.ENGINE_GUARD_URL.name, "value": f"http://{host}:{GUARD_PORT}"},
        {"name": settings.ENGINE_TOKEN.name, "valueFrom": {"secretKeyRef": {"name": ENGINE_NAME, "key": TOKEN_KEY}}},
    ]


def last_used_of(deployment: Mapping[str, Any] | None) -> datetime | None:
    raw = ((deployment or {}).get("metadata") or {}).get("annotations", {}).get(ANNOTATION_LAST_USED)
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


__all__ = ["HostPathRefused"]
