"""The warm engine of a domain: one long-lived Spark that the domain's builds use over Spark Connect (issue 19).

Why a package of our own: every build pod pays a cold JVM (seconds of start-up and JIT) before its first job. A
Domain with `compute.engine: connect` gets one engine process instead (a Deployment and Service in the domain's
namespace, with the domain's storage mounts only and its own service account; the operator wires those), and
its builds run as small pods that connect to it (`datamesh.build.connect`). One engine never serves another
domain: it knows its own domain's token only.

The engine is a Python process, not Spark's own `start-connect-server.sh`, because the build's second wall
against tenant SQL (`datamesh.build.sqlguard`) must run with Spark's parser and analyser, through py4j, on the
very session that will run the query. This process starts Spark with the Connect plugin (as pyspark's
`remote("local")` does), so it holds py4j access to the JVM that serves the builds' sessions, and it serves a
small HTTP guard beside the gRPC port (`datamesh.engine.server`) that runs the unchanged checks on a build's
own session and registers the checked plan there. The decisions of the guard (request validation, the token,
error mapping) are pure functions in `datamesh.engine.guard`.
"""
