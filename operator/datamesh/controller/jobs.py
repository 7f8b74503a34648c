"""Build Jobs: deterministic names and the Job manifest, as pure functions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from datamesh.api import DataProduct
from datamesh.api.dataproduct import Resources
from datamesh.api.domain import Domain
from datamesh.api.durations import parse_duration
from datamesh.build.contract import REQUEST_ENV, BuildRequest
from datamesh.controller.config import OperatorConfig

MANAGED_BY = "datamesh-operator"
LABEL_PRODUCT = "datamesh.dev/product"
LABEL_GENERATION = "datamesh.dev/generation"
LABEL_TRIGGER = "datamesh.dev/trigger"
ANNOTATION_TOKEN = "datamesh.dev/trigger-token"
ANNOTATION_ATTEMPT = "datamesh.dev/attempt"
ANNOTATION_UPSTREAM = "datamesh.dev/upstream-versions"


def job_name(product: str, generation: int, token: str, attempt: int) -> str:
    """`<product>-<generation>-<hash of trigger>[-<attempt>]`: the same trigger always gives the same name,
    so a restarted operator finds the Job it already created instead of launching a duplicate."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:6]
    name = f"{product}-{generation}-{digest}"
    return name if attempt <= 1 else f"{name}-{attempt}"


def _resources(resources: Resources) -> dict[str, Any]:
    values = {"cpu": resources.cpu, "memory": resources.memory}
    return {"requests": dict(values), "limits": {"memory": resources.memory}}


def spark_conf(product: DataProduct, domain: Domain, config: OperatorConfig, namespace: str) -> dict[str, str]:
    """Spark settings for the build: local mode by default, executors as pods when asked for."""
    compute = product.spec.compute
    executors = compute.executors if compute and compute.executors is not None else domain.spec.compute.executors
    driver = (compute.driver if compute and compute.driver else None) or domain.spec.compute.driver
    if not executors:
        cores = max(1, int(driver.cpu)) if driver.cpu.isdigit() else 1
        return {**config.spark_defaults, "spark.master": f"local[{cores}]"}
    executor = (compute.executor if compute and compute.executor else None) or domain.spec.compute.executor
    return {
        **config.spark_defaults,
        "spark.master": "k8s://https://kubernetes.default.svc",
        "spark.submit.deployMode": "client",
        "spark.executor.instances": str(executors),
        "spark.kubernetes.namespace": namespace,
        "spark.kubernetes.container.image": config.image,
        "spark.kubernetes.authenticate.driver.serviceAccountName": config.builder_service_account,
        "spark.kubernetes.executor.request.cores": executor.cpu,
        "spark.executor.memory": executor.memory.replace("Gi", "g").replace("Mi", "m"),
        "spark.kubernetes.executor.label.datamesh.dev/product": product.name,
    }


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
) -> dict[str, Any]:
    """The batch/v1 Job that runs `python -m datamesh.build` for one build of `product`."""
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
    }
    env = [
        {"name": REQUEST_ENV, "value": request.to_json()},
        {"name": "DATAMESH_SPARK_CONF", "value": json.dumps(spark_conf(product, domain, config, namespace))},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        *({"name": k, "value": v} for k, v in sorted(config.build_env.items())),
    ]
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if config.lake_host_path:
        volumes.append({"name": "lake", "hostPath": {"path": config.lake_host_path, "type": "DirectoryOrCreate"}})
        mounts.append({"name": "lake", "mountPath": config.lake_host_path})
    volume = domain.spec.storage.volume
    if volume is not None:
        volumes.append({"name": "storage", "persistentVolumeClaim": {"claimName": f"{domain.name}-storage"}})
        mounts.append({"name": "storage", "mountPath": volume.mount_path})
    owner = {
        "apiVersion": product.api_version,
        "kind": product.kind,
        "name": product.name,
        "uid": product.metadata.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
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
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": config.builder_service_account,
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "build",
                            "image": config.image,
                            "imagePullPolicy": config.image_pull_policy,
                            "command": ["python", "-m", "datamesh.build"],
                            "env": env,
                            "resources": _resources(driver),
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": mounts,
                            "securityContext": {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}},
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }  # fmt: skip
