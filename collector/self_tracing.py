"""The pipeline does not trace itself (STYLE 7).

OpenTelemetry instrumentations skip making spans while the suppression keys are
set in the current context, which is how opentelemetry-python's own exporters
avoid tracing their exports. The collector sets them around everything it does
to move spans, so that an instrumented process hosting it (e.g. an instrumented
ClickHouse HTTP client in `meshlens up`) does not feed its own pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context

_SUPPRESS_KEYS = (
    context._SUPPRESS_INSTRUMENTATION_KEY,
    context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
)


@contextmanager
def suppress_self_tracing() -> Iterator[None]:
    """Suppress instrumentation for the code in the block (and threads it starts
    with `asyncio.to_thread`, which copies the context)."""
    ctx = context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = context.set_value(key, True, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


def is_self_tracing_suppressed() -> bool:
    return bool(context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY))
