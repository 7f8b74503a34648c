"""After a start every product is reconciled once more; the ones holding a change nobody acted on go first."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datamesh.api import DataProduct
from datamesh.api.dataproduct import DataProductStatus
from datamesh.controller.runtime import awaits_action
from tests.conftest import REPO


@pytest.fixture
def product() -> DataProduct:
    body = yaml.safe_load(Path(REPO / "examples" / "products" / "customer-360.yaml").read_text())
    body["metadata"].update(uid="u-1", generation=3)
    return DataProduct.model_validate(body)


def test_a_new_product_goes_first(product: DataProduct) -> None:
    assert awaits_action(product)


def test_a_product_whose_status_reflects_its_spec_waits_its_turn(product: DataProduct) -> None:
    product.status = DataProductStatus(observed_generation=3)
    assert not awaits_action(product)


def test_a_changed_spec_goes_first(product: DataProduct) -> None:
    product.status = DataProductStatus(observed_generation=2)
    assert awaits_action(product)


def test_a_deletion_goes_first(product: DataProduct) -> None:
    product.status = DataProductStatus(observed_generation=3)
    product.metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert awaits_action(product)


def test_an_unreadable_product_is_reported_in_turn() -> None:
    assert not awaits_action(None)


def test_a_workspace_is_checked_for_drift_once_per_period_not_on_every_domain_event() -> None:
    from datetime import UTC, datetime, timedelta

    from datamesh.controller.runtime import DRIFT_CHECK, workspace_check_due

    applied = datetime(2026, 12, 2, tzinfo=UTC)
    assert workspace_check_due(None, applied)  # never applied by this process (a start): apply it
    assert not workspace_check_due(applied, applied + DRIFT_CHECK / 2)
    # Long after the condition's own transition the check is not due again until a period after the last apply.
    assert not workspace_check_due(applied + timedelta(hours=5), applied + timedelta(hours=5, minutes=1))
    assert workspace_check_due(applied, applied + DRIFT_CHECK + timedelta(seconds=1))
