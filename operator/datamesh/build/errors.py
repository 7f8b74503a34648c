"""The one exception a build step raises for bad input, and turning Spark's errors into one line."""

from __future__ import annotations

import re

MESSAGE_LIMIT = 1000
#: The reason of tenant SQL that the build's own check (datamesh.build.sqlguard) refuses to run.
SQL_REFUSED = "SqlRefused"


class BuildError(Exception):
    """A build that cannot publish, with the CamelCase reason the operator puts on its conditions."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = one_line(message)


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The gist of an error: no JVM stack trace, no SQL echo, whitespace collapsed, bounded length."""
    head = re.split(r"\n\s*(JVM stacktrace:|== SQL|\tat |at org\.|at java\.|Caused by:)", text, maxsplit=1)[0]
    flat = " ".join(head.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


_STORAGE_HINTS = (
    "AccessDenied",
    "Permission denied",
    "UnknownHostException",
    "ConnectException",
    "No FileSystem for scheme",
    "Mkdirs failed",
    "IOException",
    "FileAlreadyExistsException",
    "Not a directory",
    "ParentNotDirectoryException",
    "Read-only file system",
)


def is_storage_error(text: str) -> bool:
    return any(hint in text for hint in _STORAGE_HINTS)


def classify(error: BaseException, default_reason: str) -> BuildError:
    """A BuildError for any exception a Spark step raised: storage problems are told apart from the rest."""
    if isinstance(error, BuildError):
        return error
    text = str(error) or type(error).__name__
    name = type(error).__name__
    if name in ("ParseException", "AnalysisException") and not is_storage_error(text):
        return BuildError("SqlError", text)
    if is_storage_error(text):
        return BuildError("StorageError", text)
    return BuildError(default_reason, f"{name}: {text}" if name not in text else text)
