# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scaffolding the loopback provider fakes share: an HTTP server on 127.0.0.1 (port chosen by the OS) served
from a daemon thread, started and stopped by the fake or used as a context manager.

A subclass implements ``handle(handler, method)`` (read the request from the ``BaseHTTPRequestHandler``, write the
answer to it; ``read_json`` and ``send_json`` do the JSON) and names the HTTP ``methods`` it serves; a fake that
serves something else (a WSGI app) overrides ``make_server`` instead.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_json(handler):
    """The request body parsed from JSON; None when it is empty or not JSON."""
    length = int(handler.headers.get("Content-Length") or 0)
    raw_body = handler.rfile.read(length) if length else b""
    try:
        return json.loads(raw_body) if raw_body else None
    except ValueError:
        return None


def send_json(handler, status, payload, content_type="application/json", headers=None):
    """Answer with ``status`` and ``payload`` as JSON (an empty body for None), plus ``headers``."""
    data = json.dumps(payload).encode() if payload is not None else b""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def _handler_class(fake):
    """A request handler passing each request of ``fake.methods`` to ``fake.handle`` and tracking its connection."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - quiet: tests read the recorded requests instead
            return

        def setup(self):
            super().setup()
            with fake._connections_lock:
                fake._connections.add(self.connection)

        def finish(self):
            with fake._connections_lock:
                fake._connections.discard(self.connection)
            super().finish()

    def method_handler(method):
        def do_method(handler):
            fake.handle(handler, method)

        return do_method

    for method in fake.methods:
        setattr(Handler, "do_" + method, method_handler(method))
    return Handler


class LoopbackFake:
    """A fake API on 127.0.0.1 served from a background thread; ``start()`` returns its base URL (also ``url``)."""

    methods = ("GET", "PUT", "POST", "DELETE")
    thread_name = "loopback-fake"

    def __init__(self):
        self._connections = set()
        self._connections_lock = threading.Lock()
        self._server = None
        self._thread = None
        self._url = None

    def handle(self, handler, method):
        """Answer one request: ``handler`` is the BaseHTTPRequestHandler, ``method`` the HTTP method."""
        raise NotImplementedError

    def make_server(self):
        """The server ``start`` runs: a ThreadingHTTPServer on 127.0.0.1 (OS-chosen port) calling ``handle``."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        server.daemon_threads = True
        return server

    def start(self):
        """Serve from a daemon thread; returns the base URL (``http://127.0.0.1:PORT``)."""
        self._server = self.make_server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self._url = "http://%s:%d" % (host, port)
        return self._url

    @property
    def url(self):
        """The base URL of the last ``start`` (None before it)."""
        return self._url

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            # Keep-alive connections would otherwise go on being served by their handler threads.
            with self._connections_lock:
                connections, self._connections = list(self._connections), set()
            for connection in connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()
