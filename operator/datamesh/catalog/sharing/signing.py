"""Pre-signed file URLs: the claims of one file read (who, which product and copy, which file, until when), signed
with HMAC-SHA256 under the API's sharing key and carried in the URL's path.

The signature is over the exact encoded claims, so any change to them (another file, another recipient, a later
expiry) fails verification; the file route still re-checks governance and the table's snapshot when the URL is
used, so a signature alone never serves a file."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Literal

Served = Literal["clear", "mask", "exclude"]
MIN_KEY_BYTES = 16


class SignatureRefused(Exception):
    """The URL is malformed, tampered with or expired (403)."""


@dataclass(frozen=True)
class FileClaims:
    recipient: str
    product_id: int
    served: Served
    """Which table the file belongs to: the product's own (clear) or its masked copy (mask, exclude)."""
    version: int
    """The product table version the query answered for."""
    path: str
    """The file's path as the served table's log names it (relative to the table's folder)."""
    expires: int
    """Unix seconds."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: FileClaims) -> str:
    """`<claims>.<signature>`, both base64url: safe in a URL path without escaping."""
    body = _b64(json.dumps(asdict(claims), sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return f"{body}.{_b64(hmac.new(key, body.encode('ascii'), hashlib.sha256).digest())}"


def verify(key: bytes, signed: str, *, now: float) -> FileClaims:
    body, dot, signature = signed.partition(".")
    if not dot or not body or not signature:
        raise SignatureRefused("the file URL is malformed")
    expected = hmac.new(key, body.encode("ascii", errors="replace"), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        raw = json.loads(_unb64(body))
    except (binascii.Error, ValueError):
        raise SignatureRefused("the file URL is malformed") from None
    if not hmac.compare_digest(expected, given):
        raise SignatureRefused("the file URL's signature does not match")
    try:
        claims = FileClaims(**raw)
    except TypeError:
        raise SignatureRefused("the file URL's claims are malformed") from None
    if claims.expires <= now:
        raise SignatureRefused("the file URL has expired")
    return claims


def key_from_hex(raw: str) -> bytes:
    try:
        key = bytes.fromhex(raw.strip())
    except ValueError:
        raise ValueError("the sharing key is not hex") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the sharing key holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}")
    return key
