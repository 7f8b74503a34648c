"""The Spark session every build uses: local[2] by default, Delta enabled, UTC, quiet."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING

from datamesh.build.jars import jar_settings
from datamesh.mesh.contract import EXECUTOR_CONTAINER, EXECUTOR_TEMPLATE_ENV
from datamesh.settings import DRIVER_MEMORY, SHUFFLE_PARTITIONS, SPARK_CONF, SPARK_MASTER

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MASTER_ENV = SPARK_MASTER.name
DRIVER_MEMORY_ENV = DRIVER_MEMORY.name
SHUFFLE_PARTITIONS_ENV = SHUFFLE_PARTITIONS.name
#: Spark settings chosen by the operator for this build (JSON object): master, executors, its defaults.
CONF_ENV = SPARK_CONF.name


def spark_settings(
    master: str | None = None, driver_memory: str | None = None, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """Every setting of the build session, as plain data so the benchmark and tests use the very same ones."""
    env = os.environ if environ is None else environ
    settings = {
        "spark.master": master or SPARK_MASTER.get(env),
        "spark.app.name": "datamesh-build",
        "spark.driver.memory": driver_memory or DRIVER_MEMORY.get(env),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        # Transforms read their declared inputs only: no `SELECT * FROM parquet.`/any/path``.
        "spark.sql.runSQLOnFiles": "false",
        # Spark expands ${...} in SQL text before parsing, even inside literals: '${env:HOME}' reads the
        # environment. Admission refuses the syntax; the session does not expand it either.
        "spark.sql.variable.substitute": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # 200 shuffle partitions is sized for clusters; on a pod's few cores it is mostly task overhead.
        "spark.sql.shuffle.partitions": SHUFFLE_PARTITIONS.get(env),
        # Delta's default of 50 snapshot partitions makes every small log replay a 50-task job.
        "spark.databricks.delta.snapshotPartitions": "2",
        # Vacuum lists files with this many tasks (default 10000): half a minute of task overhead on two cores.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
        # Vacuum would otherwise add two commits per build, so the published version would not be the data's.
        "spark.databricks.delta.vacuum.logging.enabled": "false",
        "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "datamesh-warehouse"),
        # Build pods are short-lived; the collector does not need to keep up with a long-running service.
        "spark.driver.extraJavaOptions": "-XX:+UseParallelGC -Dderby.system.home=" + tempfile.gettempdir(),
    }
    settings.update(jar_settings(environ))
    settings.update(operator_settings(env))
    if master:
        settings["spark.master"] = master
    settings.update(in_cluster_settings(settings["spark.master"], env))
    return settings


#: The master the operator names for executors as pods; the build resolves it inside its pod.
IN_CLUSTER_MASTER = "k8s://https://kubernetes.default.svc"


def in_cluster_settings(master: str, env: Mapping[str, str]) -> dict[str, str]:
    """Client mode on Kubernetes, from inside the build pod: the API server by the address the kubelet gives every
    pod (no cluster DNS needed), executors calling back to this pod's IP, owned by this pod (so they go when it
    goes), and made from the operator's pod template, written to a file as Spark wants it."""
    if not master.startswith("k8s://"):
        return {}
    found: dict[str, str] = {}
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if master == IN_CLUSTER_MASTER and host and port:
        found["spark.master"] = f"k8s://https://{f'[{host}]' if ':' in host else host}:{port}"
    if env.get("POD_IP"):
        found["spark.driver.host"] = env["POD_IP"]
        found["spark.driver.bindAddress"] = "0.0.0.0"
    if env.get("POD_NAME"):
        found["spark.kubernetes.driver.pod.name"] = env["POD_NAME"]
    template = env.get(EXECUTOR_TEMPLATE_ENV)
    if template:
        path = os.path.join(tempfile.gettempdir(), "executor-pod-template.json")
        with open(path, "w", encoding="utf-8") as out:
            out.write(template)
        found["spark.kubernetes.executor.podTemplateFile"] = path
        found["spark.kubernetes.executor.podTemplateContainerName"] = EXECUTOR_CONTAINER
    return found


def operator_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The operator's per-build settings; they win over the defaults above (but not over an explicit master)."""
    raw = SPARK_CONF.get(env)
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"{CONF_ENV} is not a JSON object: {error}") from error
    if not isinstance(loaded, dict):
        raise ValueError(f"{CONF_ENV} is not a JSON object")
    return {str(k): str(v) for k, v in loaded.items()}


def create_session(master: str | None = None, driver_memory: str | None = None) -> SparkSession:
    """A new (or the running) Spark session with Delta Lake and the build settings."""
    from pyspark.sql import SparkSession

    # Python UDFs (the PII masking) run in worker processes started from PYSPARK_PYTHON, else whatever `python3`
    # is first on PATH: the build's own interpreter is the one with the project installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_settings(master, driver_memory).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
