"""OTLP/gRPC trace receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

The method is registered with no deserializer, so it gets the raw request bytes
and decodes them with the same code as OTLP/HTTP: a malformed request is answered
INVALID_ARGUMENT naming what is wrong (with a generated servicer, grpc would
answer a bare INTERNAL before our code ran). A full queue is answered
RESOURCE_EXHAUSTED with RetryInfo, which OTLP exporters honour as their backoff.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from collector.pipeline import SpanConsumer
from collector.receivers import rpc_status
from collector.self_tracing import suppress_self_tracing
from collector.translate import OtlpDecodeError, decode_protobuf
from storage.model import SpanColumns

log = logging.getLogger(__name__)

SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"
_EMPTY_RESPONSE = b""  # a serialized, empty ExportTraceServiceResponse
_DECODE_IN_THREAD_BYTES = 1024 * 1024


class OtlpGrpcReceiver:
    def __init__(
        self,
        consumer: SpanConsumer,
        *,
        host: str = "127.0.0.1",
        port: int = 4317,
        max_message_bytes: int = 16 * 1024 * 1024,
        retry_after_s: int = 1,
    ) -> None:
        self._consumer = consumer
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._retry_after_s = retry_after_s
        self._server: grpc.aio.Server | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("OTLP/gRPC receiver is not started")
        return self._bound_port

    async def start(self) -> None:
        if self._server is not None:
            return
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                # Without this a second server could bind the same port silently.
                ("grpc.so_reuseport", 0),
            ]
        )
        export = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, {"Export": export}),)
        )
        host = f"[{self._host}]" if ":" in self._host else self._host
        address = f"{host}:{self._port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            bound, reason = 0, f": {exc}"
        else:
            reason = ""
        if not bound:
            await server.stop(None)  # a never-started server must still be shut down
            raise OSError(f"OTLP/gRPC receiver cannot listen on {address}{reason}")
        await server.start()
        self._server = server
        self._bound_port = bound
        log.info("OTLP/gRPC receiver listening on %s:%d", host, bound)

    async def stop(self) -> None:
        server, self._server = self._server, None
        self._bound_port = None
        if server is not None:
            await server.stop(grace=1.0)

    async def _export(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        with suppress_self_tracing():
            try:
                batch = await self._decode(request)
            except OtlpDecodeError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            if not self._consumer.try_put(batch, len(request)):
                message = "span queue is full; retry later"
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    message,
                    trailing_metadata=rpc_status.retry_trailers(
                        rpc_status.RESOURCE_EXHAUSTED, message, self._retry_after_s
                    ),
                )
        return _EMPTY_RESPONSE

    async def _decode(self, request: bytes) -> SpanColumns:
        if len(request) >= _DECODE_IN_THREAD_BYTES:
            return await asyncio.to_thread(decode_protobuf, request)
        return decode_protobuf(request)
