"""The warm engine's decisions: who may use it, what it mounts, which builds run on it, when it runs."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datamesh import settings
from datamesh.api.dataproduct import Compute
from datamesh.api.domain import Domain
from datamesh.controller import children, engine
from datamesh.controller.config import OperatorConfig
from datamesh.controller.jobs import LABEL_ENGINE, HostPathRefused, build_job, build_storage
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import BuildRequest, ResolvedInput

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _mesh(lake: Path) -> Any:
    mesh = load_mesh([EXAMPLES])
    for domain in mesh.domains.values():
        domain.spec.storage.location = str(lake / domain.name / "gold")
        domain.metadata["uid"] = f"uid-{domain.name}"
    mesh.domains["sales"].spec.compute.engine = "connect"
    return mesh


def _request(product: Any, domain: Domain, lake: Path, inputs: list[ResolvedInput]) -> BuildRequest:
    return BuildRequest(namespace=domain.namespace_name, name=product.name, domain=domain.name, generation=1,
                        run_id="r", spec=product.spec, inputs=inputs,
                        output_location=str(lake / domain.name / "gold" / product.name))  # fmt: skip


def _input(ref: str, domain: str, location: Path) -> ResolvedInput:
    return ResolvedInput(
        ref=ref, domain=domain, view=ref.rsplit(".", 1)[-1], location=str(location), format="parquet", kind="source"
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    for folder in ("sales/gold", "sales/bronze/crm", "marketing/bronze/web", "marketing/gold/secret"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path


def test_the_token_is_stable_per_domain_and_differs_between_domains() -> None:
    key = b"k" * 32
    assert engine.engine_token(key, "uid-a") == engine.engine_token(key, "uid-a")
    assert engine.engine_token(key, "uid-a") != engine.engine_token(key, "uid-b")
    assert engine.engine_token(key, "uid-a") != engine.engine_token(b"j" * 32, "uid-a")
    with pytest.raises(ValueError):
        engine.engine_token(key, "")


def test_replicas_follow_use_and_go_to_zero_after_the_idle_period() -> None:
    idle = timedelta(minutes=15)
    assert engine.replicas(None, NOW, idle, 0) == (0, None)
    assert engine.replicas(None, NOW, idle, 1)[0] == 1
    count, wake = engine.replicas(NOW - timedelta(minutes=5), NOW, idle, 0)
    assert count == 1 and wake == pytest.approx(600)
    assert engine.replicas(NOW - timedelta(minutes=16), NOW, idle, 0) == (0, None)
    # A builder still running keeps it up however long ago the last one started.
    assert engine.replicas(NOW - timedelta(days=1), NOW, idle, 2)[0] == 1
    # A last use in the future (a clock step back) counts as now, not as a long stay.
    assert engine.replicas(NOW + timedelta(days=30), NOW, idle, 0) == (1, pytest.approx(900))


def test_the_engine_mounts_its_domain_read_write_and_foreign_inputs_read_only(lake: Path) -> None:
    mesh = _mesh(lake)
    sales = mesh.domains["sales"]
    config = OperatorConfig(lake_host_path=str(lake))
    own = lake / "sales" / "bronze" / "crm"
    foreign = lake / "marketing" / "bronze" / "web"
    storage = engine.engine_storage(sales, [str(own), str(foreign), str(lake / "nowhere")], config)
    table = engine.mount_table(storage)
    assert table[str(lake / "sales" / "gold")] is False
    assert table[str(foreign)] is True and table[str(own)] is True
    # Nothing else of the lake: not the other domain's gold, not the lake root, not a missing input.
    assert not engine.covered(str(lake / "marketing" / "gold" / "secret"), table, read_only=True)
    assert not engine.covered(str(lake), table, read_only=True)
    assert str(lake / "nowhere") not in table
    # A read-only mount never covers a write.
    assert not engine.covered(str(foreign / "x"), table, read_only=False)
    assert engine.covered(str(lake / "sales" / "gold" / "p@v2"), table, read_only=False)
    # A sibling whose name starts like the root is not inside it.
    assert not engine.covered(str(lake / "sales" / "gold-other"), table, read_only=True)


def test_a_symlinked_root_or_an_object_store_gets_no_engine(lake: Path) -> None:
    mesh = _mesh(lake)
    sales = mesh.domains["sales"]
    config = OperatorConfig(lake_host_path=str(lake))
    os.symlink(lake / "marketing" / "gold", lake / "sales" / "linked")
    sales.spec.storage.location = str(lake / "sales" / "linked")
    with pytest.raises(HostPathRefused):
        engine.engine_storage(sales, [], config)
    sales.spec.storage.location = "s3a://bucket/sales"
    with pytest.raises(ValueError, match="object store"):
        engine.engine_storage(sales, [], config)
    sales.spec.storage.location = "/elsewhere/sales"
    with pytest.raises(ValueError, match="neither"):
        engine.engine_storage(sales, [], config)


def test_builds_go_to_the_engine_only_when_it_has_every_mount_and_can_do_the_work(lake: Path) -> None:
    mesh = _mesh(lake)
    sales = mesh.domains["sales"]
    product = mesh.find_product("customer-360")
    config = OperatorConfig(lake_host_path=str(lake))
    foreign = lake / "marketing" / "bronze" / "web"
    request = _request(product, sales, lake, [_input("bronze.web.sessions", "marketing", foreign)])
    build = engine.mount_table(build_storage(request, sales, config))
    deployed = engine.mount_table(engine.engine_storage(sales, [str(foreign)], config))
    assert engine.placement(product, sales, request, build, deployed, config) is None
    # The engine not yet deployed, or deployed before this input was granted: its own pod, saying why.
    assert engine.placement(product, sales, request, build, None, config) == "the engine is not deployed yet"
    older = engine.mount_table(engine.engine_storage(sales, [], config))
    assert f"does not mount {foreign}" in str(engine.placement(product, sales, request, build, older, config))
    # Work only the JVM can do stays in a pod.
    product.spec.compute = Compute(executors=2)
    assert "executors" in str(engine.placement(product, sales, request, build, deployed, config))
    product.spec.compute = None
    product.spec.outputs[0].mode = "merge"
    assert "merge" in str(engine.placement(product, sales, request, build, deployed, config))
    product.spec.outputs[0].mode = None
    metastore = OperatorConfig(lake_host_path=str(lake), build_env={settings.METASTORE_TABLE.name: "gold.{product}"})
    assert "metastore" in str(engine.placement(product, sales, request, build, deployed, metastore))
    # A domain without an engine: "" (nothing to say in the event).
    assert engine.placement(product, mesh.domains["marketing"], request, build, deployed, config) == ""


def test_the_engine_runs_confined_and_serves_only_token_holders(lake: Path) -> None:
    mesh = _mesh(lake)
    sales = mesh.domains["sales"]
    config = OperatorConfig(lake_host_path=str(lake), image="datamesh:test")
    storage = engine.engine_storage(sales, [], config)
    objects = {o["kind"]: o for o in engine.manifests(sales, storage, config, token="t" * 64, replica_count=0,
                                                        last_used=NOW)}  # fmt: skip
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 0
    assert deployment["metadata"]["annotations"][engine.ANNOTATION_LAST_USED] == NOW.isoformat()
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == engine.ENGINE_NAME
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "datamesh.engine"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    token_env = next(e for e in container["env"] if e["name"] == settings.ENGINE_TOKEN.name)
    assert "value" not in token_env and token_env["valueFrom"]["secretKeyRef"]["name"] == engine.ENGINE_NAME
    assert container["readinessProbe"]["httpGet"]["port"] == engine.GUARD_PORT
    # Explicit limits: the namespace's LimitRange default (the builds' driver size) must not cap the engine.
    assert container["resources"]["limits"]["cpu"] == container["resources"]["requests"]["cpu"] == "1"
    host_paths = [v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v]
    assert host_paths == [str(lake / "sales" / "gold"), str(lake)]  # the lake root only for the init container
    assert all(m["mountPath"] != str(lake) for m in container["volumeMounts"])
    assert objects["Service"]["spec"]["clusterIP"] == "None"  # clients reach the engine's pod, not a virtual IP
    policy = objects["NetworkPolicy"]["spec"]
    assert policy["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {LABEL_ENGINE: "client"}}}]
    assert objects["Secret"]["data"][engine.TOKEN_KEY]
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == "uid-sales" for o in objects.values())


def test_a_build_on_the_engine_is_a_small_pod_with_the_token_by_reference(lake: Path) -> None:
    mesh = _mesh(lake)
    sales = mesh.domains["sales"]
    product = mesh.find_product("customer-360")
    config = OperatorConfig(lake_host_path=str(lake))
    request = _request(product, sales, lake, [])
    job = build_job(product, sales, request, name="j", trigger="spec", token="t", attempt=1, upstream_versions={},
                    config=config, engine_env=engine.client_env("sales"))  # fmt: skip
    template = job["spec"]["template"]
    assert template["metadata"]["labels"][LABEL_ENGINE] == "client"
    container = template["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env[settings.ENGINE_URL.name]["value"] == "sc://datamesh-engine.sales.svc:15002"
    assert "value" not in env[settings.ENGINE_TOKEN.name]
    assert container["resources"]["requests"]["cpu"] == "250m"
    pod_job = build_job(product, sales, request, name="j", trigger="spec", token="t", attempt=1,
                        upstream_versions={}, config=config)  # fmt: skip
    assert LABEL_ENGINE not in pod_job["spec"]["template"]["metadata"]["labels"]


def test_build_pods_may_reach_the_engine_only_in_a_domain_that_has_one(lake: Path) -> None:
    mesh = _mesh(lake)

    def egress(domain: Domain) -> list[dict[str, Any]]:
        found = [
            o for o in children.children(domain, "datamesh-builder") if o["metadata"]["name"] == "datamesh-build-egress"
        ]
        return list(found[0]["spec"]["egress"])

    to_engine = [r for r in egress(mesh.domains["sales"]) if "to" in r]
    assert to_engine and to_engine[0]["to"][0]["podSelector"]["matchLabels"] == {LABEL_ENGINE: "server"}
    assert not [r for r in egress(mesh.domains["marketing"]) if "to" in r]


@pytest.mark.parametrize(
    ("compute", "field"),
    [
        ({"engine": "spark-connect"}, "engine"),
        ({"engine": "connect", "connect": {"idleAfter": "10 seconds"}}, "idleAfter"),  # would churn JVMs
        ({"engine": "connect", "connect": {"idleAfter": "3 days"}}, "idleAfter"),  # a domain's memory held for days
        ({"engine": "connect", "connect": {"idleAfter": "${env:HOME}"}}, "idleAfter"),
        ({"engine": "connect", "connect": {"resources": {"cpu": "65"}}}, "cpu"),
        ({"engine": "connect", "connect": {"resources": {"memory": "-1Gi"}}}, "memory"),
        ({"engine": "connect", "connect": {"token": "mine"}}, "token"),  # the token is the operator's to make
    ],
)
def test_hostile_engine_settings_are_refused_naming_the_field(compute: dict[str, Any], field: str) -> None:
    from pydantic import ValidationError

    body = {"metadata": {"name": "d"}, "spec": {"owner": "o", "description": "d", "storage": {"location": "/lake/d"},
                                               "compute": compute}}  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        Domain.model_validate(body)
    assert field in str(refused.value)
