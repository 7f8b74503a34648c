"""Issuing a recipient's profile file: the JSON a Delta Sharing client opens (`shareCredentialsVersion` 1).

Used by `datamesh share profile`; the operator's Secret writer would call the same function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from datamesh.catalog.sharing import tokens
from datamesh.catalog.sharing.shares import RecipientGone, SharedTable, recipient_tables


class ProfileRefused(Exception):
    """The recipient may not read the product (or does not exist): no token is issued."""


@dataclass(frozen=True)
class Profile:
    body: dict[str, Any]
    table: SharedTable

    @property
    def coordinates(self) -> str:
        return f"{self.table.share}.{self.table.schema}.{self.table.name}"


def _product_table(session: Session, recipient: str, product: str) -> SharedTable:
    """`product` is NAME or DOMAIN/NAME."""
    domain, _, name = product.rpartition("/")
    try:
        readable = recipient_tables(session, recipient)
    except RecipientGone as error:
        raise ProfileRefused(str(error)) from None
    matches = [t for t in readable if t.name == name and (not domain or t.schema == domain)]
    if len(matches) > 1:
        raise ProfileRefused(f"several domains have a product {name!r}: name it as DOMAIN/{name}")
    if not matches:
        raise ProfileRefused(f"domain {recipient!r} may not read a published product {product!r}")
    return matches[0]


def issue_profile(
    session: Session, *, recipient: str, product: str, endpoint: str, now: datetime, lifetime: timedelta, rotate: bool
) -> Profile:
    """A new token for `recipient` (after checking it may read `product`) and the profile carrying it."""
    table = _product_table(session, recipient, product)
    issued = tokens.issue(session, recipient, now=now, lifetime=lifetime, rotate=rotate)
    body = {
        "shareCredentialsVersion": 1,
        "endpoint": endpoint.rstrip("/"),
        "bearerToken": issued.token,
        "expirationTime": issued.expires_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    return Profile(body, table)
