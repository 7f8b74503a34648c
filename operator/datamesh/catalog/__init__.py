"""The data catalog: a SQL store of domains, products, schemas, SLAs, quality history and lineage.

`open_catalog()` gives the operator a `CatalogSync` that mirrors the cluster into the store; `datamesh api`
serves discovery, REST outputs and the mesh page from it. Nothing here imports kopf. See docs/catalog.md.
"""

from __future__ import annotations

from datamesh.catalog.db import default_catalog_url
from datamesh.catalog.errors import CatalogUnavailable
from datamesh.catalog.sync import CatalogSync, open_catalog

__all__ = ["CatalogSync", "CatalogUnavailable", "default_catalog_url", "open_catalog"]
