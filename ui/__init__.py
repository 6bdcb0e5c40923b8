"""MeshLens web UI: trace search and trace view, written against `TraceReader`.

    app = ui.create_app(store)            # any object with the TraceReader methods
    server = ui.serve_ui(app, "127.0.0.1", 8050)
    server.start()  ...  server.stop()

`ui.testing.InMemoryTraceReader` is a real in-memory reader for tests and demos.
"""

from ui.app import create_app
from ui.server import UIServer, serve_ui
from ui.trace_reader import TraceReader

__all__ = ["TraceReader", "UIServer", "create_app", "serve_ui"]
