"""Request dependencies of the discovery API: the catalog session and the authenticated caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from datamesh.catalog.access import Caller
from datamesh.catalog.api.auth import ReviewUnavailable, TokenReviewer
from datamesh.catalog.db import migrate, session_factory, unavailable_as

TOKEN_COOKIE = "datamesh_token"


class CatalogReader:
    """Read sessions on the catalog; migrates the schema on first use so the API starts with the database down."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._migrated = False
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock:
            if not self._migrated:
                migrate(self.engine)
                self._migrated = True
        with unavailable_as("read"), self._sessions() as session:
            yield session


def request_token(request: Request) -> str | None:
    """The bearer token of the Authorization header, else of the mesh page's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="datamesh"'})


def review(request: Request, token: str) -> Caller:
    reviewer: TokenReviewer = request.app.state.reviewer
    try:
        caller = reviewer.review(token)
    except ReviewUnavailable as error:
        raise HTTPException(503, str(error)) from error
    if caller is None:
        raise unauthorized("the token was not accepted by the Kubernetes API server")
    return caller


def authenticated_caller(request: Request) -> Caller:
    token = request_token(request)
    if token is None:
        raise unauthorized("a Kubernetes bearer token is required")
    return review(request, token)


def catalog_session(request: Request) -> Iterator[Session]:
    reader: CatalogReader = request.app.state.catalog
    with reader.session() as session:
        yield session


Db = Annotated[Session, Depends(catalog_session)]
Who = Annotated[Caller, Depends(authenticated_caller)]
