"""An OpenLineage HTTP endpoint for tests: appends each event it receives as one JSON line to a file.

Build pods on the real node cannot write to a file of the test's host, so the test operator points them at
this sink (OPENLINEAGE_URL), listening on the node's address where pods reach the host."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class LineageSink:
    def __init__(self, host: str, path: Path) -> None:
        self.path = path
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with lock, sink.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(event) + "\n")
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="lineage-sink", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
