"""What the operator and the catalog agree on about recipients' bearer tokens: their size and how they are hashed.

Kept apart from `datamesh.catalog.sharing.tokens` (which stores them) because importing anything under
`datamesh.catalog` loads SQLAlchemy and Alembic, ~40 MB the operator would otherwise keep resident with its catalog
turned off."""

from __future__ import annotations

import hashlib

#: Random bytes in a token (`secrets.token_urlsafe`).
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """The SHA-256 of a token, hex: what the catalog and the product's status keep instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
