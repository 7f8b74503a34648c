"""Fixtures of the packaging tests. helm is built from the Go module proxy by scripts/install-tools.sh (cached);
only when that fails do the tests that need it skip, naming the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.tools import HelmUnavailable, build_helm


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return build_helm()
    except HelmUnavailable as error:
        pytest.skip(str(error))
