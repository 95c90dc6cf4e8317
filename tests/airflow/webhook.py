"""A local HTTP endpoint that records what is posted to it: the notifier's webhook in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

WEBHOOK_PATH = "/hooks/streamflow"


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    document: Any


@contextmanager
def recording_server() -> Iterator[tuple[str, list[Posted]]]:
    """Yields the server's root URL (``http://127.0.0.1:PORT``) and the list each POST, to any
    path, is appended to."""
    posted: list[Posted] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            document = json.loads(self.rfile.read(length))
            posted.append(Posted(self.path, dict(self.headers.items()), document))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", posted
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def recording_webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Yields the webhook's URL and the list the documents posted to it are added to when the
    server stops."""
    documents: list[dict[str, Any]] = []
    with recording_server() as (root, posted):
        try:
            yield f"{root}{WEBHOOK_PATH}", documents
        finally:
            documents.extend(p.document for p in posted if p.path == WEBHOOK_PATH)
