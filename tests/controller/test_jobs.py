import json
from pathlib import Path
from typing import Any

import pytest

from datamesh.api import DataProduct
from datamesh.api.dataproduct import Compute
from datamesh.api.domain import Domain, PersistentVolume, Source
from datamesh.controller.config import OperatorConfig
from datamesh.controller.jobs import build_job, job_name, secret_env, spark_conf
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import (
    EXECUTOR_TEMPLATE_ENV,
    MASKING_KEY_ENV,
    REQUEST_ENV,
    BuildRequest,
    ResolvedInput,
    SecretOptionRef,
)
from datamesh.mesh.resolve import resolve_inputs
from datamesh.mesh.world import World

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
    # The example's driver has 2Gi: the heap leaves room for the JVM's own memory and the Python process.
    local = {"spark.master": "local[1]", "spark.driver.memory": "1228m"}
    assert spark_conf(product, domain, OperatorConfig(), "sales") == local
    from datamesh.api.dataproduct import Compute, Resources

    product.spec.compute = Compute(executors=3, executor=Resources(cpu="2", memory="4Gi"))
    conf = spark_conf(product, domain, OperatorConfig(), "sales")
    assert conf["spark.master"].startswith("k8s://") and conf["spark.executor.instances"] == "3"
    # Heap plus Spark's overhead (10 %, at least 384Mi) fit the 4Gi asked for.
    assert conf["spark.executor.memory"] == "3712m"
    # A platform default wins over the computed size; the master never yields.
    platform = OperatorConfig(spark_defaults={"spark.driver.memory": "3g", "spark.master": "yarn"})
    product.spec.compute = None
    assert spark_conf(product, domain, platform, "sales") == {"spark.master": "local[1]", "spark.driver.memory": "3g"}


@pytest.mark.parametrize(
    ("memory", "driver", "executor"),
    [("2Gi", "1228m", "1664m"), ("512Mi", "512m", "512m"), ("1G", "572m", "569m"), ("1Ti", "629145m", "953250m")],
)
def test_heaps_follow_the_containers_memory(memory: str, driver: str, executor: str) -> None:
    from datamesh.controller.jobs import driver_heap, executor_heap

    assert (driver_heap(memory), executor_heap(memory)) == (driver, executor)


# ---------------------------------------------------------------------------------------------- least privilege
LAKE = "/lake"
LINEAGE_KEY = "lineage-api-key-value-7f3a"
#: What Pod Security `restricted` allows (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}  # fmt: skip


def _job(product: DataProduct, domain: Domain, inputs: list[ResolvedInput], output: str,
         config: OperatorConfig) -> dict[str, Any]:  # fmt: skip
    request = BuildRequest(namespace=domain.namespace_name, name=product.name, domain=domain.name, run_id="r",
                           spec=product.spec, inputs=inputs, output_location=output)  # fmt: skip
    return build_job(product, domain, request, name="p-1-abc", trigger="spec", token="spec:g1", attempt=1,
                     upstream_versions={}, config=config)  # fmt: skip


def _example() -> tuple[DataProduct, Domain]:
    mesh = load_mesh([EXAMPLES])
    return mesh.find_product("customer-360"), mesh.domains["sales"]


def _input(location: str, fmt: str = "delta", domain: str = "sales", **extra: Any) -> ResolvedInput:
    return ResolvedInput(view="v", kind="source", ref="t", domain=domain, location=location, format=fmt, **extra)  # type: ignore[arg-type]


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def _container_violations(container: dict[str, Any], pod_context: dict[str, Any]) -> list[str]:
    context = container.get("securityContext") or {}
    name = container["name"]

    def setting(key: str) -> Any:
        return context.get(key, pod_context.get(key))

    capabilities = context.get("capabilities") or {}
    checks = {
        "privileged": bool(context.get("privileged")),
        "allowPrivilegeEscalation not false": context.get("allowPrivilegeEscalation") is not False,
        "capabilities not dropped": "ALL" not in (capabilities.get("drop") or []),
        "capabilities added": bool(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}),
        "runAsNonRoot not true": setting("runAsNonRoot") is not True,
        "runAsUser 0": setting("runAsUser") == 0,
        "no seccomp profile": (setting("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"),
        "hostPort": any(port.get("hostPort") for port in container.get("ports") or []),
    }
    return [f"{name}: {problem}" for problem, failed in checks.items() if failed]


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The Pod Security `restricted` rules that can be checked on a pod spec alone."""
    found = [flag for flag in ("hostNetwork", "hostPID", "hostIPC") if pod.get(flag)]
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    for container in [*(pod.get("initContainers") or []), *pod["containers"]]:
        found += _container_violations(container, pod.get("securityContext") or {})
    return found


def test_restricted_rules_are_checked_for_real() -> None:
    # The checker must be able to fail: a pod as builds were before (whole lake on a hostPath) violates it.
    loose = {"securityContext": {}, "volumes": [{"name": "lake", "hostPath": {"path": "/lake"}}],
             "containers": [{"name": "c", "securityContext": {"privileged": True}}]}  # fmt: skip
    assert len(restricted_violations(loose)) >= 5


def test_without_host_folders_the_build_pod_is_restricted_and_read_only() -> None:
    product, domain = _example()
    inputs = [_input("/lake/sales/bronze/a"), _input("s3a://bucket/b", "parquet")]
    job = _job(product, domain, inputs, "/lake/sales/gold/p", OperatorConfig(lake_host_path=""))
    pod = _pod(job)
    assert restricted_violations(pod) == []
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["runAsGroup"] == 1000
    assert pod["automountServiceAccountToken"] is False
    assert "initContainers" not in pod
    # Scratch space where Spark, the JVM and Python write; nothing of the lake.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts.keys() == {"/tmp", "/home/datamesh"}
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TMPDIR"] == "/tmp" and env["SPARK_LOCAL_DIRS"] == "/tmp"


def test_executors_get_the_service_account_token() -> None:
    product, domain = _example()
    product.spec.compute = Compute(executors=2)
    assert _pod(_job(product, domain, [], "/x", OperatorConfig(lake_host_path="")))["automountServiceAccountToken"]


def test_executor_pods_get_the_drivers_mounts_and_confinement_from_a_template() -> None:
    product, domain = _example()
    inputs = [_input("/lake/sales/bronze/customers", "parquet")]
    local = _pod(_job(product, domain, inputs, "/lake/sales/gold/p", OperatorConfig(lake_host_path=LAKE)))
    assert EXECUTOR_TEMPLATE_ENV not in {e["name"] for e in local["containers"][0]["env"]}
    product.spec.compute = Compute(executors=2)
    pod = _pod(_job(product, domain, inputs, "/lake/sales/gold/p", OperatorConfig(lake_host_path=LAKE)))
    build = pod["containers"][0]
    env = {e["name"]: e for e in build["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    template = json.loads(env[EXECUTOR_TEMPLATE_ENV]["value"])
    (executor,) = template["spec"]["containers"]
    assert executor["name"] == "executor" and executor["securityContext"] == build["securityContext"]
    # The same table mounts (the input read-only, the output read-write) and home; not the lake root, which only
    # the driver's init container mounts to create the output folder, nor /tmp, where Spark mounts its own.
    assert executor["volumeMounts"] == [m for m in build["volumeMounts"] if m["mountPath"] != "/tmp"]
    assert len(executor["volumeMounts"]) == len(build["volumeMounts"]) - 1
    assert "lake-root" not in {v["name"] for v in template["spec"]["volumes"]}
    assert {v["name"] for v in template["spec"]["volumes"]} == {m["name"] for m in executor["volumeMounts"]}
    assert template["spec"]["automountServiceAccountToken"] is False
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True


def test_host_lake_mounts_only_the_inputs_read_only_and_the_output_read_write() -> None:
    product, domain = _example()
    inputs = [
        _input("/lake/sales/bronze/customers", "parquet"),
        _input("file:///lake/marketing/gold/orders"),
        _input("/lake/marketing/gold/orders"),  # the same folder twice: mounted once
        _input("s3a://bucket/sessions", "parquet"),  # object store: no mount
        _input("/etc/secrets", "csv"),  # outside the lake: never mounted
        _input("/lake/../etc", "csv"),  # climbing out of the lake: never mounted
        _input("/lake", "csv"),  # the whole lake: never mounted
    ]
    job = _job(product, domain, inputs, "/lake/sales/gold/customer-360", OperatorConfig(lake_host_path=LAKE))
    pod = _pod(job)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    lake = {path: m for path, m in mounts.items() if "hostPath" in volumes[m["name"]]}
    assert lake.keys() == {
        "/lake/sales/gold/customer-360",
        "/lake/sales/bronze/customers",
        "/lake/marketing/gold/orders",
    }
    for path, mount in lake.items():
        assert volumes[mount["name"]]["hostPath"]["path"] == path  # at the same path as on the host
        assert mount["readOnly"] is (path != "/lake/sales/gold/customer-360")
    assert volumes[mounts["/lake/marketing/gold/orders"]["name"]]["hostPath"]["type"] == "Directory"
    # The output may not exist yet: created by an init container running as the build's user, the only place
    # the lake root is mounted.
    (init,) = pod["initContainers"]
    assert init["command"] == ["mkdir", "-p", "--", "/lake/sales/gold/customer-360"]
    assert init["securityContext"]["runAsUser"] == 1000 and init["securityContext"]["readOnlyRootFilesystem"]
    assert [volumes[m["name"]]["hostPath"]["path"] for m in init["volumeMounts"]] == [LAKE]
    assert "lake-root" not in {m["name"] for m in pod["containers"][0]["volumeMounts"]}
    # hostPath is what makes this the development mode: not restricted.
    assert any("hostPath" in v for v in restricted_violations(pod))


def test_domain_volume_is_mounted_by_sub_path() -> None:
    product, domain = _example()
    domain.spec.storage.volume = PersistentVolume(mount_path="/data")
    inputs = [_input("/data/upstream"), _input("/data/theirs", domain="marketing")]
    job = _job(product, domain, inputs, "/data/customer-360", OperatorConfig(lake_host_path=""))
    pod = _pod(job)
    assert restricted_violations(pod) == []
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [{"name": "storage", "persistentVolumeClaim": {"claimName": "sales-storage"}}]
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "storage"]
    assert mounts == [
        {"name": "storage", "mountPath": "/data/customer-360", "subPath": "customer-360", "readOnly": False},
        {"name": "storage", "mountPath": "/data/upstream", "subPath": "upstream", "readOnly": True},
    ]  # another domain's table is on its own claim, not on this one: not mounted
    # An output elsewhere: the claim is not mounted at all.
    pod = _pod(_job(product, domain, [], "s3a://bucket/out", OperatorConfig(lake_host_path="")))
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]


def _secret_mesh() -> tuple[DataProduct, Domain, World]:
    mesh = load_mesh([EXAMPLES])
    domain = mesh.domains["sales"]
    domain.spec.sources[0] = Source.model_validate({
        "name": "bronze.crm.customers", "location": "s3a://crm/customers", "format": "csv",
        "options": {"header": "true"},
        "secretOptions": [
            {"option": "fs.s3a.access.key", "secretKeyRef": {"name": "s3-creds", "key": "access"}},
            {"option": "fs.s3a.secret.key", "secretKeyRef": {"name": "s3-creds", "key": "secret"}},
        ],
        "columns": [{"name": "email", "pii": True}],
    })  # fmt: skip
    world = World(mesh.domains, mesh.products, mesh.policies)
    return mesh.find_product("customer-360"), domain, world


def test_no_secret_travels_as_a_literal() -> None:
    product, domain, world = _secret_mesh()
    resolution = resolve_inputs(product, world)
    assert resolution.ok, resolution.problem_message
    # The masking key is needed: an input with PII read masked (the other domain's view of it).
    resolution.inputs[0] = resolution.inputs[0].model_copy(update={"pii": "mask"})
    passed = {"OPENLINEAGE_URL": "http://lineage:5000", "OPENLINEAGE_API_KEY": LINEAGE_KEY}
    config = OperatorConfig(lake_host_path="", lineage_api_key=LINEAGE_KEY, build_env=passed)
    job = _job(product, domain, resolution.inputs, "s3a://gold/customer-360", config)
    text = json.dumps(job)
    assert LINEAGE_KEY not in text
    container = _pod(job)["containers"][0]
    by_name = {e["name"]: e for e in container["env"]}
    request = BuildRequest.from_json(by_name[REQUEST_ENV]["value"])
    customers = next(i for i in request.inputs if i.ref == "bronze.crm.customers")
    assert customers.options == {"header": "true"}
    assert [(r.option, r.env) for r in customers.secret_options] == [
        ("fs.s3a.access.key", "DATAMESH_SECRET_0_0"), ("fs.s3a.secret.key", "DATAMESH_SECRET_0_1")]  # fmt: skip
    assert by_name["DATAMESH_SECRET_0_1"] == {
        "name": "DATAMESH_SECRET_0_1",
        "valueFrom": {"secretKeyRef": {"name": "s3-creds", "key": "secret", "optional": True}},
    }
    assert by_name[MASKING_KEY_ENV]["valueFrom"]["secretKeyRef"] == {
        "name": "datamesh-build", "key": "masking-key", "optional": True}  # fmt: skip
    assert by_name["OPENLINEAGE_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "datamesh-build", "key": "openlineage-api-key", "optional": True}  # fmt: skip
    assert by_name["OPENLINEAGE_URL"]["value"] == "http://lineage:5000"  # not secret: literal
    # Every env value that is a literal is one of the known non-secret settings.
    literal = {e["name"] for e in container["env"] if "value" in e}
    assert literal <= {REQUEST_ENV, "DATAMESH_SPARK_CONF", "TMPDIR", "SPARK_LOCAL_DIRS", "OPENLINEAGE_URL"}


def test_builds_get_only_the_secrets_they_need() -> None:
    product, domain = _example()
    request = BuildRequest(namespace="sales", name=product.name, domain="sales", run_id="r", spec=product.spec,
                           inputs=[_input("/x", pii_columns=["email"], pii="clear")], output_location="/o")  # fmt: skip
    assert secret_env(request, domain, OperatorConfig(lineage_api_key=None)) == []


def test_a_job_never_routes_the_operators_secret_or_another_domains() -> None:
    product, domain = _example()
    ref = SecretOptionRef(option="o", env="DATAMESH_SECRET_0_0", secret="datamesh-build", key="masking-key")
    request = BuildRequest(namespace="sales", name=product.name, domain="sales", run_id="r", spec=product.spec,
                           inputs=[_input("/x", secret_options=[ref])], output_location="/o")  # fmt: skip
    with pytest.raises(ValueError, match="operator's Secret"):
        secret_env(request, domain, OperatorConfig())
    ref = SecretOptionRef(option="o", env="DATAMESH_SECRET_0_0", secret="s3", key="k")
    request.inputs = [_input("/x", domain="marketing", secret_options=[ref])]
    with pytest.raises(ValueError, match="domain marketing"):
        secret_env(request, domain, OperatorConfig())


def test_the_webhook_service_reference_is_namespace_slash_name() -> None:
    from datamesh.controller.handlers import parse_service

    assert parse_service("") is None
    assert parse_service("datamesh-system/dm-webhook") == ("datamesh-system", "dm-webhook")
    for bad in ("just-a-name", "/name", "ns/", "a/b/c"):
        with pytest.raises(ValueError, match="NAMESPACE/NAME"):
            parse_service(bad)


def test_host_lake_paths_are_checked_where_the_lake_is_visible(tmp_path: Path) -> None:
    from datamesh.controller.jobs import HostPathRefused

    product, domain = _example()
    lake = tmp_path / "lake"
    (lake / "sales/bronze/customers").mkdir(parents=True)
    (lake / "sales/bronze/one.csv").write_text("a\n1\n")
    (lake / "marketing/gold/victim").mkdir(parents=True)
    config = OperatorConfig(lake_host_path=str(lake))
    inputs = [_input(str(lake / "sales/bronze/customers"), "parquet"),
              _input(str(lake / "sales/bronze/one.csv"), "csv"),
              _input(str(lake / "sales/bronze/absent"), "parquet")]  # fmt: skip
    pod = _pod(_job(product, domain, inputs, str(lake / "sales/gold/p"), config))
    volumes = {v["name"]: v.get("hostPath") for v in pod["volumes"]}
    paths = {hp["path"]: hp.get("type") for hp in volumes.values() if hp}
    assert paths[str(lake / "sales/bronze/customers")] == "Directory"
    assert paths[str(lake / "sales/bronze/one.csv")] == "File"
    # A missing input is not mounted (the runtime would create it in the lake): the build reports it missing.
    assert str(lake / "sales/bronze/absent") not in paths
    # A symlink anywhere on the way is refused before any pod exists: the runtime would follow it.
    (lake / "sales/gold").mkdir(parents=True)
    (lake / "sales/gold/sneaky").symlink_to(lake / "marketing/gold/victim", target_is_directory=True)
    with pytest.raises(HostPathRefused, match="symbolic link"):
        _job(product, domain, [], str(lake / "sales/gold/sneaky"), config)
    (lake / "sales/bronze/linked").symlink_to(lake / "marketing/gold/victim", target_is_directory=True)
    with pytest.raises(HostPathRefused, match="symbolic link"):
        _job(product, domain, [_input(str(lake / "sales/bronze/linked"))], str(lake / "sales/gold/p"), config)
