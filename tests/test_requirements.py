"""A missing tool skips a test on a developer's machine and fails it in CI, where a skip hides a gap."""

from __future__ import annotations

import pytest

from tests.requirements import may_install_system_packages, missing


def test_in_ci_a_missing_tool_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI, but helm is not built"):
        missing("helm is not built")


def test_elsewhere_it_is_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        missing("helm is not built")


def test_unit_runs_never_install_system_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMESH_NO_SYSTEM_INSTALL", "1")
    assert may_install_system_packages() is False
