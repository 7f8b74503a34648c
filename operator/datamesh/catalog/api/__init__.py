"""The discovery API: FastAPI over the catalog database, authenticated by Kubernetes TokenReview."""

from __future__ import annotations

from datamesh.catalog.api.app import ApiSettings, create_app

__all__ = ["ApiSettings", "create_app"]
