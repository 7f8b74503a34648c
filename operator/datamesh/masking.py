"""How PII is masked everywhere in the mesh: HMAC-SHA256 under one mesh-wide key, as lowercase hex.

A plain hash of an e-mail address is reversed by hashing a dictionary of addresses; a keyed hash is not, for
anyone without the key. The key is the same for every product, so masked keys still join across products. The
build (Spark UDF), the catalog's REST output and the Delta Sharing copies (pyarrow rows, through `mask_value`) all
mask through `mask_text`, so the values a consumer sees in a table, over REST and through a share are the same.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

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


def spark_string(value: Any) -> str:
    """The value as Spark's `cast(... as string)` writes it, so masks of pyarrow rows match the build engine's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        return text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def mask_value(value: Any, key: bytes) -> str | None:
    """The mesh's mask of `cast(value as string)`; null stays null."""
    if value is None:
        return None
    return mask_text(key, spark_string(value))
