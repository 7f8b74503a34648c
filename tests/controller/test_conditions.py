from datetime import UTC, datetime, timedelta

from datamesh.controller import conditions as cond

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_transition_time_moves_only_when_status_flips() -> None:
    first = cond.merge([], [cond.Desired("Fresh", "True", "WithinSla", "a")], generation=1, now=T0)
    same = cond.merge(first, [cond.Desired("Fresh", "True", "WithinSla", "b")], generation=2, now=T0 + timedelta(1))
    assert same[0].last_transition_time == T0
    assert same[0].message == "b" and same[0].observed_generation == 2
    flipped = cond.merge(same, [cond.Desired("Fresh", "False", "Stale", "c")], generation=2, now=T0 + timedelta(2))
    assert flipped[0].last_transition_time == T0 + timedelta(2)


def test_untouched_conditions_are_kept_and_ready_comes_first() -> None:
    conditions = cond.merge([], [cond.Desired("Fresh", "True", "X"), cond.Desired("CatalogSynced", "True", "Y")],
                            generation=1, now=T0)  # fmt: skip
    conditions = cond.merge(conditions, [cond.Desired("Ready", "True", "Ready")], generation=1, now=T0)
    assert [c.type for c in conditions] == ["Ready", "Fresh", "CatalogSynced"]


def test_ready_summary_takes_the_first_failing_reason() -> None:
    ready = cond.summarize(
        [cond.Desired("Validated", "True", "Valid"), cond.Desired("QualityPassed", "False", "QualityFailed", "m")]
    )
    assert (ready.status, ready.reason, ready.message) == ("False", "QualityFailed", "m")
    assert cond.summarize([cond.Desired("Built", "Unknown", "Building")]).status == "Unknown"
    assert cond.summarize([cond.Desired("Built", "True", "Published")]).status == "True"
