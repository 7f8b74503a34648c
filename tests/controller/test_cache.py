"""The informer cache: version guard, slim Jobs, lost Jobs, and objects that cannot be read."""

from __future__ import annotations

from typing import Any

import pytest

from datamesh.api import Domain, GovernancePolicy
from datamesh.api.dataproduct import DataProductSpec, DataProductStatus
from datamesh.controller.cache import Cache


def product_body(version: str, description: str = "d") -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": "p", "namespace": "sales", "resourceVersion": version, "generation": 1,
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"domain": "sales", "owner": "a@example.com", "description": description,
                 "sla": {"freshness": "1 hour"}, "schema": [{"name": "id", "type": "string"}],
                 "inputs": [{"source": "sales.raw"}], "outputs": [{"name": "t", "format": "delta"}]},
    }  # fmt: skip


def test_only_newer_versions_are_stored_and_reported() -> None:
    cache = Cache()
    assert cache.put_product(product_body("10", "first")) is True
    # The watch event of the version our own write already stored: nothing new, no reconcile needed.
    assert cache.put_product(product_body("10", "first")) is False
    assert cache.put_product(product_body("9", "late")) is False
    assert cache.world.products[("sales", "p")].spec.description == "first"
    assert cache.put_product(product_body("11", "second")) is True
    stored = cache.world.products[("sales", "p")]
    assert stored.spec.description == "second"
    assert "managedFields" not in stored.metadata


OWNER = {"apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct", "name": "p", "uid": "u-1", "controller": True}


def test_a_job_that_only_carries_the_labels_is_not_a_build() -> None:
    cache = Cache()
    forged = {"metadata": {"name": "p-1-abc", "namespace": "sales", "labels": {"datamesh.dev/product": "p"}}}
    assert cache.put_job(forged) is None
    other = {**OWNER, "uid": "someone-else"}
    cache.put_product({**product_body("1"), "metadata": {**product_body("1")["metadata"], "uid": "u-1"}})
    assert cache.put_job({"metadata": {**forged["metadata"], "ownerReferences": [other]}}) is None
    assert cache.put_job({"metadata": {**forged["metadata"], "ownerReferences": [OWNER]}}) == ("sales", "p")
    assert [j["metadata"]["name"] for j in cache.jobs_of(("sales", "p"))] == ["p-1-abc"]


def test_jobs_are_cached_slim_and_a_job_deleted_unfinished_is_remembered() -> None:
    cache = Cache()
    job = {"metadata": {"name": "p-1-abc", "namespace": "sales", "labels": {"datamesh.dev/product": "p"},
                        "ownerReferences": [OWNER], "managedFields": [{"manager": "x"}]},
           "spec": {"template": {"spec": {"containers": [{"name": "build", "image": "i"}]}}},
           "status": {"active": 1}}  # fmt: skip
    assert cache.put_job(job) == ("sales", "p")
    (cached,) = cache.jobs_of(("sales", "p"))
    assert set(cached) == {"metadata", "status"} and "managedFields" not in cached["metadata"]
    cache.put_job(job, deleted=True)
    assert cache.jobs_of(("sales", "p")) == []
    lost = cache.lost_job_of(("sales", "p"))
    assert lost is not None and lost["metadata"]["name"] == "p-1-abc"
    # A newer build replaces the memory of the lost one.
    cache.put_job({**job, "metadata": {**job["metadata"], "name": "p-1-abc-2"}})
    assert cache.lost_job_of(("sales", "p")) is None


def test_a_finished_job_deleted_later_is_not_lost() -> None:
    cache = Cache()
    done = {"metadata": {"name": "p-1-abc", "namespace": "sales", "labels": {"datamesh.dev/product": "p"},
                         "ownerReferences": [OWNER]},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}  # fmt: skip
    cache.put_job(done)
    cache.put_job(done, deleted=True)
    assert cache.lost_job_of(("sales", "p")) is None


# Bodies that make reading raise something other than a ValidationError: the object becomes invalid with a message,
# nothing escapes into the reconcile loop and nothing is skipped silently.

UNFORESEEN = [
    RecursionError("maximum recursion depth exceeded"),
    OverflowError("date value out of range"),
    KeyError("ſ"),
    TypeError("unhashable type: 'dict'"),
    ValueError("not from a validator"),
]


def _raising(error: Exception) -> Any:
    def model_validate(*args: Any, **kwargs: Any) -> Any:
        raise error

    return model_validate


@pytest.mark.parametrize("error", UNFORESEEN, ids=lambda e: type(e).__name__)
def test_a_product_that_cannot_be_read_is_invalid_with_a_message(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache()
    assert cache.put_product(product_body("10", "first")) is True
    monkeypatch.setattr(DataProductSpec, "model_validate", _raising(error))
    assert cache.put_product(product_body("11", "second")) is True
    assert ("sales", "p") not in cache.world.products  # the old version must not stand in for the new one
    invalid = cache.invalid_products[("sales", "p")]
    (problem,) = invalid.problems
    assert problem.path == "spec"
    assert problem.message == f"cannot be read: {type(error).__name__}: {error}"
    assert invalid.body["spec"]["description"] == "second"
    # Once readable again, it is valid again.
    monkeypatch.undo()
    assert cache.put_product(product_body("12", "third")) is True
    assert ("sales", "p") not in cache.invalid_products
    assert cache.world.products[("sales", "p")].spec.description == "third"


def test_a_product_whose_name_breaks_the_whole_object_is_invalid_not_an_exception() -> None:
    body = product_body("10")
    body["metadata"]["name"] = "p" * 41  # a valid spec, but too long a name for the build Jobs
    cache = Cache()
    assert cache.put_product(body) is True
    (problem,) = cache.invalid_products[("sales", "p" * 41)].problems
    assert "metadata.name must be a DNS label of at most 40 characters" in problem.message


def test_an_unreadable_status_is_dropped_not_the_product(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DataProductStatus, "model_validate", _raising(OverflowError("year 10000 is out of range")))
    body = {**product_body("10"), "status": {"dataUpdatedAt": "9999-12-31T23:59:59Z"}}
    cache = Cache()
    assert cache.put_product(body) is True
    assert cache.world.products[("sales", "p")].status is None
    assert cache.invalid_products == {}


def domain_body(name: str = "sales") -> dict[str, Any]:
    return {"apiVersion": "datamesh.dev/v1alpha1", "kind": "Domain", "metadata": {"name": name},
            "spec": {"owner": "o", "description": "d", "storage": {"location": "/lake/sales"}}}  # fmt: skip


@pytest.mark.parametrize("error", UNFORESEEN, ids=lambda e: type(e).__name__)
def test_a_domain_that_cannot_be_read_is_invalid_with_a_message(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache()
    cache.put_domain(domain_body())
    monkeypatch.setattr(Domain, "model_validate", _raising(error))
    assert cache.put_domain(domain_body()) == "sales"
    assert "sales" not in cache.world.domains
    body, problems = cache.invalid_domains["sales"]
    assert body["metadata"]["name"] == "sales"
    assert [str(p) for p in problems] == [f"spec: cannot be read: {type(error).__name__}: {error}"]


def policy_body(name: str = "gov", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "datamesh.dev/v1alpha1", "kind": "GovernancePolicy", "metadata": {"name": name},
            "spec": {"productRules": [{"name": "r", "requiredFields": ["tags"]}], **spec}}  # fmt: skip


@pytest.mark.parametrize("error", UNFORESEEN, ids=lambda e: type(e).__name__)
def test_a_policy_that_cannot_be_read_is_kept_out_and_recorded(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache()
    cache.put_policy(policy_body())
    assert "gov" in cache.world.policies
    monkeypatch.setattr(GovernancePolicy, "model_validate", _raising(error))
    cache.put_policy(policy_body())
    assert "gov" not in cache.world.policies
    assert [str(p) for p in cache.invalid_policies["gov"]] == [f"spec: cannot be read: {type(error).__name__}: {error}"]


def test_a_schema_invalid_policy_is_recorded_with_its_fields_and_forgotten_when_fixed_or_deleted() -> None:
    cache = Cache()
    cache.put_policy(policy_body(productRules=[{"name": "r", "retention": {"max": "200 years"}}]))
    assert "gov" not in cache.world.policies
    (problem,) = cache.invalid_policies["gov"]
    assert problem.path == "spec.productRules[0].retention.max"
    assert problem.message == "200 years is longer than the maximum of 100 years"
    cache.put_policy(policy_body())
    assert "gov" in cache.world.policies and "gov" not in cache.invalid_policies
    cache.put_policy(policy_body(enforcement="Never"))
    assert "gov" in cache.invalid_policies
    cache.drop_policy("gov")
    assert cache.invalid_policies == {} and cache.world.policies == {}
