"""Recipients' bearer tokens: random 32 bytes handed out once, stored as their SHA-256 with an expiry.

A token is looked up by its hash, so the database never holds anything that opens a share; comparing the stored
hash again with `hmac.compare_digest` keeps the final check constant-time whatever the index lookup does."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from datamesh.catalog.models import ShareTokenRow
from datamesh.sharing_tokens import TOKEN_BYTES, token_hash

__all__ = ["TOKEN_BYTES", "IssuedToken", "issue", "recipient_for", "store", "token_hash"]


@dataclass(frozen=True)
class IssuedToken:
    recipient: str
    token: str
    expires_at: datetime


def issue(session: Session, recipient: str, *, now: datetime, lifetime: timedelta, rotate: bool) -> IssuedToken:
    """A new token for `recipient`. `rotate` revokes every earlier token of the recipient in the same transaction;
    expired tokens of the recipient are removed either way."""
    if lifetime <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    stale = ShareTokenRow.recipient == recipient
    if not rotate:
        stale = stale & (ShareTokenRow.expires_at <= now)
    session.execute(delete(ShareTokenRow).where(stale))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + lifetime
    session.add(ShareTokenRow(recipient=recipient, token_hash=token_hash(token), created_at=now, expires_at=expires_at))
    return IssuedToken(recipient, token, expires_at)


def recipient_for(session: Session, token: str, *, now: datetime) -> str | None:
    """The recipient domain a live token speaks for, or None (unknown, revoked or expired)."""
    wanted = token_hash(token)
    row = session.execute(select(ShareTokenRow).where(ShareTokenRow.token_hash == wanted)).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
    return row.recipient if expires_at > now else None


def store(session: Session, recipient: str, hashed: str, *, now: datetime, expires_at: datetime) -> None:
    """Record a token the operator generated itself (it writes the token into a Secret and only its hash reaches
    the catalog). Idempotent: the same hash again changes nothing. Expired tokens of the recipient are removed."""
    expired = (ShareTokenRow.recipient == recipient) & (ShareTokenRow.expires_at <= now)
    session.execute(delete(ShareTokenRow).where(expired))
    found = session.execute(select(ShareTokenRow).where(ShareTokenRow.token_hash == hashed)).scalar_one_or_none()
    if found is None:
        session.add(ShareTokenRow(recipient=recipient, token_hash=hashed, created_at=now, expires_at=expires_at))


def revoke(session: Session, hashed: str) -> bool:
    """Revoke one token by its hash, leaving the recipient's other tokens (other products' profiles) working.
    True when a token was removed."""
    result = cast(CursorResult[Any], session.execute(delete(ShareTokenRow).where(ShareTokenRow.token_hash == hashed)))
    return bool(result.rowcount)
