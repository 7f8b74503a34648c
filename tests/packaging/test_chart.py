"""The Helm chart: lint, schema, what each values combination renders, and the API server accepting it all."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.conftest import Cluster
from tests.packaging.tools import CHART, RELEASE, by_kind, documents, one, run, template

PEERED = ["--set", "operator.peering.enabled=true", "--set", "operator.replicas=2"]
# Values combinations worth rendering: defaults, HA, every certificate source, each catalog database, toggles off.
VARIANTS: dict[str, list[str]] = {
    "defaults": [],
    "peered": PEERED,
    "cert-manager": [*PEERED, "--set", "webhook.certs.source=certManager",
                     "--set", "metrics.serviceMonitor.enabled=true"],
    "existing-secret": ["--set", "webhook.certs.source=secret", "--set", "webhook.certs.secretName=my-tls"],
    "operator-certs": ["--set", "webhook.certs.source=operator"],
    "postgresql": ["--set", "catalog.database.type=postgresql",
                   "--set", "catalog.database.postgresql.existingSecret=pg", "--set", "api.replicas=2"],
    "minimal": ["--set", "webhook.enabled=false", "--set", "api.enabled=false", "--set", "metrics.enabled=false",
                "--set", "crds.create=false", "--set", "storage.lakeHostPath="],
    "sqlite-ephemeral": ["--set", "catalog.database.sqlite.persistence.enabled=false",
                         "--set-json", 'spark.defaults={"spark.sql.shuffle.partitions":"16"}'],
}  # fmt: skip
# Kinds whose CRDs come from other projects (cert-manager, prometheus-operator): not in the test API server.
FOREIGN_KINDS = {"Issuer", "Certificate", "ServiceMonitor"}


def render(helm: Path, variant: str, namespace: str = "datamesh-system") -> list[dict[str, Any]]:
    return documents(template(helm, *VARIANTS[variant], namespace=namespace))


def operator_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment", RELEASE)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(deployment).get("env", [])}


def test_helm_lint_is_clean_for_every_variant(helm: Path) -> None:
    for name, args in VARIANTS.items():
        result = run([str(helm), "lint", "--strict", str(CHART), *args], check=False)
        assert result.returncode == 0, f"helm lint ({name}):\n{result.stdout}{result.stderr}"
        assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_schema_refuses_unknown_and_mistyped_values(helm: Path) -> None:
    for args in (["--set", "operatr.replicas=2"], ["--set", "webhook.certs.source=vault"],
                 ["--set", "image.pullPolicy=Sometimes"], ["--set", "webhook.port=http"]):  # fmt: skip
        result = run([str(helm), "template", RELEASE, str(CHART), *args], check=False)
        assert result.returncode != 0 and "schema" in result.stderr, (args, result.stderr)


def test_inconsistent_values_fail_with_a_reason(helm: Path) -> None:
    cases = {
        "needs operator.peering.enabled": ["--set", "operator.replicas=2"],
        "webhook.certs.secretName is required": ["--set", "webhook.certs.source=secret"],
        "existingSecret is required": ["--set", "catalog.database.type=postgresql"],
        "needs catalog.database.type=postgresql": ["--set", "api.replicas=2"],
    }
    for reason, args in cases.items():
        result = run([str(helm), "template", RELEASE, str(CHART), *args], check=False)
        assert result.returncode != 0 and reason in result.stderr, (args, result.stderr)


def test_every_value_is_documented() -> None:
    # helm-docs convention: every leaf value has a `# --` comment block right above it; under a documented key
    # (e.g. `resources:`) the nested lines are its default and need none.
    undocumented = []
    stack: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    comment: list[str] = []
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        if not stripped or stripped.startswith("-"):
            comment = []
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = bool(comment) and comment[0].startswith("# --")
        comment = []
        inherited = any(doc for _, doc in stack)
        key, _, value = stripped.partition(":")
        if value.strip() and not documented and not inherited:
            undocumented.append(key)
        stack.append((indent, documented))
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


def test_operator_deployment_is_locked_down(helm: Path) -> None:
    for name in VARIANTS:
        objects = render(helm, name)
        deployment = operator_deployment(objects)
        pod = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        context = main["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"] and context["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert main["resources"]["requests"] and main["resources"]["limits"]["memory"], name
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert main[probe]["httpGet"]["path"] == "/healthz", (name, probe)
        assert "--liveness=http://0.0.0.0:8080/healthz" in main["args"], name
        assert main["args"][0] == "operator", name


def test_strategy_is_recreate_unless_peered(helm: Path) -> None:
    single = operator_deployment(render(helm, "defaults"))
    assert single["spec"]["strategy"] == {"type": "Recreate"}
    assert "--standalone" in container(single)["args"]
    peered_objects = render(helm, "peered")
    peered = operator_deployment(peered_objects)
    assert peered["spec"]["strategy"]["type"] == "RollingUpdate" and peered["spec"]["replicas"] == 2
    assert "--peering=datamesh-operator" in container(peered)["args"]
    assert one(peered_objects, "ClusterKopfPeering", "datamesh-operator")
    crds = {c["metadata"]["name"] for c in by_kind(peered_objects, "CustomResourceDefinition")}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= crds
    assert not by_kind(render(helm, "defaults"), "ClusterKopfPeering")


def test_webhook_service_port_matches_what_kopf_advertises(helm: Path) -> None:
    for name in ("defaults", "peered", "cert-manager", "existing-secret", "operator-certs"):
        objects = render(helm, name, namespace="dm")
        service = one(objects, "Service", f"{RELEASE}-webhook")
        args = container(operator_deployment(objects))["args"]
        # kopf builds https://<host>:<port>/ from these two flags: the Service must answer on the same port.
        assert "--webhook-port=9443" in args and service["spec"]["ports"][0]["port"] == 9443, name
        assert f"--webhook-host={RELEASE}-webhook.dm.svc" in args, name
        assert "--webhook-addr=0.0.0.0" in args and "--webhook-cert-dir=/certs" in args, name
    minimal = render(helm, "minimal")
    assert not [a for a in container(operator_deployment(minimal))["args"] if a.startswith("--webhook")]


def test_helm_generated_certificates_fit_the_service(helm: Path) -> None:
    objects = render(helm, "defaults", namespace="dm")
    secret = one(objects, "Secret", f"{RELEASE}-webhook-tls")
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert f"{RELEASE}-webhook.dm.svc" in names
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert base64.b64decode(secret["data"]["tls.key"]).startswith(b"-----BEGIN")


def test_operator_environment_follows_values(helm: Path) -> None:
    env = env_of(operator_deployment(render(helm, "defaults")))
    assert env["DATAMESH_BUILD_IMAGE"] == "ghcr.io/datamesh-operator/datamesh:0.1.0"
    assert env["DATAMESH_LAKE_HOST_PATH"] == ""
    assert env["DATAMESH_METRICS_PORT"] == "9090" and env["DATAMESH_METRICS_ADDR"] == "0.0.0.0"
    assert "DATAMESH_SPARK_DEFAULTS" not in env
    minimal = env_of(operator_deployment(render(helm, "minimal")))
    assert minimal["DATAMESH_LAKE_HOST_PATH"] == "" and minimal["DATAMESH_METRICS_PORT"] == "0"
    spark = env_of(operator_deployment(render(helm, "sqlite-ephemeral")))
    assert spark["DATAMESH_SPARK_DEFAULTS"] == '{"spark.sql.shuffle.partitions":"16"}'


def test_catalog_api_database_choices(helm: Path) -> None:
    sqlite = render(helm, "defaults")
    api = one(sqlite, "Deployment", f"{RELEASE}-api")
    assert container(api)["args"][:3] == ["api", "--host=0.0.0.0", "--port=8080"]
    assert env_of(api)["DATAMESH_CATALOG_URL"] == "sqlite:////var/lib/datamesh/state/catalog.db"
    assert one(sqlite, "PersistentVolumeClaim", f"{RELEASE}-api-catalog")
    assert api["spec"]["strategy"] == {"type": "Recreate"}
    postgres = render(helm, "postgresql")
    api = one(postgres, "Deployment", f"{RELEASE}-api")
    url = next(e for e in container(api)["env"] if e["name"] == "DATAMESH_CATALOG_URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "url"}
    assert not by_kind(postgres, "PersistentVolumeClaim")
    assert not by_kind(render(helm, "minimal"), "CustomResourceDefinition")


def test_every_api_replica_signs_sharing_urls_with_one_key_from_a_secret(helm: Path) -> None:
    objects = render(helm, "postgresql")
    api = one(objects, "Deployment", f"{RELEASE}-api")
    key = next(e for e in container(api)["env"] if e["name"] == "DATAMESH_SHARING_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": f"{RELEASE}-api-sharing", "key": "sharing-key"}
    secret = one(objects, "Secret", f"{RELEASE}-api-sharing")
    raw = base64.b64decode(secret["data"]["sharing-key"]).decode()
    assert len(bytes.fromhex(raw)) == 32
    again = one(render(helm, "postgresql"), "Secret", f"{RELEASE}-api-sharing")
    assert again["data"] != secret["data"], "random at install (an upgrade keeps the existing one through lookup)"
    own = documents(template(helm, "--set", "api.sharing.existingSecret=mine"))
    api = one(own, "Deployment", f"{RELEASE}-api")
    key = next(e for e in container(api)["env"] if e["name"] == "DATAMESH_SHARING_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "sharing-key"}
    assert not [s for s in by_kind(own, "Secret") if "sharing" in s["metadata"]["name"]]


def test_chart_crds_are_kept_on_uninstall(helm: Path) -> None:
    crds = by_kind(render(helm, "defaults"), "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == [
        "dataproducts.datamesh.dev", "domains.datamesh.dev", "governancepolicies.datamesh.dev"
    ]  # fmt: skip
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def apply_crds_then_dry_run(cluster: Cluster, objects: list[dict[str, Any]], what: str) -> None:
    """CRDs for real (the objects that use them cannot be validated otherwise), everything else with a server-side
    dry run: each object must be accepted as is, and pods must meet the `restricted` Pod Security Standard."""
    from tests.packaging.tools import dump

    crds = by_kind(objects, "CustomResourceDefinition")
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition" and o["kind"] not in FOREIGN_KINDS]
    if crds:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=packaging-tests", "-f", "-",
                        input=dump(crds))  # fmt: skip
        names = [f"crd/{c['metadata']['name']}" for c in crds]
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    deadline = time.monotonic() + 60
    while True:
        result = cluster.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=packaging-tests",
                                 "-f", "-", input=dump(rest), check=False)  # fmt: skip
        # A freshly established CRD reaches discovery a moment later: retry only that.
        if result.returncode == 0 or "ensure CRDs are installed first" not in result.stderr:
            break
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
    assert result.returncode == 0, f"{what}: the API server refused:\n{result.stderr}"
    assert "would violate PodSecurity" not in result.stderr, f"{what}:\n{result.stderr}"
    accepted = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(rest), f"{what}:\n{result.stdout}"


@pytest.mark.parametrize("variant", ["defaults", "peered", "cert-manager", "postgresql", "minimal"])
def test_api_server_accepts_the_chart(cluster: Cluster, helm: Path, namespace: str, variant: str) -> None:
    # The namespace enforces `restricted`: a dry-run create of a Deployment warns about pods that would violate it.
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/warn=restricted")  # fmt: skip
    objects = render(helm, variant, namespace=namespace)
    if variant == "postgresql":
        cluster.kubectl("create", "secret", "generic", "pg", "-n", namespace, "--from-literal=url=postgresql://x/y")
    apply_crds_then_dry_run(cluster, objects, f"chart ({variant})")


def test_catalog_api_command_matches_the_chart(helm: Path) -> None:
    from datamesh.cli.main import build_parser

    args = container(one(render(helm, "defaults"), "Deployment", f"{RELEASE}-api"))["args"]
    build_parser().parse_args(args)  # exits (SystemExit) on an unknown flag
    # The API checks callers' tokens with TokenReviews: its ServiceAccount may create those and nothing else.
    objects = render(helm, "defaults")
    assert one(objects, "ClusterRole", f"{RELEASE}-api")["rules"] == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}
    ]
    binding = one(objects, "ClusterRoleBinding", f"{RELEASE}-api")
    assert binding["subjects"][0]["name"] == f"{RELEASE}-api"


@pytest.mark.parametrize("values", [[], ["--set", "catalog.database.type=postgresql",
                                         "--set", "catalog.database.postgresql.existingSecret=pg"]])  # fmt: skip
def test_operator_writes_the_catalog_the_api_serves(helm: Path, values: list[str]) -> None:
    objects = documents(template(helm, *values))
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    urls = {}
    for name, deployment in deployments.items():
        env = {e["name"]: e for e in container(deployment).get("env", [])}
        urls[name] = env["DATAMESH_CATALOG_URL"]
    assert len(urls) == 2 and len({str(u) for u in urls.values()}) == 1, urls
    if not values:
        claims = {
            name: [v["persistentVolumeClaim"]["claimName"] for v in d["spec"]["template"]["spec"]["volumes"]
                   if "persistentVolumeClaim" in v]
            for name, d in deployments.items()
        }  # fmt: skip
        assert len({tuple(c) for c in claims.values()}) == 1 and all(claims.values()), claims
