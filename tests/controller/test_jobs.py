from pathlib import Path

from datamesh.build.contract import REQUEST_ENV, BuildRequest
from datamesh.controller.config import OperatorConfig
from datamesh.controller.jobs import build_job, job_name, spark_conf
from datamesh.manifests import load_mesh

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_job_names_are_deterministic_and_short() -> None:
    assert job_name("customer-360", 3, "spec:g3", 1) == job_name("customer-360", 3, "spec:g3", 1)
    assert job_name("customer-360", 3, "spec:g3", 1) != job_name("customer-360", 3, "manual:x", 1)
    assert job_name("customer-360", 3, "spec:g3", 2).endswith("-2")
    assert len(job_name("a" * 40, 123456, "t", 9)) <= 63


def test_job_runs_the_build_entry_point_with_the_request() -> None:
    mesh = load_mesh([EXAMPLES])
    product = mesh.find_product("customer-360")
    product.metadata["uid"] = "u-1"
    domain = mesh.domains["sales"]
    request = BuildRequest(namespace="sales", name=product.name, domain="sales", generation=2, run_id="r",
                           spec=product.spec, inputs=[], output_location="/lake/x")  # fmt: skip
    job = build_job(product, domain, request, name="customer-360-2-abc", trigger="spec", token="spec:g2",
                    attempt=1, upstream_versions={}, config=OperatorConfig())  # fmt: skip
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "datamesh.build"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert BuildRequest.from_json(env[REQUEST_ENV or ""] or "").output_location == "/lake/x"
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "datamesh-builder"


def test_spark_runs_local_unless_executors_are_asked_for() -> None:
    mesh = load_mesh([EXAMPLES])
    product = mesh.find_product("customer-360")
    domain = mesh.domains["sales"]
    assert spark_conf(product, domain, OperatorConfig(), "sales") == {"spark.master": "local[1]"}
    product.spec.compute = product.spec.compute.model_validate({"executors": 3}) if product.spec.compute else None
    from datamesh.api.dataproduct import Compute

    product.spec.compute = Compute(executors=3)
    conf = spark_conf(product, domain, OperatorConfig(), "sales")
    assert conf["spark.master"].startswith("k8s://") and conf["spark.executor.instances"] == "3"
