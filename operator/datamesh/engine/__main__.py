"""`python -m datamesh.engine`: a domain's warm engine (see the package docstring).

Reads DATAMESH_ENGINE_TOKEN (required, at least 32 characters), DATAMESH_ENGINE_PORT (Spark Connect, gRPC) and
DATAMESH_ENGINE_GUARD_PORT (the guard, HTTP), and every Spark setting a build session has
(`datamesh.build.session.spark_settings`: Delta, UTC, no SQL on files, no variable substitution, and the
operator's DATAMESH_SPARK_CONF), so a query runs here exactly as it would in a build pod. Prints one JSON line
on stdout when both ports serve, and stops Spark on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from datamesh import settings
from datamesh.engine import guard

CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


#: Where Spark Connect's server reads its token when the setting is absent: an environment variable, so the token
#: never appears on the JVM's command line (`ps`) nor in the session settings a client can read.
TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"


def engine_settings(port: int, host: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The build session's settings plus the Connect server's: its plugin and address (the token: TOKEN_ENV)."""
    from datamesh.build.session import spark_settings

    found = spark_settings(environ=dict(os.environ if environ is None else environ))
    found.update(
        {
            "spark.app.name": "datamesh-engine",
            "spark.plugins": CONNECT_PLUGIN,
            "spark.connect.grpc.binding.address": host,
            "spark.connect.grpc.binding.port": str(port),
        }
    )
    return found


def _port(name: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name}={raw!r} is not a port number")
    return int(raw)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datamesh.engine", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address both ports bind (default: every interface)")
    args = parser.parse_args(argv)
    token = settings.ENGINE_TOKEN.get()
    problem = guard.token_problem(token)
    if problem:
        print(f"datamesh engine: {problem}", file=sys.stderr)
        return 2
    try:
        port = _port(settings.ENGINE_PORT.name, settings.ENGINE_PORT.get())
        guard_port = _port(settings.ENGINE_GUARD_PORT.name, settings.ENGINE_GUARD_PORT.get())
    except ValueError as error:
        print(f"datamesh engine: {error}", file=sys.stderr)
        return 2
    # Masking is a Python UDF that runs in this engine's worker processes: the interpreter with the project.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ[TOKEN_ENV] = token
    from pyspark.sql import SparkSession

    from datamesh.engine.server import Engine, make_server

    builder = SparkSession.builder
    for key, value in engine_settings(port, args.host).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    server = make_server(Engine(spark, token), args.host, guard_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"ready": True, "connect_port": port, "guard_port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
