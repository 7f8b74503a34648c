# syntax=docker/dockerfile:1
# One image for the operator, the catalog API, the build pods and Spark executors:
#   docker build -t datamesh-operator:dev .
# Build pods run `python -m datamesh.build`; the operator and API run the `datamesh` console script.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# The JVM is needed here too: the Delta jars are resolved through Spark's own Ivy, so the baked set is exactly
# what `spark.jars.packages` would load at run time.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/datamesh/venv
ENV PATH=/opt/datamesh/venv/bin:$PATH
WORKDIR /src
# Metadata first: the dependency layer (pyspark is ~450 MB) is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
print("\n".join(project["dependencies"] + extras["spark"] + extras["catalog"]))
PY
RUN pip install -r /tmp/requirements.txt \
 && pip install --target /opt/pip pip setuptools wheel \
 && pip uninstall -y pip setuptools wheel
# Delta jars baked in: build pods never download anything (DATAMESH_JARS_DIR below points Spark at them).
# jars.py needs only pyspark, so this layer (a Maven download) stays cached while the code changes.
COPY operator/datamesh/build/jars.py /tmp/jars.py
RUN DATAMESH_CACHE=/tmp/datamesh-cache python /tmp/jars.py /opt/datamesh/jars \
 && test -n "$(ls /opt/datamesh/jars/*.jar)" \
 && rm -rf /tmp/datamesh-cache /tmp/jars.py

# ---------------------------------------------------------------------------------------------- app
# The project itself in its own folder: a code change rebuilds this small layer, never the ~1.5 GB above.
FROM builder AS app
COPY README.md ./
COPY operator ./operator
# pip and setuptools from outside the venv (the image's venv carries no installer), offline: this stage is
# built without the host's package-index configuration.
RUN PYTHONPATH=/opt/pip python -m pip install --no-deps --no-build-isolation --no-index --no-compile \
      --target /opt/datamesh/app .

# ---------------------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="datamesh-operator" \
      org.opencontainers.image.description="Kubernetes operator turning DataProduct contracts into governed Delta tables" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/datamesh-operator/datamesh-operator"
# Only the JRE (no compilers, no apt lists). JAVA_HOME goes through a fixed symlink so the image works on
# amd64 and arm64 alike.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* /usr/share/man/* /usr/share/doc/* \
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java \
 && groupadd --gid 1000 datamesh \
 && useradd --uid 1000 --gid 1000 --home-dir /home/datamesh --create-home --shell /usr/sbin/nologin datamesh
COPY --from=builder /opt/datamesh /opt/datamesh
COPY --from=app /opt/datamesh/app /opt/datamesh/app
COPY --chmod=0755 scripts/container-entrypoint.sh /usr/local/bin/datamesh-entrypoint
ENV PATH=/opt/datamesh/app/bin:/opt/datamesh/venv/bin:$PATH \
    PYTHONPATH=/opt/datamesh/app \
    JAVA_HOME=/opt/java \
    DATAMESH_JARS_DIR=/opt/datamesh/jars \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/datamesh
# Numeric user: Kubernetes' runAsNonRoot can only verify a numeric one. 1000 is what build pods run as.
USER 1000:1000
WORKDIR /home/datamesh
# Kubernetes ignores HEALTHCHECK; the operator's liveness is kopf's endpoint (--liveness .../healthz).
HEALTHCHECK NONE
# `datamesh COMMAND ...`, except `executor`, which Spark on Kubernetes passes to executor pods.
ENTRYPOINT ["datamesh-entrypoint"]
CMD ["operator"]
