"""Mirroring: copy a share of a route's requests to another host, fire and forget.

The copy goes out in its own task after the client's request is routed (for a
request with a body, once the primary has read it): the mirrored answer is read
and thrown away, never reaches the client, and a slow or dead mirror never slows
it. Copies are bounded: at most ``max_concurrent`` in flight and bodies up to
``max_body_bytes``; anything over is dropped and counted by reason. Like Envoy,
the copy's Host gets a ``-shadow`` suffix, and it carries ``x-meshlens-mirror: 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from proxy.config import Endpoint
from proxy.forward import AttemptFailed, discard, send
from proxy.http_codec import Framing, Headers, RequestHead
from proxy.http_serialize import serialize_request_head
from proxy.resilience.config import MirrorConfig
from proxy.upstream_pool import UpstreamPool

log = logging.getLogger(__name__)
MIRROR_HEADER = b"x-meshlens-mirror"
# a route host to one of its endpoints (``RouteTable.pick_for_host``)
EndpointResolver = Callable[[str], Endpoint | None]


class Mirror:
    def __init__(self, config: MirrorConfig, resolve: EndpointResolver, pool: UpstreamPool,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self._resolve = resolve
        self._pool = pool
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0
        self.dropped: dict[str, int] = {"overflow": 0, "body_too_large": 0, "no_route": 0}

    def sample(self) -> bool:
        """Whether this request is one of the ``percent`` to copy."""
        percent = self.config.percent
        return percent >= 100.0 or self._rng.random() * 100.0 < percent

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, head: RequestHead, target: bytes, headers: Headers,
               body: bytes | None) -> None:
        """Start the copy unless over a limit; ``body`` None means it was not kept whole."""
        if body is None or len(body) > self.config.max_body_bytes:
            self.dropped["body_too_large"] += 1
            return
        if len(self._tasks) >= self.config.max_concurrent:
            self.dropped["overflow"] += 1
            return
        endpoint = self._resolve(self.config.host)
        if endpoint is None:
            self.dropped["no_route"] += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._send(head, target, _shadow_headers(headers, body), body, endpoint))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, head: RequestHead, target: bytes, headers: Headers, body: bytes,
                    endpoint: Endpoint) -> None:
        copy = RequestHead(head.method, target, "1.1", headers, True,
                           Framing.LENGTH if body else Framing.NONE, len(body) if body else None)
        try:
            async with asyncio.timeout(self.config.timeout):
                answered = await send(copy, _Bytes(body), self._pool, endpoint,
                                      serialize_request_head(head.method, target, headers))
                try:
                    while await answered.conn.body.read():
                        pass  # the mirror's answer is nobody's business
                except BaseException:
                    await discard(answered)
                    raise
                if answered.pump is not None and not answered.pump.done():
                    await discard(answered)  # answered before taking the whole body
                else:
                    self._pool.release(answered.conn)
            self.sent += 1
        except (AttemptFailed, TimeoutError, ConnectionError) as error:
            self.failed += 1
            log.debug("mirror to %s failed: %s", endpoint, error)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _shadow_headers(headers: Headers, body: bytes) -> Headers:
    out: Headers = []
    for name, value in headers:
        if name.lower() == b"host" and not value.startswith(b"["):
            host, colon, port = value.partition(b":")
            value = host + b"-shadow" + colon + port
        out.append((name, value))
    out.append((MIRROR_HEADER, b"1"))
    if body:
        out.append((b"Content-Length", str(len(body)).encode()))
    return out


class _Bytes:
    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self) -> bytes:
        body, self._body = self._body, b""
        return body
