"""The informer cache: version guard, slim Jobs and lost Jobs."""

from __future__ import annotations

from typing import Any

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


def test_jobs_are_cached_slim_and_a_job_deleted_unfinished_is_remembered() -> None:
    cache = Cache()
    job = {"metadata": {"name": "p-1-abc", "namespace": "sales", "labels": {"datamesh.dev/product": "p"},
                        "managedFields": [{"manager": "x"}]},
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
    done = {"metadata": {"name": "p-1-abc", "namespace": "sales", "labels": {"datamesh.dev/product": "p"}},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}  # fmt: skip
    cache.put_job(done)
    cache.put_job(done, deleted=True)
    assert cache.lost_job_of(("sales", "p")) is None
