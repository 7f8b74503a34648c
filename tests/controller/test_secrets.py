"""Secrets by reference: what a Domain may declare, who may read a source with credentials, the Secrets the
operator keeps (the mesh-wide masking key, created once, and each domain's build Secret)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from datamesh.api.domain import Source
from datamesh.controller.config import OperatorConfig
from datamesh.controller.kube import ApiError
from datamesh.controller.secrets import (
    MaskingKeyInvalid,
    domain_build_secret,
    ensure_mesh_key,
    mesh_key_secret,
)
from datamesh.manifests import load_mesh
from datamesh.mesh.resolve import resolve_inputs
from datamesh.mesh.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
S3 = [{"option": "fs.s3a.secret.key", "secretKeyRef": {"name": "s3-creds", "key": "secret"}}]


def source(**fields: Any) -> Source:
    return Source.model_validate({"name": "bronze.t", "location": "s3a://b/t", **fields})


# ---------------------------------------------------------------------------------------------- the model
@pytest.mark.parametrize(
    "option",
    ["fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.session.token", "password", "db.Password",
     "fs.azure.sas.container.acct", "fs.azure.account.oauth2.client.secret", "CREDENTIALS", "apiKey"],
)  # fmt: skip
def test_options_that_look_like_credentials_are_refused(option: str) -> None:
    with pytest.raises(ValidationError, match="secretOptions") as info:
        source(options={option: "x"})
    assert option in str(info.value)


def test_harmless_options_and_secret_options_are_accepted() -> None:
    options = {"header": "true", "fs.s3a.endpoint": "http://minio:9000"}
    found = source(format="csv", options=options, secretOptions=S3)
    assert found.secret_options[0].secret_key_ref.name == "s3-creds"
    assert found.to_wire()["secretOptions"] == S3


@pytest.mark.parametrize(
    ("secret_options", "message"),
    [
        ([{"option": "h", "secretKeyRef": {"name": "datamesh-build", "key": "masking-key"}}], "to the operator"),
        ([{"option": "a b", "secretKeyRef": {"name": "s", "key": "k"}}], "pattern"),
        ([{"option": "o", "secretKeyRef": {"name": "Not_DNS", "key": "k"}}], "pattern"),
        ([{"option": "o", "secretKeyRef": {"name": "s", "key": "a/b"}}], "pattern"),
        (S3 + S3, "at most once"),
        ([{"option": "o", "secretKeyRef": {"name": f"s{i}", "key": "k"}} for i in range(21)], "at most 20"),
    ],
)  # fmt: skip
def test_secret_options_are_validated(secret_options: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        source(secretOptions=secret_options)


def test_an_option_is_either_plain_or_secret() -> None:
    with pytest.raises(ValidationError, match="not both"):
        source(options={"header": "true"}, secretOptions=[{**S3[0], "option": "header"}])


# ---------------------------------------------------------------------------------------------- resolution
def _world(owner: str) -> World:
    mesh = load_mesh([EXAMPLES])
    domain = mesh.domains[owner]
    domain.spec.sources[0] = domain.spec.sources[0].model_copy(
        update={"secret_options": source(secretOptions=S3).secret_options}
    )
    return World(mesh.domains, mesh.products, mesh.policies)


def test_a_source_with_credentials_is_read_by_its_own_domain_only() -> None:
    world = _world("marketing")  # customer-360 (sales) reads marketing's bronze.web.sessions
    product = world.products[("sales", "customer-360")]
    resolution = resolve_inputs(product, world)
    assert resolution.problem_reason == "CredentialsUnavailable"
    assert "bronze.web.sessions" in resolution.problem_message
    assert "through a data product of domain 'marketing'" in resolution.problem_message

    world = _world("sales")  # its own domain's source: resolved, by variable name
    resolution = resolve_inputs(world.products[("sales", "customer-360")], world)
    assert resolution.ok, resolution.problem_message
    (ref,) = resolution.inputs[0].secret_options
    assert (ref.option, ref.env, ref.secret, ref.key) == (
        "fs.s3a.secret.key",
        "DATAMESH_SECRET_0_0",
        "s3-creds",
        "secret",
    )


# ---------------------------------------------------------------------------------------------- operator Secrets
class SecretStore:
    """The Secrets endpoints of an API server, in memory: enough to test the create-once logic without one."""

    def __init__(self, secrets: dict[str, dict[str, Any]] | None = None, lose_race_to: dict[str, Any] | None = None):
        self.secrets = secrets or {}
        self.lose_race_to = lose_race_to
        self.calls: list[str] = []

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> Any:
        self.calls.append(method)
        if method == "GET":
            if path not in self.secrets:
                raise ApiError(404, json.dumps({"message": "not found"}))
            return self.secrets[path]
        assert method == "POST"
        target = f"{path}/{body['metadata']['name']}"
        if self.lose_race_to is not None:  # another operator created it between our GET and POST
            self.secrets[target] = self.lose_race_to
        if target in self.secrets:
            raise ApiError(409, json.dumps({"message": "already exists"}))
        self.secrets[target] = body
        return body


CONFIG = OperatorConfig(namespace="datamesh-system")
PATH = "/api/v1/namespaces/datamesh-system/secrets/datamesh-masking-key"


def test_the_mesh_key_is_created_once_and_then_only_read() -> None:
    store = SecretStore()
    key = asyncio.run(ensure_mesh_key(store, CONFIG))
    assert len(key) == 32 and store.calls == ["GET", "POST"]
    stored = store.secrets[PATH]
    assert stored["metadata"]["namespace"] == "datamesh-system"
    assert base64.b64decode(stored["data"]["masking-key"]).decode() == key.hex()
    again = SecretStore(dict(store.secrets))
    assert asyncio.run(ensure_mesh_key(again, CONFIG)) == key and again.calls == ["GET"]


def test_the_loser_of_a_creation_race_reads_the_winners_key() -> None:
    winner = bytes(range(32))
    store = SecretStore(lose_race_to=mesh_key_secret(winner, CONFIG))
    assert asyncio.run(ensure_mesh_key(store, CONFIG)) == winner
    assert store.calls == ["GET", "POST", "GET"]


@pytest.mark.parametrize("data", [{}, {"masking-key": base64.b64encode(b"not hex").decode()},
                                  {"masking-key": base64.b64encode(b"abcd").decode()}])  # fmt: skip
def test_an_unusable_mesh_key_is_never_overwritten(data: dict[str, str]) -> None:
    existing = {"metadata": {"name": "datamesh-masking-key"}, "data": data}
    store = SecretStore({PATH: existing})
    with pytest.raises(MaskingKeyInvalid, match="datamesh-system/datamesh-masking-key"):
        asyncio.run(ensure_mesh_key(store, CONFIG))
    assert store.calls == ["GET"] and store.secrets[PATH] is existing


def test_the_domain_build_secret() -> None:
    domain = load_mesh([EXAMPLES]).domains["sales"]
    domain.metadata["uid"] = "u-7"
    key = bytes(range(32))
    secret = domain_build_secret(domain, key, CONFIG, "lineage-key")
    assert (secret["kind"], secret["metadata"]["name"], secret["metadata"]["namespace"]) == (
        "Secret",
        "datamesh-build",
        "sales",
    )
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "datamesh-operator"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Domain", "sales", "u-7")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {"masking-key": key.hex(), "openlineage-api-key": "lineage-key"}
    assert "openlineage-api-key" not in domain_build_secret(domain, key, CONFIG, None)["data"]
