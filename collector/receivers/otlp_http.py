"""OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf or JSON,
optionally gzip.

Answers follow the OTLP/HTTP spec: the signal's `Export*ServiceResponse` (with
`partial_success` when invalid items were left out, see otlp_signals.py) or a
`google.rpc.Status` error in the encoding of the request; 400 for payloads that
are not OTLP (the message says what and where), 413 for bodies over
`max_body_bytes` (compressed, and again once decompressed, against gzip bombs),
415 for other content types or encodings, 429 with Retry-After when the queue is
full. The body is read in chunks and decompressed by us (aiohttp's automatic
decompression is off) so that neither size is ever unbounded. With `tls`
(collector/receivers/tls.py) it serves HTTPS only, mTLS when a client CA is set.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from google.protobuf import json_format

from collector.http_listener import HttpListener
from collector.pipeline import SpanConsumer
from collector.receivers import rpc_status
from collector.receivers.otlp_signals import QUEUE_FULL, SIGNALS, OtlpSignal, decode_body
from collector.receivers.tls import ServerTls
from collector.self_tracing import suppress_self_tracing
from collector.translate import Decoded, OtlpDecodeError

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_READ_CHUNK = 64 * 1024


class _Refusal(Exception):
    """Stop handling a request and answer with this status and message."""

    def __init__(self, http_status: int, rpc_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.rpc_code = rpc_code
        self.message = message


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body (all of its members), refusing output over `limit` bytes."""
    output = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            output += inflater.decompress(data, limit + 1 - len(output))
        except zlib.error as exc:
            raise _Refusal(400, rpc_status.INVALID_ARGUMENT, f"invalid gzip body: {exc}") from None
        if len(output) > limit:
            raise _too_large(limit, "decompressed ")
        if not inflater.eof:
            raise _Refusal(400, rpc_status.INVALID_ARGUMENT, "truncated gzip body")
        data = inflater.unused_data
    return bytes(output)


def _too_large(limit: int, which: str = "") -> _Refusal:
    return _Refusal(
        413, rpc_status.RESOURCE_EXHAUSTED, f"{which}request body is larger than {limit} bytes"
    )


class OtlpHttpReceiver:
    def __init__(
        self,
        consumer: SpanConsumer,
        *,
        host: str = "127.0.0.1",
        port: int = 4318,
        max_body_bytes: int = 16 * 1024 * 1024,
        retry_after_s: int = 1,
        tls: ServerTls | None = None,
        signals: tuple[OtlpSignal, ...] = SIGNALS,
    ) -> None:
        self._consumer = consumer
        self._tls = tls
        self._max_body_bytes = max_body_bytes
        self._retry_after_s = retry_after_s
        app = web.Application()
        for signal in signals:  # how each signal is decoded (otlp_signals.py)
            app.router.add_post(signal.http_path, self._handler(signal))
        # bodies are decompressed by us, bounded (see gunzip_bounded)
        self._listener = HttpListener(
            "OTLP/HTTP receiver", app, host=host, port=port,
            ssl_context=tls.ssl_context if tls is not None else None,
            auto_decompress=False, shutdown_timeout=5.0,
        )  # fmt: skip

    @property
    def port(self) -> int:
        return self._listener.port

    async def start(self) -> None:
        await self._listener.start()
        log.info(
            "OTLP/HTTP receiver listening on port %d (%s)",
            self._listener.port, self._tls.mode if self._tls is not None else "plaintext",
        )  # fmt: skip

    async def stop(self) -> None:
        await self._listener.stop()

    def _handler(self, signal: OtlpSignal) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await self._handle(request, signal)

        return handle

    async def _handle(self, request: web.Request, signal: OtlpSignal) -> web.Response:
        content_type = request.content_type
        as_json = content_type != PROTOBUF
        with suppress_self_tracing():
            try:
                decoded, size = await self._decode(request, content_type, signal)
                if not self._consumer.try_put(decoded.batch, size, decoded.rejected):
                    return self._refuse(
                        _Refusal(429, rpc_status.RESOURCE_EXHAUSTED, QUEUE_FULL),
                        as_json,
                        retry=True,
                    )
            except _Refusal as refusal:
                return self._refuse(refusal, as_json)
            except Exception:
                log.exception("OTLP/HTTP export failed")
                return self._refuse(
                    _Refusal(500, rpc_status.INTERNAL, "internal error; see collector log"),
                    as_json,
                )
        response = signal.response(decoded)
        body = (
            json_format.MessageToJson(response, indent=None).encode()
            if as_json
            else response.SerializeToString()
        )
        return web.Response(body=body, content_type=content_type)

    async def _decode(
        self, request: web.Request, content_type: str, signal: OtlpSignal
    ) -> tuple[Decoded[Any], int]:
        if content_type not in (PROTOBUF, JSON):
            raise _Refusal(
                415,
                rpc_status.INVALID_ARGUMENT,
                f"unsupported Content-Type {content_type!r}; use {PROTOBUF} or {JSON}",
            )
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            raise _Refusal(
                415,
                rpc_status.INVALID_ARGUMENT,
                f"unsupported Content-Encoding {encoding!r}; use gzip or identity",
            )
        body = await self._read_body(request)
        if encoding == "gzip":
            body = gunzip_bounded(body, self._max_body_bytes)
        decode = signal.decode_protobuf if content_type == PROTOBUF else signal.decode_json
        try:
            return await decode_body(decode, body), len(body)
        except OtlpDecodeError as exc:
            raise _Refusal(400, rpc_status.INVALID_ARGUMENT, str(exc)) from None

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self._max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        body = bytearray()
        try:
            async for chunk in request.content.iter_chunked(_READ_CHUNK):
                body += chunk
                if len(body) > limit:
                    raise _too_large(limit)
        except (RequestPayloadError, ConnectionError) as exc:
            raise _Refusal(
                400, rpc_status.INVALID_ARGUMENT, f"could not read request body: {exc}"
            ) from None
        return bytes(body)

    def _refuse(self, refusal: _Refusal, as_json: bool, *, retry: bool = False) -> web.Response:
        retry_after = self._retry_after_s if retry else None
        body = rpc_status.status_body(
            refusal.rpc_code, refusal.message, as_json=as_json, retry_after_s=retry_after
        )
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.Response(
            status=refusal.http_status,
            body=body,
            content_type=JSON if as_json else PROTOBUF,
            headers=headers,
        )
