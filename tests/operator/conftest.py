"""The operator under test: the real `datamesh operator` process against the session's API server.

With DATAMESH_TEST_OPERATOR=external the tests assume an operator already runs in the cluster (the kind
end-to-end path installs it with the Helm chart) and start none.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from devcluster.cluster import free_port
from tests.conftest import REPO, Cluster, open_to_builds
from tests.lineage_sink import LineageSink

#: The sharing endpoint the test operator writes into profiles (nothing listens there: see serve_api).
SHARING_ENDPOINT = "http://sharing.datamesh.test/delta-sharing"


class Operator:
    """Start, kill and restart the operator process; its log goes to a file for failure reports."""

    def __init__(self, cluster: Cluster, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.lineage = workdir / "lineage.jsonl"
        self.extra_env = {
            "DATAMESH_CATALOG_URL": f"sqlite:///{workdir / 'catalog.db'}",
            # Written into recipients' profile Secrets; tests read through their own in-process API instead.
            "DATAMESH_SHARING_ENDPOINT": SHARING_ENDPOINT,
            **(env or {}),
        }
        self.log = workdir / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.sink: LineageSink | None = None
        self.webhook_port = free_port()
        self.metrics_port = free_port()

    def start(self, extra_args: Sequence[str] = ()) -> None:
        """Start `datamesh operator` (with `extra_args` appended, e.g. `--namespace X`) and wait for its webhook."""
        env = {
            **self.cluster.env,
            "DATAMESH_RETRY_BACKOFF_SECONDS": "2",
            "DATAMESH_COALESCE_SECONDS": "2",
            "DATAMESH_LAKE_HOST_PATH": "",
            "DATAMESH_METRICS_PORT": str(self.metrics_port),
            "DATAMESH_METRICS_ADDR": "127.0.0.1",
            **self.node_env(),
            **self.extra_env,
        }
        webhook = ["--webhook-port", str(self.webhook_port), "--webhook-cert-dir", str(self.workdir / "webhook")]
        argv = [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", *webhook, *extra_args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                            start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            probe = self.cluster.kubectl(
                "get", "validatingwebhookconfiguration", "datamesh.dev", "-o", "yaml", check=False
            )
            if probe.returncode == 0 and f":{self.webhook_port}/" in probe.stdout:
                return
            assert self.process.poll() is None, f"operator exited:\n{self.tail()}"
            time.sleep(0.3)
        raise AssertionError(f"operator did not register its webhook:\n{self.tail()}")

    @property
    def pod_security_level(self) -> str:
        """The Pod Security level this operator puts on domain namespaces."""
        env = {**self.node_env(), **self.extra_env}
        return env.get("DATAMESH_POD_SECURITY_LEVEL", "restricted")

    def node_env(self) -> dict[str, str]:
        """On the local node: build pods from the project's image, the test lakes mounted from the host (a lab
        setting, hence Pod Security `privileged` on domain namespaces), lineage to a collector on the node."""
        cluster = self.cluster
        if not cluster.image or cluster.lake_root is None:
            return {"DATAMESH_LINEAGE_FILE": str(self.lineage)}
        if self.sink is None:
            # Build pods are not on this host's filesystem: they send their events over HTTP, as in production.
            self.sink = LineageSink(cluster.node_ip, self.lineage)
        return {
            "DATAMESH_BUILD_IMAGE": cluster.image,
            "DATAMESH_BUILD_IMAGE_PULL_POLICY": "Never",
            "DATAMESH_LAKE_HOST_PATH": str(cluster.lake_root),
            "DATAMESH_POD_SECURITY_LEVEL": "privileged",
            "OPENLINEAGE_URL": self.sink.url,
        }

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60, operator: Operator | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    hint = f"\noperator log:\n{operator.tail()}" if operator else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r}){hint}")


def condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    for item in (body.get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            found: dict[str, Any] = item
            return found
    return {}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def domain_manifest(name: str, lake: Path, *, sources: list[dict[str, Any]] | None = None,
                    teams: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "Domain",
        "metadata": {"name": name},
        "spec": {
            "owner": f"{name}@example.com",
            "description": f"test domain {name}",
            "teamGroups": teams or [f"{name}-team"],
            "storage": {"location": str(_storage(lake, name))},
            "sources": sources or [],
        },
    }


def _storage(lake: Path, domain: str) -> Path:
    location = lake / domain / "gold"
    location.mkdir(parents=True, exist_ok=True)
    open_to_builds(lake)
    return location


def product_manifest(name: str, domain: str, inputs: list[dict[str, Any]], *, sql: str,
                     schema: list[dict[str, Any]], checks: list[dict[str, Any]] | None = None,
                     **spec: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name, "namespace": domain},
        "spec": {
            "domain": domain,
            "owner": f"{domain}@example.com",
            "description": f"test product {name}",
            "sla": {"freshness": "1 hour", "qualityScore": 0.9},
            "schema": schema,
            "inputs": inputs,
            "transform": {"sql": sql},
            "outputs": [{"name": "table", "format": "delta"}],
            "governance": {"qualityChecks": checks or []},
            **spec,
        },
    }


def apply_and_wait_domain(cluster: Cluster, body: dict[str, Any], operator: Operator | None) -> None:
    cluster.apply(yaml.safe_dump(body))
    name = body["metadata"]["name"]
    wait_for(
        f"domain {name} Ready",
        lambda: condition(cluster.get("domain", name), "Ready").get("status") == "True",
        operator=operator,
    )
