"""Build counters count the build the reconcile just started or finished (its new status), not the one before."""

from __future__ import annotations

from datetime import UTC, datetime

from datamesh.api.dataproduct import BuildInfo
from datamesh.controller.metrics import count_build_event
from datamesh.controller.metrics_registry import REGISTRY


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_started_build_counts_under_its_own_trigger() -> None:
    before = sample("datamesh_builds_started_total", domain="m-start", trigger="upstream")
    count_build_event("m-start", BuildInfo(job="j", trigger="upstream", outcome="Running"), "BuildStarted")
    assert sample("datamesh_builds_started_total", domain="m-start", trigger="upstream") == before + 1


def test_a_finished_build_counts_its_outcome_and_duration() -> None:
    done = BuildInfo(job="j", trigger="spec", outcome="Published", duration_seconds=42.0,
                     finished_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    count_build_event("m-done", done, "BuildSucceeded")
    count_build_event("m-done", done.model_copy(update={"outcome": "QualityFailed"}), "QualityFailed")
    assert sample("datamesh_builds_finished_total", domain="m-done", outcome="Published") == 1
    assert sample("datamesh_builds_finished_total", domain="m-done", outcome="QualityFailed") == 1
    assert sample("datamesh_builds_finished_total", domain="m-done", outcome="Running") == 0
    assert sample("datamesh_build_duration_seconds_count", domain="m-done") == 2
    assert sample("datamesh_build_duration_seconds_sum", domain="m-done") == 84.0


def test_other_events_count_nothing() -> None:
    count_build_event("m-none", BuildInfo(job="j", trigger="spec", outcome="Running"), "Stale")
    count_build_event("m-none", None, "BuildStarted")
    assert sample("datamesh_builds_started_total", domain="m-none", trigger="spec") == 0
