"""The HTTP side: /health (200 when ready or deliberately GPU-less, else 503) and /metrics."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from .health import Health

log = logging.getLogger("pose_service.http")


def serve(health: Health, port: int, host: str = "0.0.0.0",
          extra: Optional[Callable[[], dict]] = None) -> ThreadingHTTPServer:
    """Starts the server on a daemon thread; `server.shutdown()` stops it. `extra` adds live
    fields (queue depth, GPU memory) to /health."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/health":
                snap = health.snapshot()
                if extra:
                    try:
                        snap.update(extra())
                    except Exception as err:  # a probe must never break /health
                        snap["extra_error"] = str(err)
                status = 200 if snap["state"] in ("ready", "disabled") else 503
                self._send(status, json.dumps(snap).encode(), "application/json")
            elif path == "/metrics":
                self._send(200, health.metrics().encode(), "text/plain; version=0.0.4")
            else:
                self._send(404, b'{"error": "not found; try /health or /metrics"}', "application/json")

        def log_message(self, fmt: str, *args) -> None:
            log.debug("http %s", fmt % args, extra={"client": self.client_address[0]})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
