#!/bin/sh
# The image's entry point: `datamesh "$@"` (default `operator`), except for Spark executor pods.
# Spark on Kubernetes starts executors from `spark.kubernetes.container.image` (this image) with the single
# argument `executor` and its settings in SPARK_* variables, expecting the entry point of Spark's own images;
# this is that branch, run on pyspark's bundled jars.
set -eu
if [ "${1:-}" = "executor" ]; then
  shift
  spark_home="${SPARK_HOME:-$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
  # SPARK_JAVA_OPT_0, _1, ... carry the executor's JVM options, in order.
  java_opts=$(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^SPARK_JAVA_OPT_[0-9]*=//' | tr '\n' ' ')
  # shellcheck disable=SC2086  # java_opts is a list of options
  exec "${JAVA_HOME:-/opt/java}/bin/java" $java_opts \
    -Xms"${SPARK_EXECUTOR_MEMORY:-1g}" -Xmx"${SPARK_EXECUTOR_MEMORY:-1g}" \
    -cp "$spark_home/jars/*:${SPARK_CLASSPATH:-}:${DATAMESH_JARS_DIR:-/opt/datamesh/jars}/*" \
    org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
    --driver-url "$SPARK_DRIVER_URL" \
    --executor-id "$SPARK_EXECUTOR_ID" \
    --cores "$SPARK_EXECUTOR_CORES" \
    --app-id "$SPARK_APPLICATION_ID" \
    --hostname "$SPARK_EXECUTOR_POD_IP" \
    --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
    --podName "${SPARK_EXECUTOR_POD_NAME:-}" \
    "$@"
fi
exec datamesh "$@"
