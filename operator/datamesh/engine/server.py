"""The warm engine's processes: Spark with the Connect plugin, and the HTTP guard beside it.

The guard is the standard library's ThreadingHTTPServer: three small JSON endpoints and a probe need no web
framework, and the engine's image then needs nothing beyond pyspark for it. One thread per call is right here:
a call spends its time in py4j (parsing and analysing in the JVM), which releases the GIL, and a domain's builds
are few at a time.

Endpoints (every POST needs `Authorization: Bearer <token>`, a JSON body of at most 1 MiB):

- `GET /healthz`: 200 once Spark is up (the Deployment's readiness probe; no token, no detail);
- `POST /v1/transform` {user_id, session_id, nonce, sql, views}: the transform checked by `sqlguard` on the
  caller's own Connect session, over that session's temporary views `views`; answers {"view": name}, the
  temporary view of that session which holds the checked plan;
- `POST /v1/expression` {expression, check, columns}: `sqlguard.check_expression`; answers {};
- `POST /v1/patterns` {patterns}: per pattern, why Java cannot compile it, or null; answers {"problems": [...]}.

A refused check answers 422 with the BuildError's reason and message; see `datamesh.engine.guard` for the rest.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO

from datamesh.build.connect import NONCE_CONF
from datamesh.build.inputs import quoted
from datamesh.engine import guard

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SERVICE = "org.apache.spark.sql.connect.service."


class Engine:
    """The engine's own Spark session and what the guard runs with it (py4j glue over the pure parts)."""

    def __init__(self, spark: SparkSession, token: str, log: TextIO = sys.stderr) -> None:
        self.spark = spark
        self.token = token
        self.log = log

    def healthy(self) -> bool:
        try:
            jsc: Any = self.spark.sparkContext._jsc
            return not jsc.sc().isStopped()
        except Exception:
            return False

    def build_session(self, ref: guard.SessionRef) -> SparkSession:
        """The caller's Connect session, once the nonce in its configuration proves the caller owns it. An unknown
        session and a wrong nonce get the same answer: the guard does not tell which sessions exist."""
        from pyspark.sql import SparkSession

        jvm: Any = self.spark._jvm
        service = getattr(getattr(jvm, _SERVICE + "SparkConnectService$"), "MODULE$")
        key = getattr(jvm, _SERVICE + "SessionKey")(ref.user_id, ref.session_id)
        holder = service.sessionManager().getIsolatedSessionIfPresent(key)
        refused = guard.Refused(403, "no such session of this caller on the engine")
        if not holder.isDefined():
            raise refused
        jsession = holder.get().session()
        if not guard.nonce_matches(str(jsession.conf().get(NONCE_CONF, "")), ref.nonce):
            raise refused
        return SparkSession(self.spark.sparkContext, jsession)

    def transform(self, call: guard.TransformCall) -> dict[str, Any]:
        from datamesh.build.transform import guarded_transform_sql

        session = self.build_session(call.session)
        catalog: Any = session._jsparkSession.sessionState().catalog()
        inputs = {}
        for view in call.views:
            # Temporary views only: a name that is not one must not fall through to a catalog table.
            if not catalog.getTempView(view).isDefined():
                raise guard.Refused(400, f"views: {view} is not a temporary view of the session")
            inputs[view] = session.table(quoted(view))
        frame = guarded_transform_sql(session, call.sql, inputs)
        name = guard.transform_view(uuid.uuid4().hex)
        frame.createOrReplaceTempView(name)
        return {"view": name}

    def expression(self, call: guard.ExpressionCall) -> dict[str, Any]:
        from datamesh.build.sqlguard import check_expression

        check_expression(self.spark, call.expression, call.check, call.columns)
        return {}

    def patterns(self, call: guard.PatternsCall) -> dict[str, Any]:
        from datamesh.build.measure import java_pattern_problems

        return {"problems": java_pattern_problems(self.spark, call.patterns)}


Route = Callable[[bytes, dict[str, str]], dict[str, Any]]


def _routes(engine: Engine) -> dict[str, Route]:
    """Path -> call; a call notes the session it names (for the log line) before anything can fail."""

    def transform(body: bytes, note: dict[str, str]) -> dict[str, Any]:
        call = guard.parse_transform(body)
        note["session"] = call.session.session_id
        return engine.transform(call)

    return {
        "/v1/transform": transform,
        "/v1/expression": lambda body, note: engine.expression(guard.parse_expression(body)),
        "/v1/patterns": lambda body, note: engine.patterns(guard.parse_patterns(body)),
    }


def make_server(engine: Engine, host: str, port: int) -> ThreadingHTTPServer:
    """The guard's HTTP server on (host, port), not yet serving."""
    routes = _routes(engine)

    class Handler(BaseHTTPRequestHandler):
        server_version = "datamesh-engine"
        sys_version = ""
        timeout = 60  # seconds a connection may stall (headers or body) before its thread lets it go

        def log_message(self, format: str, *args: Any) -> None:
            return None  # one structured line per call instead (see _log)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _log(self, status: int, started: float, reason: str = "", session: str = "") -> None:
            line = guard.log_line(self.path[:64], status, time.monotonic() - started, reason, session)
            print(line, file=engine.log, flush=True)

        def do_GET(self) -> None:
            started = time.monotonic()
            if self.path != "/healthz":
                self._answer(404, {"reason": guard.REFUSED, "message": "not found"})
            elif engine.healthy():
                self._answer(200, {"status": "ok"})
            else:
                self._answer(503, {"status": "stopped"})
            if self.path != "/healthz":
                self._log(404, started)

        def do_POST(self) -> None:
            started = time.monotonic()
            note: dict[str, str] = {}
            try:
                if not guard.authorized(self.headers.get("Authorization"), engine.token):
                    raise guard.Refused(401, "a valid bearer token is required")
                route = routes.get(self.path)
                if route is None:
                    raise guard.Refused(404, "not found")
                body = self.rfile.read(guard.body_length(self.headers.get("Content-Length")))
                answer = route(body, note)
            except Exception as error:
                status, failure = guard.error_answer(error)
                if status == 500:
                    print(f"guard call {self.path[:64]} failed: {error!r}"[:2000], file=engine.log, flush=True)
                self.close_connection = True
                self._answer(status, failure)
                self._log(status, started, failure["reason"], note.get("session", ""))
                return
            self._answer(200, answer)
            self._log(200, started, "", note.get("session", ""))

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
