"""Fixtures of the packaging tests. helm is built from the Go module proxy by scripts/install-tools.sh (cached);
only when that fails do the tests that need it skip, naming the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.packaging.tools import HelmUnavailable, build_helm, documents, dump, template
from tests.requirements import missing


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return build_helm()
    except HelmUnavailable as error:
        missing(str(error))


@pytest.fixture(scope="session")
def known_kinds(crds: Cluster, helm: Path) -> Cluster:
    """Every resource kind the RBAC checks name, known to the API server: `kubectl auth can-i` resolves names
    through discovery, so the project's CRDs and kopf's peering CRDs must be installed first."""
    rendered = template(helm, "--set", "operator.peering.enabled=true", "--set", "operator.replicas=2")
    peering = [
        o for o in documents(rendered) if o["kind"] == "CustomResourceDefinition" and o["spec"]["group"] == "kopf.dev"
    ]
    crds.apply(dump(peering))
    for crd in peering:
        crds.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
    return crds
