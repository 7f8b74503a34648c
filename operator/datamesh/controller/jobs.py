"""Build Jobs: deterministic names and the Job manifest, as pure functions.

A build pod gets only what it needs. Secrets arrive by reference (`secretKeyRef` env), never as values: not in
the build request, not in the Job. Storage: with a single-node lab's lake on a host folder (`lake_host_path`), each
local input folder is mounted read-only and the product's own table folder read-write, at their own paths, and
nothing else of the lake; a Domain volume is mounted through `subPath`s the same way. The container runs as
uid 1000 on a read-only root filesystem with every capability dropped, scratch space on emptyDirs, and without
a service account token unless Spark needs one to start executor pods. Without host folders (and without
executors) the pod meets the Pod Security `restricted` profile.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from datamesh import settings
from datamesh.api import DataProduct
from datamesh.api.common import parse_quantity
from datamesh.api.dataproduct import Resources
from datamesh.api.domain import RESERVED_SECRET_PREFIX, Domain
from datamesh.api.durations import parse_duration
from datamesh.controller.config import LINEAGE_API_KEY_ENV, PASSED_TO_BUILDS, OperatorConfig
from datamesh.controller.secrets import LINEAGE_API_KEY, MASKING_KEY
from datamesh.mesh.contract import (
    EXECUTOR_CONTAINER,
    EXECUTOR_TEMPLATE_ENV,
    MASKING_KEY_ENV,
    REQUEST_ENV,
    BuildRequest,
    ResolvedInput,
)
from datamesh.placement import is_local, local_path

MANAGED_BY = "datamesh-operator"
LABEL_PRODUCT = "datamesh.dev/product"
LABEL_GENERATION = "datamesh.dev/generation"
LABEL_TRIGGER = "datamesh.dev/trigger"
ANNOTATION_TOKEN = "datamesh.dev/trigger-token"
ANNOTATION_ATTEMPT = "datamesh.dev/attempt"
ANNOTATION_UPSTREAM = "datamesh.dev/upstream-versions"
#: On the pods of builds that use their domain's warm engine ("client") and on the engine's own ("server").
LABEL_ENGINE = "datamesh.dev/engine"
#: A build on the warm engine runs no JVM: Python, the staged files' footers and the Delta commit.
ENGINE_CLIENT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "250m", "memory": "768Mi"},
    "limits": {"cpu": "1", "memory": "1536Mi"},
}


def job_name(product: str, generation: int, token: str, attempt: int) -> str:
    """`<product>-<generation>-<hash of trigger>[-<attempt>]`: the same trigger always gives the same name,
    so a restarted operator finds the Job it already created instead of launching a duplicate."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:6]
    name = f"{product}-{generation}-{digest}"
    return name if attempt <= 1 else f"{name}-{attempt}"


def _resources(resources: Resources) -> dict[str, Any]:
    values = {"cpu": resources.cpu, "memory": resources.memory}
    return {"requests": dict(values), "limits": {"memory": resources.memory}}


def executor_count(product: DataProduct, domain: Domain) -> int:
    """Executor pods the build asks for (0: Spark runs in local mode inside the build pod)."""
    compute = product.spec.compute
    return compute.executors if compute and compute.executors is not None else domain.spec.compute.executors


#: Of the build container's memory limit, what the driver's JVM heap gets: the rest is the JVM's own (metaspace,
#: threads, direct buffers) and the Python build process beside it. A fixed 2g heap in a 2Gi container is an
#: OOM kill waiting for a large input.
DRIVER_HEAP_SHARE = Decimal("0.6")
MIN_HEAP_MB = 512
#: What Spark adds to an executor's heap for the pod's memory request (spark.executor.memoryOverhead defaults).
EXECUTOR_OVERHEAD_FACTOR = Decimal("1.1")
EXECUTOR_MIN_OVERHEAD_MB = 384


def _mebibytes(memory: str) -> Decimal:
    return parse_quantity(memory) / (1 << 20)


def driver_heap(memory: str) -> str:
    """spark.driver.memory for a build container whose memory limit is `memory`."""
    return f"{max(MIN_HEAP_MB, int(_mebibytes(memory) * DRIVER_HEAP_SHARE))}m"


def executor_heap(memory: str) -> str:
    """spark.executor.memory such that heap plus Spark's overhead fit the `memory` the product asked for."""
    total = _mebibytes(memory)
    heap = min(total / EXECUTOR_OVERHEAD_FACTOR, total - EXECUTOR_MIN_OVERHEAD_MB)
    return f"{max(MIN_HEAP_MB, int(heap))}m"


def spark_conf(product: DataProduct, domain: Domain, config: OperatorConfig, namespace: str) -> dict[str, str]:
    """Spark settings for the build: local mode by default, executors as pods when asked for. The platform's
    spark_defaults win over the computed heap sizes, the master and executor settings over everything."""
    compute = product.spec.compute
    executors = executor_count(product, domain)
    driver = (compute.driver if compute and compute.driver else None) or domain.spec.compute.driver
    sized = {"spark.driver.memory": driver_heap(driver.memory)}
    if not executors:
        cores = max(1, int(driver.cpu)) if driver.cpu.isdigit() else 1
        return {**sized, **config.spark_defaults, "spark.master": f"local[{cores}]"}
    executor = (compute.executor if compute and compute.executor else None) or domain.spec.compute.executor
    return {
        **sized,
        **config.spark_defaults,
        "spark.master": "k8s://https://kubernetes.default.svc",
        "spark.submit.deployMode": "client",
        "spark.executor.instances": str(executors),
        "spark.kubernetes.namespace": namespace,
        "spark.kubernetes.container.image": config.image,
        "spark.kubernetes.container.image.pullPolicy": config.image_pull_policy,
        "spark.kubernetes.authenticate.driver.serviceAccountName": config.builder_service_account,
        "spark.kubernetes.executor.request.cores": executor.cpu,
        "spark.executor.memory": executor_heap(executor.memory),
        "spark.kubernetes.executor.label.datamesh.dev/product": product.name,
    }


#: Scratch space of the build (Spark's local dirs, Python's and the JVM's temp files, the warehouse and Derby
#: folders of build.session): an emptyDir, as the root filesystem is read-only.
SCRATCH = "/tmp"
#: HOME of the project's image (Dockerfile: useradd --home-dir): an emptyDir too, for whatever writes below HOME.
#: HOME itself is not set here: the image's user defines it.
IMAGE_HOME = "/home/datamesh"
BUILD_UID = 1000


@dataclass
class Storage:
    """Volumes and mounts of the build container (and what the init container needs), by mount path."""

    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)
    create: list[str] = field(default_factory=list)
    """Host folders the init container creates (as the build's user) before the build starts."""

    def add(self, volume: dict[str, Any] | None, mount: dict[str, Any]) -> bool:
        """Mount once per path: the first wins, and the output comes first (read-write over read-only)."""
        if mount["mountPath"] in self.paths:
            return False
        self.paths.add(mount["mountPath"])
        if volume is not None:
            self.volumes.append(volume)
        self.mounts.append(mount)
        return True


def inside(path: str, root: str) -> str | None:
    """`path` normalised when it lies strictly below `root` (both absolute), else None.

    Locations are written by tenants: `..` segments are resolved before the check, so a location cannot climb
    out of the lake (or the volume) into the rest of the host."""
    if not path.startswith("/") or not root.startswith("/"):
        return None
    normal, base = os.path.normpath(path), os.path.normpath(root)
    if normal == base or os.path.commonpath([normal, base]) != base:
        return None
    return normal


class HostPathRefused(ValueError):
    """A host-lake location that resolves elsewhere through a symbolic link: mounted, it would hand the build pod
    whatever the link points at (the runtime follows it), another domain's table included."""


def host_state(path: str, root: str) -> str:
    """`dir`, `file` or `missing` for a path of the host lake as this process sees it, `unknown` when the lake is
    not visible here (an operator without `storage.mountInOperator`). Raises HostPathRefused on a symlink."""
    if not os.path.isdir(root):
        return "unknown"
    expected = os.path.join(os.path.realpath(root), os.path.relpath(path, root))
    if os.path.lexists(path) and os.path.realpath(path) != expected:
        raise HostPathRefused(f"{path}: a symlink (symbolic link) on the way; refused rather than mounted")
    if os.path.isdir(path):
        return "dir"
    return "file" if os.path.isfile(path) else "missing"


def _local(location: str) -> str | None:
    return local_path(location) if location and is_local(location) else None


def build_storage(request: BuildRequest, domain: Domain, config: OperatorConfig) -> Storage:
    """The build's own table folder read-write and each local input folder read-only, at their own paths.

    From a Domain volume (a PVC) through `subPath`s; from the host lake folder (`lake_host_path`, single-node
    labs) as hostPath volumes. A location outside both is not mounted: the build reports it missing."""
    storage = Storage()
    volume = domain.spec.storage.volume
    claim = {"name": "storage", "persistentVolumeClaim": {"claimName": f"{domain.name}-storage"}}
    root = config.lake_host_path
    targets: list[tuple[str, ResolvedInput | None]] = [(request.output_location, None)]
    targets += [(item.location, item) for item in request.inputs]
    for location, item in targets:
        path = _local(location)
        if path is None:
            continue  # an object store: nothing to mount
        read_only = item is not None
        on_volume = inside(path, volume.mount_path) if volume is not None else None
        in_lake = inside(path, root) if root else None
        if on_volume is not None and volume is not None:
            # The claim is this domain's: another domain's table at the same path lives on that domain's claim,
            # and reading this one's folder of the same name instead would be wrong data. Left unmounted.
            if item is not None and item.domain != domain.name:
                continue
            sub_path = os.path.relpath(on_volume, os.path.normpath(volume.mount_path))
            mount = {"name": "storage", "mountPath": on_volume, "subPath": sub_path, "readOnly": read_only}
            if storage.add(None, mount) and claim not in storage.volumes:
                storage.volumes.append(claim)
        elif in_lake is not None:
            state = host_state(in_lake, root)
            if item is not None and state == "missing":
                # Not mounted: the build reports the input missing. A hostPath the runtime cannot find is created
                # by it (an empty folder in the lake) or holds the pod in ContainerCreating.
                continue
            name = "lake-output" if item is None else f"lake-input-{len(storage.mounts)}"
            # No type check for the output: it may not exist yet, and a folder the kubelet created would belong
            # to root; the init container creates it as the build's user. A Delta input is a folder that must
            # exist; a file source may be a single file (its type is checked when the lake is visible here).
            kind = {"dir": "Directory", "file": "File"}.get(state, "")
            if item is not None and item.format == "delta":
                kind = "Directory"
            if item is None:
                kind = ""
            host_path = {"path": in_lake, **({"type": kind} if kind else {})}
            mount = {"name": name, "mountPath": in_lake, "readOnly": read_only}
            if storage.add({"name": name, "hostPath": host_path}, mount) and item is None:
                storage.create.append(in_lake)
    return storage


def init_containers(storage: Storage, config: OperatorConfig, security: dict[str, Any]) -> list[dict[str, Any]]:
    """`mkdir -p` of the output folder in the host lake, as the build's user, with the lake mounted only here."""
    if not storage.create:
        return []
    storage.volumes.append(
        {"name": "lake-root", "hostPath": {"path": config.lake_host_path, "type": "DirectoryOrCreate"}}
    )
    return [
        {
            "name": "prepare-output",
            "image": config.image,
            "imagePullPolicy": config.image_pull_policy,
            "command": ["mkdir", "-p", "--", *storage.create],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
            "volumeMounts": [{"name": "lake-root", "mountPath": config.lake_host_path}],
            "securityContext": security,
        }
    ]


def _secret_ref(env: str, secret: str, key: str) -> dict[str, Any]:
    # optional: a missing key must not hold the pod in CreateContainerConfigError; the build itself names what
    # is missing (MaskingKeyMissing, CredentialsUnavailable), or goes without it (the lineage key).
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}


def pod_security_context() -> dict[str, Any]:
    """The pod-level context of build and executor pods: uid/gid 1000, volumes group-owned by it, RuntimeDefault."""
    return {
        "runAsNonRoot": True,
        "runAsUser": BUILD_UID,
        "runAsGroup": BUILD_UID,
        "fsGroup": BUILD_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """The container-level context of build, executor and engine containers."""
    return {
        "runAsNonRoot": True,
        "runAsUser": BUILD_UID,
        "runAsGroup": BUILD_UID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def executor_template(storage: Storage, container_security: dict[str, Any]) -> dict[str, Any]:
    """The pod template of Spark's executor pods (spark.kubernetes.executor.podTemplateFile).

    Not the scratch folder: Spark mounts an emptyDir of its own at the driver's local dir (SCRATCH) in executors."""
    mounts = [m for m in storage.mounts if m["mountPath"] != SCRATCH]
    names = {m["name"] for m in mounts}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            # Executors talk to the driver, never to the API server.
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(),
            "containers": [{"name": EXECUTOR_CONTAINER, "securityContext": container_security, "volumeMounts": mounts}],
            "volumes": [v for v in storage.volumes if v["name"] in names],
        },
    }


def secret_env(request: BuildRequest, domain: Domain, config: OperatorConfig) -> list[dict[str, Any]]:
    """Environment variables filled from Secrets of the build's namespace: every secret reader option, the
    masking key when an input or a share copy must be masked, the lineage API key when the operator has one."""
    env: list[dict[str, Any]] = []
    for item in request.inputs:
        for ref in item.secret_options:
            # resolve_inputs already refuses both; a Job must never be the place where they slip through.
            if item.domain != domain.name:
                raise ValueError(
                    f"input {item.ref}: secret options of domain {item.domain} in a build of {domain.name}"
                )
            if ref.secret.startswith(RESERVED_SECRET_PREFIX) or ref.secret == config.build_secret:
                raise ValueError(f"input {item.ref}: option {ref.option} refers to the operator's Secret {ref.secret}")
            env.append(_secret_ref(ref.env, ref.secret, ref.key))
    if "mask" in request.share_copies or any(item.pii == "mask" and item.pii_columns for item in request.inputs):
        env.append(_secret_ref(MASKING_KEY_ENV, config.build_secret, MASKING_KEY))
    if config.lineage_api_key:
        env.append(_secret_ref(LINEAGE_API_KEY_ENV, config.build_secret, LINEAGE_API_KEY))
    return env


def build_job(
    product: DataProduct,
    domain: Domain,
    request: BuildRequest,
    *,
    name: str,
    trigger: str,
    token: str,
    attempt: int,
    upstream_versions: dict[str, int],
    config: OperatorConfig,
    engine_env: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job that runs `python -m datamesh.build` for one build of `product`; with `engine_env` (the
    domain's warm engine: engine.client_env) a small pod that runs its Spark work on that engine."""
    namespace = domain.namespace_name
    compute = product.spec.compute
    driver = (compute.driver if compute and compute.driver else None) or domain.spec.compute.driver
    timeout = (
        int(parse_duration(compute.timeout).total_seconds())
        if compute and compute.timeout
        else config.default_build_timeout_seconds
    )
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/component": "build",
        LABEL_PRODUCT: product.name,
        LABEL_GENERATION: str(request.generation),
        LABEL_TRIGGER: trigger,
        **({LABEL_ENGINE: "client"} if engine_env else {}),
    }
    env = [
        {"name": REQUEST_ENV, "value": request.to_json()},
        {"name": settings.SPARK_CONF.name, "value": json.dumps(spark_conf(product, domain, config, namespace))},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "TMPDIR", "value": SCRATCH},
        {"name": "SPARK_LOCAL_DIRS", "value": SCRATCH},
        # Only the settings meant to travel as literals, whatever else build_env holds.
        *({"name": k, "value": v} for k, v in sorted(config.build_env.items()) if k in PASSED_TO_BUILDS),
        *secret_env(request, domain, config),
        *(engine_env or []),
    ]
    if product.spec.transform is not None and product.spec.transform.python is not None:
        # The build checks the entry point again against the platform's allow-list before importing anything.
        env.append({"name": settings.PYTHON_TRANSFORMS.name, "value": ",".join(config.python_transform_modules)})
    storage = build_storage(request, domain, config)
    storage.volumes += [{"name": "scratch", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    storage.mounts += [{"name": "scratch", "mountPath": SCRATCH}, {"name": "home", "mountPath": IMAGE_HOME}]
    container_security = container_security_context()
    if executor_count(product, domain) > 0:
        # Executors read the inputs and write the table's files: the same mounts, user and confinement as the
        # driver (Spark adds its local-dir volumes and its settings to this template).
        env.append({"name": EXECUTOR_TEMPLATE_ENV, "value": json.dumps(executor_template(storage, container_security))})
    init = init_containers(storage, config, container_security)
    owner = {
        "apiVersion": product.api_version,
        "kind": product.kind,
        "name": product.name,
        "uid": product.metadata.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": config.builder_service_account,
        # Spark on Kubernetes needs the token to start executor pods; a local-mode build talks to no API.
        "automountServiceAccountToken": executor_count(product, domain) > 0,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [
            {
                "name": "build",
                "image": config.image,
                "imagePullPolicy": config.image_pull_policy,
                "command": ["python", "-m", "datamesh.build"],
                "env": env,
                "resources": ENGINE_CLIENT_RESOURCES if engine_env else _resources(driver),
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": storage.mounts,
                "securityContext": container_security,
            }
        ],
        "volumes": storage.volumes,
    }
    if init:
        pod_spec["initContainers"] = init
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                ANNOTATION_TOKEN: token,
                ANNOTATION_ATTEMPT: str(attempt),
                ANNOTATION_UPSTREAM: json.dumps(upstream_versions, sort_keys=True),
                "datamesh.dev/run-id": request.run_id,
            },
            "ownerReferences": [owner],
        },
        "spec": {
            # Retries are the operator's decision (quality failures are not worth retrying; storage is).
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout,
            "ttlSecondsAfterFinished": config.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }  # fmt: skip
