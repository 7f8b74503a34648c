"""`python -m datamesh.build`: the build pod's entry point.

Reads the BuildRequest from `--request FILE` or the DATAMESH_BUILD_REQUEST environment variable, prints the
BuildResult as JSON on stdout, writes it (compacted to 4096 bytes) to /dev/termination-log when that is
writable, and exits 0 only when the product was published. A request with `"action": "delete"` is a
DeleteRequest from a deletion Job instead (`datamesh.build.delete`): exit 0 only when the table is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TextIO

from pydantic import ValidationError

from datamesh import settings
from datamesh.build.errors import one_line
from datamesh.mesh.contract import (
    REQUEST_ENV,
    TERMINATION_LOG,
    TERMINATION_MESSAGE_LIMIT,
    BuildRequest,
    BuildResult,
    DeleteRequest,
)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Send everything written to fd 1 (the JVM's and Ivy's chatter included) to stderr; yield the real stdout.

    The result JSON must be the only thing on stdout, and the JVM inherits file descriptors, not sys.stdout.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real = os.fdopen(saved, "w", encoding="utf-8", closefd=True)
    try:
        yield real
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        real.flush()
        real.close()


def write_termination_log(result: BuildResult, path: str = TERMINATION_LOG) -> bool:
    """Write the compact result where the kubelet picks it up; False when there is no such writable file."""
    # In a pod the kubelet creates /dev/termination-log; on a laptop it is absent and must not be created.
    if path.startswith("/dev/") and not os.path.exists(path):
        return False
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(result.to_termination_message())
    except OSError:
        return False
    return True


def load_request(path: str | None, environ: dict[str, str] | None = None) -> BuildRequest | DeleteRequest:
    env = os.environ if environ is None else environ
    if path:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    elif settings.BUILD_REQUEST.get(env):
        text = settings.BUILD_REQUEST.get(env)
    else:
        raise ValueError(f"no build request: pass --request FILE or set {REQUEST_ENV}")
    loaded = json.loads(text)
    if isinstance(loaded, dict) and loaded.get("action") == "delete":
        return DeleteRequest.model_validate(loaded)
    return BuildRequest.model_validate(loaded)


def _invalid(error: Exception) -> BuildResult:
    now = datetime.now(UTC)
    detail = (
        "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        if isinstance(error, ValidationError)
        else str(error)
    )
    return BuildResult(
        outcome="Failed", reason="InvalidRequest", message=one_line(detail), started_at=now, finished_at=now
    )


def emit(result: BuildResult, stdout: TextIO, termination_log: str = TERMINATION_LOG) -> int:
    stdout.write(result.to_json() + "\n")
    stdout.flush()
    write_termination_log(result, termination_log)
    return 0 if result.published else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datamesh.build", description=__doc__)
    parser.add_argument("--request", metavar="FILE", help=f"BuildRequest JSON (default: ${REQUEST_ENV})")
    parser.add_argument("--termination-log", default=TERMINATION_LOG, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with stdout_to_stderr() as stdout:
        try:
            request = load_request(args.request)
        except (OSError, ValueError) as error:
            return emit(_invalid(error), stdout, args.termination_log)
        if isinstance(request, DeleteRequest):
            return _delete(request, stdout, args.termination_log)
        from datamesh.build.runner import run_build

        def progress(line: str) -> None:
            print(f"[{request.name}] {line}", file=sys.stderr, flush=True)

        return emit(run_build(request, progress=progress), stdout, args.termination_log)


def _delete(request: DeleteRequest, stdout: TextIO, termination_log: str) -> int:
    from datamesh.build.delete import run_delete

    print(f"[{request.name}] deleting the table at {request.location}", file=sys.stderr, flush=True)
    result = run_delete(request)
    text = result.to_json()
    stdout.write(text + "\n")
    stdout.flush()
    _write_text(termination_log, text[:TERMINATION_MESSAGE_LIMIT])
    return 0 if result.succeeded else 1


def _write_text(path: str, text: str) -> None:
    if path.startswith("/dev/") and not os.path.exists(path):
        return
    with contextlib.suppress(OSError), open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


if __name__ == "__main__":
    sys.exit(main())
