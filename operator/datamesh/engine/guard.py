"""The warm engine's guard API, as pure decisions: who may call, what a call may hold, and what an error answers.

Every guard call comes from the network, so every byte is hostile until checked here: the bearer token is
compared in constant time, a body is bounded before it is read, every field has an exact type and a bounded
size, unknown fields are refused (a typo must not silently mean a default), and a session is named by its
Spark Connect user id and a session id in the uuid4 form pyspark gives it, with the owner's nonce. Errors map to
HTTP answers carrying a build's own reason and message, so the build raises what a local build would have.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datamesh.build.errors import BuildError, one_line

#: The shortest token the engine accepts: 32 characters of a random token carry far more than 128 bits.
MIN_TOKEN_LENGTH = 32
#: Largest request body: a transform of a few hundred KiB is already unusual.
MAX_BODY_BYTES = 1 << 20
MAX_NAMES = 512
MAX_NAME_LENGTH = 256
MAX_PATTERNS = 256
#: The prefix of the temporary view that holds a checked transform in the build's session.
TRANSFORM_VIEW_PREFIX = "__datamesh_transform_"
#: The reason of a guard call refused before any check ran (token, body, unknown session).
REFUSED = "EngineRefused"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Refused(Exception):
    """A call the guard answers with `status` without running anything."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def token_problem(token: str) -> str | None:
    """Why the engine must not start with this token (None: it may)."""
    if not token:
        return "DATAMESH_ENGINE_TOKEN is not set: the warm engine refuses to start without a token"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"DATAMESH_ENGINE_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters: the warm engine refuses to start"
    if _CONTROL.search(token) or token != token.strip():
        return "DATAMESH_ENGINE_TOKEN holds whitespace or control characters"
    return None


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries exactly `Bearer <token>` (constant time in the header's content)."""
    if not token or header is None:
        return False
    return hmac.compare_digest(header.encode("utf-8", "surrogateescape"), f"Bearer {token}".encode())


def body_length(header: str | None) -> int:
    """The body's length from Content-Length, refused (411/413) before anything is read."""
    if header is None or not header.strip().isdigit():
        raise Refused(411, "a Content-Length is required")
    length = int(header)
    if length > MAX_BODY_BYTES:
        raise Refused(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    return length


@dataclass(frozen=True)
class SessionRef:
    """A build's Spark Connect session, and the proof that the caller owns it."""

    user_id: str
    session_id: str
    nonce: str


@dataclass(frozen=True)
class TransformCall:
    session: SessionRef
    sql: str
    views: tuple[str, ...]


@dataclass(frozen=True)
class ExpressionCall:
    expression: str
    check: str
    columns: tuple[str, ...] | None


@dataclass(frozen=True)
class PatternsCall:
    patterns: tuple[str, ...]


def _object(body: bytes, fields: frozenset[str]) -> dict[str, Any]:
    try:
        loaded = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Refused(400, f"the body is not JSON: {one_line(str(error), 200)}") from error
    if not isinstance(loaded, dict):
        raise Refused(400, "the body is not a JSON object")
    unknown = sorted(set(loaded) - fields)
    missing = sorted(fields - set(loaded))
    if unknown or missing:
        raise Refused(400, f"fields: unknown {unknown}, missing {missing}")
    return loaded


def _text(data: Mapping[str, Any], key: str, limit: int = MAX_BODY_BYTES, empty: bool = False) -> str:
    value = data[key]
    if not isinstance(value, str) or len(value) > limit or (not value and not empty):
        raise Refused(400, f"{key}: a non-empty string of at most {limit} characters is required")
    return value


def _name(value: Any, key: str) -> str:
    """A view or column name: one identifier that a backtick-quoted SQL name can hold as it is."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        raise Refused(400, f"{key}: names are non-empty strings of at most {MAX_NAME_LENGTH} characters")
    if "`" in value or _CONTROL.search(value):
        raise Refused(400, f"{key}: a name holds a backtick or a control character")
    return value


def _names(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise Refused(400, f"{key}: a list of at most {MAX_NAMES} names is required")
    names = tuple(_name(item, key) for item in value)
    if len({n.lower() for n in names}) != len(names):
        raise Refused(400, f"{key}: a name is listed twice")
    return names


def _session(data: Mapping[str, Any]) -> SessionRef:
    session_id = _text(data, "session_id", 64)
    try:
        canonical = str(uuid.UUID(session_id))
    except ValueError as error:
        raise Refused(400, "session_id: not a session id") from error
    if canonical != session_id:
        raise Refused(400, "session_id: not a session id")
    user_id = _text(data, "user_id", MAX_NAME_LENGTH, empty=True)
    if _CONTROL.search(user_id):
        raise Refused(400, "user_id: holds a control character")
    nonce = _text(data, "nonce", 256)
    if len(nonce) < 32:
        raise Refused(400, "nonce: shorter than 32 characters")
    return SessionRef(user_id, session_id, nonce)


def parse_transform(body: bytes) -> TransformCall:
    data = _object(body, frozenset({"user_id", "session_id", "nonce", "sql", "views"}))
    views = _names(data["views"], "views")
    if any(v.lower().startswith(TRANSFORM_VIEW_PREFIX) for v in views):
        raise Refused(400, f"views: {TRANSFORM_VIEW_PREFIX}* names the checked transform, never an input")
    return TransformCall(_session(data), _text(data, "sql"), views)


def parse_expression(body: bytes) -> ExpressionCall:
    data = _object(body, frozenset({"expression", "check", "columns"}))
    columns = None if data["columns"] is None else _names(data["columns"], "columns")
    return ExpressionCall(_text(data, "expression"), _text(data, "check", 1024), columns)


def parse_patterns(body: bytes) -> PatternsCall:
    data = _object(body, frozenset({"patterns"}))
    patterns = data["patterns"]
    if not isinstance(patterns, list) or len(patterns) > MAX_PATTERNS:
        raise Refused(400, f"patterns: a list of at most {MAX_PATTERNS} strings is required")
    if not all(isinstance(p, str) for p in patterns):
        raise Refused(400, "patterns: every pattern is a string")
    return PatternsCall(tuple(patterns))


def nonce_matches(stored: str | None, sent: str) -> bool:
    """Whether the nonce in the session's configuration is the one the caller sent (constant time)."""
    return stored is not None and hmac.compare_digest(stored.encode("utf-8"), sent.encode("utf-8"))


def transform_view(token: str) -> str:
    """A temporary view name no input view can have (input views never start with two underscores and a prefix)."""
    return TRANSFORM_VIEW_PREFIX + token


def error_answer(error: BaseException) -> tuple[int, dict[str, str]]:
    """The HTTP status and body of a failed call: a build's own reason and message for a BuildError (422), the
    refusal for a Refused call, and an opaque 500 for anything else (the engine logs it)."""
    if isinstance(error, BuildError):
        return 422, {"reason": error.reason, "message": error.message}
    if isinstance(error, Refused):
        return error.status, {"reason": REFUSED, "message": error.message}
    return 500, {"reason": "EngineError", "message": f"the engine failed: {type(error).__name__}"}


def log_line(endpoint: str, status: int, seconds: float, reason: str = "", session: str = "") -> str:
    """One structured line per call: never the SQL or an expression (tenant text), only what happened."""
    entry: dict[str, Any] = {"endpoint": endpoint, "status": status, "ms": round(seconds * 1000, 1)}
    if reason:
        entry["reason"] = reason
    if session:
        entry["session"] = session
    return json.dumps(entry, sort_keys=True)
