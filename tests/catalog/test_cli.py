"""`datamesh api` serving for real (a subprocess) and `datamesh catalog search/show` against it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from datamesh.cli.catalog import kubeconfig_token
from datamesh.cli.main import main
from devcluster.cluster import free_port
from tests.catalog.mesh import Tokens
from tests.conftest import Cluster


@pytest.fixture(scope="module")
def api_process(cluster: Cluster, served: tuple[str, Tokens, str]) -> Iterator[str]:
    """`datamesh api` on a free port over the served test mesh's catalog."""
    _, _, catalog_url = served
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "datamesh.cli.main",
            "api",
            "--port",
            str(port),
            "--catalog-url",
            catalog_url,
            "--kubeconfig",
            str(cluster.kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "datamesh api did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_search_prints_products_best_quality_first(
    api_process: str, served: tuple[str, Tokens, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, tokens, _ = served
    assert main(["catalog", "search", "--url", api_process, "--token", tokens.sales]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "DOMAIN", "QUALITY"]
    assert [line.split()[0] for line in lines[1:]] == ["sales/orders", "sales/customers", "sales/refunds"]
    assert (
        main(
            [
                "catalog",
                "search",
                "camp",
                "--domain",
                "marketing",
                "--url",
                api_process,
                "--token",
                tokens.marketing,
                "--json",
            ]
        )
        == 0
    )
    assert [item["name"] for item in json.loads(capsys.readouterr().out)] == ["campaigns"]


def test_show_prints_the_contract_and_lineage(
    api_process: str,
    served: tuple[str, Tokens, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, tokens, _ = served
    monkeypatch.setenv("DATAMESH_API_URL", api_process)
    monkeypatch.setenv("DATAMESH_TOKEN", tokens.marketing)
    assert main(["catalog", "show", "campaigns"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("marketing/campaigns  (marketing, internal)")
    assert "health: degraded" in out and "product sales/customers" in out and "email" in out
    assert main(["catalog", "show", "sales/orders"]) == 1  # not visible to marketing
    assert "404" in capsys.readouterr().err


def test_without_a_token_the_cli_reports_401(
    api_process: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATAMESH_TOKEN", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert main(["catalog", "search", "--url", api_process]) == 1
    assert "401" in capsys.readouterr().err


def test_the_default_token_comes_from_the_kubeconfig_user(tmp_path: Path) -> None:
    config = {
        "current-context": "dev",
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "me"}}],
        "users": [{"name": "other", "user": {"token": "nope"}}, {"name": "me", "user": {"token": "tok-123"}}],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    assert kubeconfig_token({"KUBECONFIG": str(path)}) == "tok-123"
    config["users"] = [{"name": "me", "user": {"client-certificate-data": "x"}}]
    path.write_text(yaml.safe_dump(config))
    assert kubeconfig_token({"KUBECONFIG": str(path)}) is None
