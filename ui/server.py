"""Serve a Dash app from a background thread, for `meshlens up` and for tests."""

from __future__ import annotations

import logging
import threading

import dash
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["UIServer", "serve_ui"]

log = logging.getLogger(__name__)


class _QuietRequestHandler(WSGIRequestHandler):
    """Access lines at DEBUG: werkzeug's default prints every request to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('%s "%s" %s %s', self.address_string(), self.requestline, code, size)


class UIServer:
    """werkzeug's threaded WSGI server around one app, in a daemon thread.

    `start()` binds and serves; `stop()` shuts down and releases the port. Both
    are safe to call twice, and `stop()` before `start()` does nothing. Port 0
    binds a free port: read it from `port` after `start()`.
    """

    def __init__(self, app: dash.Dash, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port if self._server else self._requested_port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        server = make_server(
            self._host,
            self._requested_port,
            self._app.server,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        thread = threading.Thread(
            target=server.serve_forever, name=f"meshlens-ui:{server.server_port}", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        log.info("UI serving on %s", self.url)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.server_close()
        self._server = self._thread = None


def serve_ui(app: dash.Dash, host: str = "127.0.0.1", port: int = 8050) -> UIServer:
    """A server for `app` on host:port, not started yet: call `start()`."""
    return UIServer(app, host, port)
