"""`datamesh operator` with no flags (no webhook, default settings) starts, and keeps handling watch events after
its start: a change made once it is up reaches its handlers (it is not merely still alive after some seconds)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from devcluster.cluster import free_port
from tests.conftest import REPO, Cluster
from tests.operator.conftest import unique, wait_for


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_the_operator_runs_with_default_settings(crds: Cluster, tmp_path: Path) -> None:
    env = {**crds.env, "DATAMESH_CATALOG": "off", "DATAMESH_METRICS_PORT": "0"}
    env.pop("DATAMESH_WEBHOOK_PORT", None)
    port, log = free_port(), tmp_path / "operator.log"
    policy = unique("startup")
    argv = [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", "--namespace", "kube-public",
            "--liveness", f"http://127.0.0.1:{port}/healthz"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def output() -> str:
        return log.read_text(errors="replace")

    def running(what: str) -> bool:
        assert process.poll() is None, f"the operator exited ({what}):\n{output()[-3000:]}"
        return True

    try:
        # kopf serves the liveness endpoint once its startup handlers (ours: `configure`) are done.
        wait_for("the liveness endpoint", lambda: running("starting") and _healthy(port))
        # A policy (cluster-scoped: watched whatever --namespace says) made now reaches this process's handler.
        crds.apply(yaml.safe_dump({
            "apiVersion": "datamesh.dev/v1alpha1", "kind": "GovernancePolicy", "metadata": {"name": policy},
            "spec": {"description": "startup test: in force nowhere", "enforcement": "Audit",
                     "scope": {"domains": [f"{policy}-none"]}},
        }))  # fmt: skip
        wait_for(
            "the policy's watch event handled",
            lambda: (
                running("watching")
                and any(
                    policy in line and "policy_event" in line and "succeeded" in line for line in output().splitlines()
                )
            ),
        )
        assert running("after handling an event") and _healthy(port)
    finally:
        crds.kubectl("delete", "governancepolicy", policy, "--ignore-not-found", "--wait=false", check=False)
        process.terminate()
        process.wait(timeout=30)
    assert "Traceback" not in output(), output()[-3000:]
