"""The Delta Sharing endpoint (`/delta-sharing/...`): the open protocol's paths, answers and pagination, so
pandas (`delta-sharing`), Spark and BI tools read the mesh's products.

Authentication is the recipient's sharing token (not a Kubernetes token: recipients are often outside the
cluster); authorisation is governance, asked again at every request (catalog/sharing/shares.py). File URLs are
this API's own, signed and short-lived (catalog/sharing/signing.py); the file route checks everything again
before it serves a byte. Errors are the protocol's `{"errorCode", "message"}` bodies."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from datamesh import settings
from datamesh.catalog.api.deps import Db
from datamesh.catalog.sharing import copy, signing, tables, tokens
from datamesh.catalog.sharing.shares import RecipientGone, SharedTable, recipient_tables
from datamesh.governance import PiiMode

PREFIX = "/delta-sharing"
VERSION_HEADER = "delta-table-version"
DEFAULT_PAGE = 500
MAX_PAGE = 1000
NDJSON = "application/x-ndjson"


class SharingError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SharingError)
    headers = {"WWW-Authenticate": 'Bearer realm="delta-sharing"'} if error.status == 401 else None
    return JSONResponse({"errorCode": error.code, "message": error.message}, error.status, headers=headers)


def forbidden(message: str) -> SharingError:
    return SharingError(403, "PERMISSION_DENIED", message)


@dataclass(frozen=True)
class SharingConfig:
    key: bytes
    url_seconds: float


def sharing_config(key: bytes | None = None, url_seconds: float | None = None) -> SharingConfig:
    """The signing key: given, else $DATAMESH_SHARING_KEY (a malformed one stops the API), else random."""
    if key is None:
        raw = settings.SHARING_KEY.get()
        key = signing.key_from_hex(raw) if raw else secrets.token_bytes(32)
    seconds = float(settings.SHARING_URL_SECONDS.get()) if url_seconds is None else url_seconds
    if seconds <= 0:
        raise ValueError(f"{settings.SHARING_URL_SECONDS.name} must be positive")
    return SharingConfig(key, seconds)


# ---------------------------------------------------------------------------------------------- who and what


def _recipient(request: Request, db: Db) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise SharingError(401, "UNAUTHENTICATED", "a sharing bearer token is required")
    recipient = tokens.recipient_for(db, value.strip(), now=datetime.now(UTC))
    if recipient is None:
        raise SharingError(401, "UNAUTHENTICATED", "the sharing token is unknown, rotated or expired")
    return recipient


Recipient = Annotated[str, Depends(_recipient)]


def _readable(db: Session, recipient: str) -> list[SharedTable]:
    """The recipient's tables; a recipient that may read nothing is refused outright (403 on every path)."""
    try:
        found = recipient_tables(db, recipient)
    except RecipientGone as error:
        raise forbidden(str(error)) from None
    if not found:
        raise forbidden(f"no product is shared with domain {recipient!r}")
    return found


def _in_share(found: list[SharedTable], recipient: str, share: str) -> list[SharedTable]:
    chosen = [t for t in found if t.share.lower() == share.lower()]
    if not chosen:
        # Forbidden whether or not the share exists: its existence is not the recipient's to learn.
        raise forbidden(f"share {share!r} is not shared with domain {recipient!r}")
    return chosen


def _table(db: Session, recipient: str, share: str, schema: str, table: str) -> SharedTable:
    key = (share.lower(), schema.lower(), table.lower())
    for candidate in _readable(db, recipient):
        if candidate.key == key:
            return candidate
    raise forbidden(f"table {share}.{schema}.{table} is not shared with domain {recipient!r}")


# ------------------------------------------------------------------------------------------------ pagination


def _page(items: Sequence[dict[str, Any]], max_results: int | None, page_token: str | None) -> dict[str, Any]:
    start = 0
    if page_token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)))["o"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "pageToken is not one this server issued") from None
        if start < 0:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "pageToken is not one this server issued")
    size = DEFAULT_PAGE if max_results is None else min(max_results, MAX_PAGE)
    body: dict[str, Any] = {"items": list(items[start : start + size])}
    if start + size < len(items):
        body["nextPageToken"] = base64.urlsafe_b64encode(json.dumps({"o": start + size}).encode()).decode()
    return body


MaxResults = Annotated[int | None, Query(alias="maxResults", ge=0)]
PageToken = Annotated[str | None, Query(alias="pageToken")]


def _table_item(t: SharedTable) -> dict[str, Any]:
    return {"name": t.name, "schema": t.schema, "share": t.share, "id": f"product-{t.product_id}"}


# ---------------------------------------------------------------------------------------------- served tables


@dataclass(frozen=True)
class Served:
    """The Delta table a recipient's reads go to: the product's own (clear) or its masked copy."""

    location: str
    table: Any
    """deltalake.DeltaTable"""
    version: int
    """The product table version it answers for."""
    mode: PiiMode


def _served(shared: SharedTable, version: int | None = None) -> Served:
    """A masked share serves the copy made from the product's current version only (copies are not kept)."""
    mode = shared.access.pii
    try:
        if mode == "clear":
            product = tables.open_table(shared.location, version)
            return Served(shared.location, product, product.version(), mode)
        current = tables.open_table(shared.location).version()
        if version is not None and version != current:
            raise forbidden(f"a share with pii: {mode} serves the product's current version ({current}) only")
        try:
            found = copy.current_copy(
                shared.location,
                mode=mode,
                source_version=current,
                pii_columns=shared.pii_columns,
                declared=shared.declared_columns,
            )
        except copy.CopyRefused as error:
            raise forbidden(f"the grant says pii: {mode}; {error}") from None
        return Served(found.location, tables.open_table(found.location), current, mode)
    except tables.TableRefused as error:
        code = {404: "RESOURCE_DOES_NOT_EXIST", 501: "FEATURE_NOT_SUPPORTED"}.get(error.status, "PERMISSION_DENIED")
        raise SharingError(error.status, code, error.message) from None


# ------------------------------------------------------------------------------------------------------ routes

router = APIRouter(prefix=PREFIX, tags=["delta sharing"])


@router.get("/shares", summary="Shares the recipient may read")
def list_shares(recipient: Recipient, db: Db, max_results: MaxResults = None, page_token: PageToken = None) -> Any:
    names = sorted({t.share for t in _readable(db, recipient)}, key=str.lower)
    return _page([{"name": n, "id": n} for n in names], max_results, page_token)


@router.get("/shares/{share}", summary="One share")
def get_share(share: str, recipient: Recipient, db: Db) -> Any:
    chosen = _in_share(_readable(db, recipient), recipient, share)
    return {"share": {"name": chosen[0].share, "id": chosen[0].share}}


@router.get("/shares/{share}/schemas", summary="Schemas of a share")
def list_schemas(
    share: str, recipient: Recipient, db: Db, max_results: MaxResults = None, page_token: PageToken = None
) -> Any:
    chosen = _in_share(_readable(db, recipient), recipient, share)
    names = sorted({t.schema for t in chosen}, key=str.lower)
    return _page([{"name": n, "share": chosen[0].share} for n in names], max_results, page_token)


@router.get("/shares/{share}/schemas/{schema}/tables", summary="Tables of a schema")
def list_tables(
    share: str,
    schema: str,
    recipient: Recipient,
    db: Db,
    max_results: MaxResults = None,
    page_token: PageToken = None,
) -> Any:
    chosen = [t for t in _in_share(_readable(db, recipient), recipient, share) if t.schema.lower() == schema.lower()]
    if not chosen:
        raise forbidden(f"schema {share}.{schema} is not shared with domain {recipient!r}")
    return _page([_table_item(t) for t in chosen], max_results, page_token)


@router.get("/shares/{share}/all-tables", summary="Every table of a share")
def list_all_tables(
    share: str, recipient: Recipient, db: Db, max_results: MaxResults = None, page_token: PageToken = None
) -> Any:
    chosen = _in_share(_readable(db, recipient), recipient, share)
    return _page([_table_item(t) for t in chosen], max_results, page_token)


TABLE = "/shares/{share}/schemas/{schema}/tables/{table}"


@router.api_route(TABLE + "/version", methods=["GET", "HEAD"], summary="The table's current version")
def table_version(
    share: str,
    schema: str,
    table: str,
    recipient: Recipient,
    db: Db,
    starting_timestamp: Annotated[str | None, Query(alias="startingTimestamp")] = None,
) -> Response:
    if starting_timestamp is not None:
        raise SharingError(400, "FEATURE_NOT_SUPPORTED", "startingTimestamp is not supported")
    served = _served(_table(db, recipient, share, schema, table))
    return Response(status_code=200, headers={VERSION_HEADER: str(served.version)})


def _ndjson(lines: list[dict[str, Any]], version: int) -> Response:
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    return Response(body, media_type=NDJSON, headers={VERSION_HEADER: str(version)})


@router.get(TABLE + "/metadata", summary="The table's protocol and metadata (NDJSON)")
def table_metadata(share: str, schema: str, table: str, recipient: Recipient, db: Db) -> Response:
    served = _served(_table(db, recipient, share, schema, table))
    table_files = tables.files(served.table)
    return _ndjson(
        [tables.protocol_line(), tables.metadata_line(served.table, table_files, served.version)], served.version
    )


@router.post(TABLE + "/query", summary="The table's files, with short-lived signed URLs (NDJSON)")
def table_query(
    share: str,
    schema: str,
    table: str,
    request: Request,
    recipient: Recipient,
    db: Db,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> Response:
    """Hints (predicateHints, jsonPredicateHints, limitHint) are ignored, as the protocol allows: every file of
    the snapshot is returned. Time travel by `version` only; no timestamps or change ranges."""
    body = body or {}
    unsupported = sorted(set(body) & {"timestamp", "startingVersion", "endingVersion"})
    if unsupported:
        raise SharingError(400, "FEATURE_NOT_SUPPORTED", f"not supported: {', '.join(unsupported)}")
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise SharingError(400, "INVALID_PARAMETER_VALUE", "version must be a non-negative integer")
    shared = _table(db, recipient, share, schema, table)
    served = _served(shared, version)
    config: SharingConfig = request.app.state.sharing
    expires = int(time.time() + config.url_seconds)
    base = str(request.base_url).rstrip("/") + PREFIX + "/files/"
    table_files = tables.files(served.table)
    lines = [tables.protocol_line(), tables.metadata_line(served.table, table_files, served.version)]
    for table_file in table_files:
        claims = signing.FileClaims(recipient, shared.product_id, served.mode, served.version, table_file.path, expires)
        lines.append(tables.file_line(table_file, base + signing.sign(config.key, claims), expires * 1000))
    return _ndjson(lines, served.version)


@router.get(TABLE + "/changes", summary="Change data feed (not supported)")
def table_changes(share: str, schema: str, table: str, recipient: Recipient, db: Db) -> Response:
    _table(db, recipient, share, schema, table)
    raise SharingError(400, "FEATURE_NOT_SUPPORTED", "the change data feed is not shared")


@router.api_route("/files/{signed}", methods=["GET", "HEAD"], summary="The bytes of one shared file")
def shared_file(signed: str, request: Request, db: Db) -> Response:
    """Serves only while everything still holds: signature and expiry, the recipient's grant with the same PII
    treatment, the product, and the file being a data file of the served table's snapshot for that version."""
    config: SharingConfig = request.app.state.sharing
    try:
        claims = signing.verify(config.key, signed, now=time.time())
    except signing.SignatureRefused as error:
        raise forbidden(str(error)) from None
    try:
        readable = recipient_tables(db, claims.recipient)
    except RecipientGone as error:
        raise forbidden(str(error)) from None
    shared = next((t for t in readable if t.product_id == claims.product_id), None)
    if shared is None:
        raise forbidden(f"the product is no longer shared with domain {claims.recipient!r}")
    if shared.access.pii != claims.served:
        raise forbidden(f"domain {claims.recipient!r}'s grant now says pii: {shared.access.pii}")
    served = _served(shared, claims.version if claims.served == "clear" else None)
    if served.version != claims.version:
        raise forbidden("the file belongs to a version of the copy that is no longer served")
    try:
        path = tables.confined_file(served.location, served.table, claims.path)
    except tables.TableRefused as error:
        raise forbidden(error.message) from None
    return FileResponse(path, media_type="application/octet-stream")


def install(app: FastAPI, config: SharingConfig) -> None:
    app.state.sharing = config
    app.add_exception_handler(SharingError, _error)
    app.include_router(router)
