"""What the suite needs from the machine beyond Python: a tool that is missing skips a test on a developer's
machine and FAILS it in CI (CI=true), where a skip would be a failure in disguise. `make test-fast` sets
DATAMESH_NO_SYSTEM_INSTALL=1: unit runs never install system packages; the whole suite installs what it needs."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required in CI, but {reason}", pytrace=False)
    pytest.skip(reason)


def may_install_system_packages() -> bool:
    allowed = os.environ.get("DATAMESH_NO_SYSTEM_INSTALL") != "1"
    return allowed and os.geteuid() == 0 and shutil.which("apt-get") is not None
