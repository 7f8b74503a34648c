"""The build as a client of its domain's warm engine (Spark Connect, `python -m datamesh.engine`).

Why a module of our own: a Spark Connect client has no JVM, yet the build's second wall against tenant SQL
(`sqlguard`) and the Java regular expressions of format checks need Spark's own parser, analyser and JVM. So the
engine, which holds that JVM, runs them for us on THIS build's Connect session (its guard, `datamesh.engine`):
the build registers its input views in its session as always, and sends the transform SQL with the view names;
the engine parses and checks it with the session's own parser, proves it reads nothing but those views, and
registers the checked plan as a temporary view of the same session, which the build then reads. Tenant SQL never
travels over Spark Connect itself, and the plan that passed is the plan that runs.

The rest of a build is the DataFrame API, which runs alike over Connect. The steps that called Delta's or
Hadoop's Java APIs run here on the build pod's own mounts of the same folders (the operator mounts the domain's
storage at the same paths in the engine and in the build pod): delta-rs for input versions and vacuum, shutil
for the staged folder. What would need Delta's Spark API (a merge into an existing table, the metastore) is
refused up front with reason EngineUnsupported: the operator builds such products in their own pods.

Authentication: one bearer token per domain (its `datamesh-engine` Secret), sent on every gRPC call (pyspark
sends its own token only over TLS, which an in-cluster Service does not have) and on every guard call. A guard
call also names the Connect session and proves it owns it with a random nonce the build set in that session's
configuration, which only the session's owner can do.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from datamesh import settings
from datamesh.api import reasons
from datamesh.build.backend import unsupported
from datamesh.build.errors import BuildError, one_line
from datamesh.mesh.contract import BuildRequest
from datamesh.placement import is_local, local_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

UNAVAILABLE = reasons.ENGINE_UNAVAILABLE
#: The session setting holding the build's proof of owning its session (read by the engine's guard).
NONCE_CONF = "spark.datamesh.guard.nonce"
#: Longest a guard call may take: analysis of a large transform takes seconds, never minutes.
GUARD_TIMEOUT_SECONDS = 300.0
Sleep = Callable[[float], None]


# ------------------------------------------------------------------------------------------------- pure decisions


def connect_refusal(request: BuildRequest, metastore_template: str) -> str | None:
    """Why this build cannot run on the warm engine (None: it can), decided before anything starts."""
    spec = request.spec
    if any(o.format == "delta" and o.mode == "merge" for o in spec.outputs):
        return (
            "output mode merge publishes through Delta's MERGE (the DeltaTable API), which needs the build's own Spark"
        )
    if metastore_template:
        return f"{settings.METASTORE_TABLE.name} registers the table in the build's own Spark catalog"
    if not is_local(request.output_location):
        return (
            f"the output {request.output_location} is not a local path: the build pod commits and removes files on"
            " its own mounts"
        )
    for item in request.inputs:
        if item.format == "delta" and not is_local(item.location):
            return f"input {item.ref} is a Delta table at {item.location}, not a local path: delta-rs reads its version"
    return None


@dataclass(frozen=True)
class Address:
    """The engine's two addresses, checked."""

    connect: str
    """`sc://host:port`, nothing else (pyspark would take `;token=...` and other parameters from it)."""
    guard: str
    """`http://host:port`."""


def engine_address(connect_url: str, guard_url: str) -> Address:
    """The addresses from the settings, or BuildError(EngineUnavailable) naming what is wrong with them."""
    connect = urlsplit(connect_url)
    if connect.scheme != "sc" or not connect.hostname or connect.path or connect.query or ";" in connect_url:
        raise BuildError(UNAVAILABLE, f"{settings.ENGINE_URL.name}={connect_url!r} is not sc://HOST:PORT")
    guard = urlsplit(guard_url)
    if guard.scheme != "http" or not guard.hostname or guard.path not in ("", "/") or guard.query:
        raise BuildError(UNAVAILABLE, f"{settings.ENGINE_GUARD_URL.name}={guard_url!r} is not http://HOST:PORT")
    try:
        connect.port, guard.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise BuildError(UNAVAILABLE, f"engine address: {error}") from error
    return Address(connect_url, guard_url.rstrip("/"))


def guard_error(status: int, body: bytes, url: str) -> BuildError:
    """The BuildError a guard answer other than 200 stands for: the engine's own reason and message (what a local
    build would raise) for a 422, else EngineUnavailable naming the address and the status."""
    try:
        loaded = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        loaded = None
    if isinstance(loaded, dict) and isinstance(loaded.get("reason"), str) and isinstance(loaded.get("message"), str):
        if status == 422:
            return BuildError(loaded["reason"], loaded["message"])
        return BuildError(
            UNAVAILABLE, f"the warm engine's guard at {url} refused the call ({status}): {loaded['message']}"
        )
    return BuildError(UNAVAILABLE, f"the warm engine's guard at {url} answered {status}")


# ---------------------------------------------------------------------------------------------------------- I/O


def _channel_builder(url: str, token: str) -> Any:
    from pyspark.sql.connect.client import DefaultChannelBuilder

    class BearerChannelBuilder(DefaultChannelBuilder):
        """pyspark sends a `token` only over TLS; the engine is reached in the cluster without it."""

        def metadata(self) -> list[tuple[str, str]]:
            return [*super().metadata(), ("authorization", f"Bearer {token}")]

    return BearerChannelBuilder(url)


def wait_for_engine(guard_url: str, connect_url: str, seconds: float, sleep: Sleep = time.sleep) -> float:
    """Poll the guard's /healthz until it answers 200 (the engine's Spark is up); returns the seconds waited.
    Raises BuildError(EngineUnavailable) naming the address after `seconds`."""
    started = time.monotonic()
    delay, last = 0.25, "no answer yet"
    while True:
        try:
            with urllib.request.urlopen(f"{guard_url}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
                last = f"status {answer.status}"
        except urllib.error.HTTPError as error:
            last = f"status {error.code}"
        except OSError as error:
            last = one_line(str(error), 200) or type(error).__name__
        waited = time.monotonic() - started
        if waited >= seconds:
            raise BuildError(
                UNAVAILABLE,
                f"the domain's warm engine at {connect_url} (guard {guard_url}) did not answer within {seconds:g} s:"
                f" {last}",
            )
        sleep(min(delay, max(seconds - waited, 0.0)))
        delay = min(delay * 2, 2.0)


class ConnectBackend:
    """A build's Spark Connect session on its domain's warm engine, and the engine's guard."""

    def __init__(self, spark: SparkSession, address: Address, token: str, nonce: str) -> None:
        self._spark = spark
        self._address = address
        self._token = token
        self._nonce = nonce

    @property
    def spark(self) -> SparkSession:
        return self._spark

    def _session_fields(self) -> dict[str, str]:
        session: Any = self._spark  # a Connect session: its client and id are not on the classic type
        return {
            "user_id": str(session.client._user_id or ""),
            "session_id": str(session.session_id),
            "nonce": self._nonce,
        }

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self._address.guard}{path}"
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode("utf-8"),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=GUARD_TIMEOUT_SECONDS) as answer:
                loaded = json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise guard_error(error.code, error.read(), url) from error
        except (OSError, ValueError) as error:
            raise BuildError(UNAVAILABLE, f"the warm engine's guard at {url}: {one_line(str(error), 300)}") from error
        if not isinstance(loaded, dict):
            raise BuildError(UNAVAILABLE, f"the warm engine's guard at {url} answered something other than an object")
        return loaded

    def guarded_sql(self, sql: str, inputs: Mapping[str, DataFrame]) -> DataFrame:
        answer = self._call("/v1/transform", {**self._session_fields(), "sql": sql, "views": sorted(inputs)})
        view = answer.get("view")
        if not isinstance(view, str) or not view.startswith("__datamesh_transform_"):
            raise BuildError(UNAVAILABLE, "the warm engine's guard did not name the checked transform's view")
        return self._spark.table(view)

    def check_expression(self, expression: str, check: str, columns: Collection[str] | None) -> None:
        body = {"expression": expression, "check": check, "columns": None if columns is None else list(columns)}
        self._call("/v1/expression", body)

    def pattern_problems(self, patterns: Sequence[str]) -> list[str | None]:
        answer = self._call("/v1/patterns", {"patterns": list(patterns)})
        found = answer.get("problems")
        if not isinstance(found, list) or len(found) != len(patterns):
            raise BuildError(UNAVAILABLE, "the warm engine's guard answered no problem list for the patterns")
        return [p if isinstance(p, str) else None for p in found]

    def delta_version(self, location: str) -> int | None:
        from deltalake import DeltaTable

        path = _local(location)
        if not DeltaTable.is_deltatable(path):
            return None
        return int(DeltaTable(path).version())

    def remove(self, path: str) -> None:
        shutil.rmtree(_local(path), ignore_errors=False)

    def vacuum(self, location: str, hours: float) -> None:
        """Spark's vacuum without its log entries (the session setting the build uses): delta-rs lists the files
        no version of the window references, and they are deleted here, so no commit follows the published one."""
        from deltalake import DeltaTable

        root = os.path.realpath(_local(location))
        listed = DeltaTable(root).vacuum(retention_hours=int(hours), dry_run=True, enforce_retention_duration=False)
        for relative in listed:
            target = os.path.realpath(os.path.join(root, relative))
            if os.path.commonpath([root, target]) != root or target == root:
                raise BuildError("StorageError", f"vacuum of {location} listed a file outside the table: {relative}")
            os.remove(target)

    def require_table_api(self, why: str) -> None:
        raise unsupported(why)

    def close(self) -> None:
        try:
            self._spark.stop()  # releases the session on the engine at once, not after its idle timeout
        except Exception:  # the build's result is decided; the engine expires the session anyway
            return


def _local(location: str) -> str:
    if not is_local(location):
        raise unsupported(f"{location} is not a local path, which the build pod would change on its own mount")
    return local_path(location)


def open_backend(request: BuildRequest, progress: Callable[[str], None]) -> ConnectBackend:
    """A Connect session on the domain's warm engine (from the settings), once it answers;
    BuildError(EngineUnavailable) if it does not, BuildError(EngineUnsupported) for a build it cannot run."""
    refused = connect_refusal(request, settings.METASTORE_TABLE.get())
    if refused:
        raise unsupported(refused)
    return open_session(progress)


def open_session(progress: Callable[[str], None], environ: Mapping[str, str] | None = None) -> ConnectBackend:
    """A Connect session on the warm engine that DATAMESH_ENGINE_URL, _GUARD_URL and _TOKEN name."""
    address = engine_address(settings.ENGINE_URL.get(environ), settings.ENGINE_GUARD_URL.get(environ))
    token = settings.ENGINE_TOKEN.get(environ)
    if not token:
        raise BuildError(UNAVAILABLE, f"{settings.ENGINE_TOKEN.name} is not set: the engine refuses every call")
    try:
        seconds = float(settings.ENGINE_WAIT_SECONDS.get(environ))
    except ValueError as error:
        raise BuildError(UNAVAILABLE, f"{settings.ENGINE_WAIT_SECONDS.name} is not a number") from error
    progress(f"waiting for the domain's warm engine at {address.connect}")
    waited = wait_for_engine(address.guard, address.connect, seconds)
    progress(f"the warm engine answered after {waited:.1f} s")
    spark, nonce = connect(address.connect, token)
    return ConnectBackend(spark, address, token, nonce)


def connect(url: str, token: str) -> tuple[SparkSession, str]:
    """A new Connect session at `url` with `token`, and the nonce set in it; BuildError(EngineUnavailable) when
    the engine cannot be reached or refuses the token."""
    # pyspark's functions build Connect columns only in a process marked as a Connect client, as its own
    # `SparkSession.builder.remote(...)` marks it; a build process never holds a local session beside it.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    nonce = secrets.token_urlsafe(32)
    try:
        spark = ConnectSession.builder.channelBuilder(_channel_builder(url, token)).create()
        spark.conf.set(NONCE_CONF, nonce)  # the first call: also proves the token
    except Exception as error:
        raise BuildError(
            UNAVAILABLE, f"cannot open a session on the warm engine at {url}: {one_line(str(error), 300)}"
        ) from error
    # A Connect session is not the classic class, but offers the same API to everything a build calls.
    return cast("SparkSession", spark), nonce
