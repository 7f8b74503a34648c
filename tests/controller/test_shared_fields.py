"""Cached models share their sets of given fields (controller/shared_fields.py): less memory, same behaviour, and
a change in place of a cached model fails instead of marking a field as given in every cached product."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import tracemalloc
from typing import Any

import pytest

from datamesh.api.dataproduct import DataProductStatus
from datamesh.controller.cache import Cache
from datamesh.controller.shared_fields import FieldSets, SharedFieldsSet

STATUS: dict[str, Any] = {
    "observedGeneration": 1,
    "conditions": [
        {"type": kind, "status": "True", "reason": "Published", "message": "table version 3 published",
         "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}
        for kind in ("Ready", "Validated", "Compliant", "InputsReady", "Built", "QualityPassed", "Fresh")
    ],
    "lastBuild": {"attempt": 1, "generation": 1, "job": "p-1-844cff", "outcome": "Published", "token": "spec:g1",
                  "runId": "2cd1804c-6c35-59e7-9b2e-2c7dfbabe00a", "startedAt": "2026-01-01T00:00:00Z",
                  "trigger": "spec"},
    "tableVersion": 3,
}  # fmt: skip


def product_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name, "namespace": "sales", "resourceVersion": "1", "generation": 1},
        "spec": {"domain": "sales", "owner": "a@example.com", "description": "d",
                 "sla": {"freshness": "1 hour"}, "schema": [{"name": "id", "type": "string"}],
                 "inputs": [{"source": "sales.raw"}], "outputs": [{"name": "t", "format": "delta"}]},
        "status": json.loads(json.dumps(STATUS)),
    }  # fmt: skip


def statuses(count: int) -> list[DataProductStatus]:
    return [DataProductStatus.model_validate(json.loads(json.dumps(STATUS))) for _ in range(count)]


def test_cached_products_given_the_same_fields_share_one_set() -> None:
    cache = Cache()
    cache.put_product(product_body("a"))
    cache.put_product(product_body("b"))
    a, b = cache.world.products[("sales", "a")], cache.world.products[("sales", "b")]
    assert a.status is not None and b.status is not None
    assert a.status.conditions[0].__pydantic_fields_set__ is b.status.conditions[6].__pydantic_fields_set__
    assert a.spec.__pydantic_fields_set__ is b.spec.__pydantic_fields_set__
    assert isinstance(a.status.__pydantic_fields_set__, SharedFieldsSet)


def test_a_shared_model_reads_dumps_and_copies_as_before() -> None:
    [plain, shared] = statuses(2)
    FieldSets().share(shared)
    assert shared == plain
    assert shared.model_dump(by_alias=True, exclude_unset=True) == plain.model_dump(by_alias=True, exclude_unset=True)
    assert shared.model_fields_set == plain.model_fields_set

    changed = shared.model_copy(update={"row_count": 5})  # what the reconcilers do with a status
    assert type(changed.__pydantic_fields_set__) is set and "row_count" in changed.model_fields_set
    assert "row_count" not in shared.model_fields_set and shared.row_count is None

    deep = shared.model_copy(deep=True)
    deep.row_count = 7
    deep.conditions[0].message = "changed in the copy"
    assert shared.row_count is None and shared.conditions[0].message == "table version 3 published"
    assert copy.deepcopy(shared) == plain
    assert pickle.loads(pickle.dumps(shared)) == plain


def test_a_change_in_place_of_a_cached_model_fails_instead_of_reaching_every_product() -> None:
    [first, second] = statuses(2)
    sets = FieldSets()
    sets.share(first)
    sets.share(second)
    with pytest.raises(TypeError, match="cached model is shared and read-only"):
        first.row_count = 3  # not given: would mark row_count as given in `second` too
    assert "row_count" not in second.model_fields_set
    first.table_version = 4  # already given: nothing shared changes
    assert second.table_version == 3 and "tableVersion" in second.model_dump(by_alias=True, exclude_unset=True)
    shared = first.__pydantic_fields_set__
    for change in (lambda: shared.update({"x"}), lambda: shared.discard("conditions"), shared.clear, shared.pop):
        with pytest.raises(TypeError):
            change()
    with pytest.raises(TypeError):
        shared |= {"x"}
    assert len(sets) >= 3  # status, condition, build: one set per combination of given fields


def test_sharing_halves_the_memory_of_cached_statuses() -> None:
    def traced(share: bool) -> int:
        raw = [json.loads(json.dumps(STATUS)) for _ in range(500)]
        gc.collect()
        tracemalloc.start()
        try:
            kept = [DataProductStatus.model_validate(item) for item in raw]
            if share:
                sets = FieldSets()
                for status in kept:
                    sets.share(status)
            gc.collect()
            return tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    assert traced(share=True) < 0.6 * traced(share=False)


def test_a_combination_of_fields_goes_with_the_last_model_that_has_it() -> None:
    sets = FieldSets()
    kept = statuses(1)[0]
    sets.share(kept)
    combinations = len(sets)
    churned = [DataProductStatus.model_validate({**STATUS, f"{field}": 1}) for field in ("rowCount", "consumerCount")]
    for status in churned:
        sets.share(status)
    assert len(sets) == combinations + 2
    del churned, status
    gc.collect()
    assert len(sets) == combinations
    assert kept.model_dump(by_alias=True, exclude_unset=True)["tableVersion"] == 3
