"""Fixtures of the monitoring tests: promtool, built from the Go module proxy by scripts/build-promtool.sh
(cached; `make tools` builds it first), and the example product whose rules they check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from datamesh.api import DataProduct
from tests.conftest import REPO


@pytest.fixture(scope="session")
def promtool() -> Path:
    """The promtool scripts/build-promtool.sh built. A build that fails fails the tests: nothing here skips."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-promtool.sh")], capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        pytest.fail(f"scripts/build-promtool.sh could not build promtool:\n{tail}", pytrace=False)
    return Path(result.stdout.strip().splitlines()[-1]) / "promtool"


@pytest.fixture
def customer_360() -> DataProduct:
    body = yaml.safe_load((REPO / "examples" / "products" / "customer-360.yaml").read_text())
    body["metadata"]["uid"] = "0b6f3c1e-0000-4000-8000-000000000360"
    return DataProduct.model_validate(body)
