"""`datamesh operator` with no flags (no webhook, default settings) starts, and keeps handling watch events after
its start: a change made once it is up reaches its cache (it is not merely still alive after some seconds)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from devcluster.cluster import free_port
from tests.conftest import REPO, Cluster
from tests.operator.conftest import product_manifest, unique, wait_for


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.read().decode() if answer.status == 200 else None
    except OSError:
        return None


def test_the_operator_runs_with_default_settings(crds: Cluster, tmp_path: Path) -> None:
    health, metrics = free_port(), free_port()
    env = {**crds.env, "DATAMESH_CATALOG": "off", "DATAMESH_METRICS_PORT": str(metrics),
           "DATAMESH_METRICS_ADDR": "127.0.0.1"}  # fmt: skip
    env.pop("DATAMESH_WEBHOOK_PORT", None)
    log = tmp_path / "operator.log"
    argv = [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", "--namespace", "kube-public",
            "--liveness", f"http://127.0.0.1:{health}/healthz"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def running(what: str) -> bool:
        assert process.poll() is None, f"the operator exited ({what}):\n{log.read_text(errors='replace')[-3000:]}"
        return True

    # A product of a domain nobody has: only this process's own cache (its /metrics) can count it.
    domain = unique("nowhere")
    product = product_manifest(unique("startup"), domain, [{"product": "absent"}], sql="SELECT 1 AS x",
                               schema=[{"name": "x", "type": "int"}])  # fmt: skip
    product["metadata"]["namespace"] = "kube-public"
    counted = f'datamesh_domain_products{{domain="{domain}"}} 1.0'
    try:
        # kopf serves the liveness endpoint once its startup handlers (ours: `configure`) are done.
        wait_for("the liveness endpoint", lambda: running("starting") and _get(f"http://127.0.0.1:{health}/healthz"))
        crds.apply(yaml.safe_dump(product))
        wait_for(
            "the product in the operator's cache",
            lambda: running("watching") and counted in (_get(f"http://127.0.0.1:{metrics}/metrics") or ""),
        )
        assert running("after handling an event")
    finally:
        crds.kubectl("delete", "dataproduct", product["metadata"]["name"], "-n", "kube-public", "--wait=false",
                     check=False)  # fmt: skip
        process.terminate()
        process.wait(timeout=30)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]
