"""`datamesh operator` with no flags (no webhook, default settings) starts and keeps running."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import REPO, Cluster


def test_the_operator_runs_with_default_settings(crds: Cluster) -> None:
    env = {**crds.env, "DATAMESH_CATALOG": "off", "DATAMESH_METRICS_PORT": "0"}
    env.pop("DATAMESH_WEBHOOK_PORT", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "datamesh.cli.main", "operator", "--standalone", "--namespace", "kube-public"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(8)
        assert process.poll() is None, process.communicate()[0].decode()[-3000:]
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output[-3000:]
