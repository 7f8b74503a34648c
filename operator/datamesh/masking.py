"""How PII is masked everywhere in the mesh: HMAC-SHA256 under one mesh-wide key, as lowercase hex.

A plain hash of an e-mail address is reversed by hashing a dictionary of addresses; a keyed hash is not, for
anyone without the key. The key is the same for every product, so masked keys still join across products. The
build (Spark UDF) and the catalog's REST output (pyarrow rows) both mask through `mask_text`, so the values a
consumer sees in a table and over REST are the same.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from datamesh import settings

#: Environment variable holding the mesh key as hex (a secretKeyRef to the operator-managed Secret).
MASKING_KEY_ENV = settings.MASKING_KEY.name
MIN_KEY_BYTES = 16


class MaskingKeyError(ValueError):
    """No usable masking key: whoever must mask refuses to serve or build rather than fall back to a plain hash."""


def key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    raw = settings.MASKING_KEY.get(environ).strip()
    if not raw:
        raise MaskingKeyError(f"{MASKING_KEY_ENV} is not set (the operator keeps the key in a Secret)")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise MaskingKeyError(f"{MASKING_KEY_ENV} is not a hex-encoded key") from None
    if len(key) < MIN_KEY_BYTES:
        raise MaskingKeyError(f"{MASKING_KEY_ENV} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}")
    return key


def mask_text(key: bytes, text: str) -> str:
    """HMAC-SHA256 hex of the UTF-8 text under `key`."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
