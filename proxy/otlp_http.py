"""OTLP/HTTP posts from the event loop, over the proxy's own keep-alive pool.

The span and metric exporters push protobuf bodies to ``<otlp_endpoint>/v1/...``
without a blocking HTTP library in a thread: a thread that encodes or posts holds
the GIL for up to the switch interval (5 ms) whenever the event loop wants it
back, which is what the request-latency tail used to show. Here a post is a few
non-blocking writes and a parsed response head, like a forwarded request: one
kept-alive connection (TLS for ``https``), a stale one retried once, a deadline
over the whole post. Export requests make no spans: the proxy instruments only
its listeners (the pipeline does not trace itself).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from proxy.config import Endpoint
from proxy.upstream_pool import UpstreamPool, UpstreamReset

CONTENT_TYPE = b"application/x-protobuf"


class OtlpHttpClient:
    """``post(path, body)`` to one OTLP/HTTP endpoint; the status, or an exception."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        self._endpoint = Endpoint(parts.hostname or "127.0.0.1",
                                  parts.port or (443 if https else 80))
        self._prefix = parts.path.rstrip("/").encode()
        self._host = parts.netloc.encode()
        self._timeout = timeout
        self._pool = UpstreamPool(connect_timeout=timeout, max_idle_per_endpoint=1,
                                  ssl_context=ssl.create_default_context() if https else None)

    async def post(self, path: str, body: bytes) -> int:
        """POST ``body`` to ``<prefix><path>``; the response status. Raises OSError,
        TimeoutError or ``HttpError`` (an answer that cannot be parsed)."""
        head = (b"POST %b%b HTTP/1.1\r\nHost: %b\r\nContent-Type: %b\r\n"
                b"Content-Length: %d\r\n\r\n"
                % (self._prefix, path.encode(), self._host, CONTENT_TYPE, len(body)))
        async with asyncio.timeout(self._timeout):
            for attempt in (1, 2):
                conn, reused = await self._pool.acquire(self._endpoint)
                try:
                    conn.begin(head_request=False)
                    conn.writelines([head, body])
                    response = await conn.response_head()
                    while await conn.body.read():
                        pass
                except UpstreamReset:
                    conn.close()
                    if reused and attempt == 1:
                        continue  # the collector closed it while idle: nothing was read
                    raise
                except BaseException:
                    conn.close()
                    raise
                self._pool.release(conn)
                return response.status
        raise UpstreamReset("unreachable")  # pragma: no cover - the loop returns or raises

    async def close(self) -> None:
        await self._pool.close()
