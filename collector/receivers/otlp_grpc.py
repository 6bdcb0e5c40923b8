"""OTLP/gRPC receiver: `Export` of `opentelemetry.proto.collector.trace.v1.TraceService`,
`.metrics.v1.MetricsService` and `.logs.v1.LogsService`, on one server.

The methods are registered with no deserializer, so they get the raw request bytes
and decode them with the same code as OTLP/HTTP: a malformed request is answered
INVALID_ARGUMENT naming what is wrong (with a generated servicer, grpc would
answer a bare INTERNAL before our code ran). A full queue is answered
RESOURCE_EXHAUSTED with RetryInfo, which OTLP exporters honour as their backoff.
A request some of whose items are invalid is answered OK with `partial_success`.
With `tls` (collector/receivers/tls.py) the port is a secure one, mTLS when a
client CA is set; plaintext clients fail the handshake.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc

from collector.pipeline import SpanConsumer
from collector.receivers import rpc_status
from collector.receivers.otlp_signals import QUEUE_FULL, SIGNALS, OtlpSignal, decode_body
from collector.receivers.tls import ServerTls
from collector.self_tracing import suppress_self_tracing
from collector.translate import OtlpDecodeError

log = logging.getLogger(__name__)


class OtlpGrpcReceiver:
    def __init__(
        self,
        consumer: SpanConsumer,
        *,
        host: str = "127.0.0.1",
        port: int = 4317,
        max_message_bytes: int = 16 * 1024 * 1024,
        retry_after_s: int = 1,
        tls: ServerTls | None = None,
        signals: tuple[OtlpSignal, ...] = SIGNALS,
    ) -> None:
        self._consumer = consumer
        self._tls = tls
        self._signals = signals  # how each signal is decoded (otlp_signals.py)
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
        server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(
                    signal.grpc_service,
                    # raw bytes in and out
                    {"Export": grpc.unary_unary_rpc_method_handler(self._exporter(signal))},
                )
                for signal in self._signals
            )
        )
        host = f"[{self._host}]" if ":" in self._host else self._host
        address = f"{host}:{self._port}"
        try:
            if self._tls is not None:
                bound = server.add_secure_port(address, self._tls.grpc_credentials)
            else:
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
        log.info(
            "OTLP/gRPC receiver listening on %s:%d (%s)",
            host, bound, self._tls.mode if self._tls is not None else "plaintext",
        )  # fmt: skip

    async def stop(self) -> None:
        server, self._server = self._server, None
        self._bound_port = None
        if server is not None:
            await server.stop(grace=1.0)

    def _exporter(
        self, signal: OtlpSignal
    ) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await self._export(request, context, signal)

        return export

    async def _export(
        self, request: bytes, context: grpc.aio.ServicerContext, signal: OtlpSignal
    ) -> bytes:
        with suppress_self_tracing():
            try:
                decoded = await decode_body(signal.decode_protobuf, request)
            except OtlpDecodeError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            if not self._consumer.try_put(decoded.batch, len(request), decoded.rejected):
                message = f"{QUEUE_FULL}; retry later"
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    message,
                    trailing_metadata=rpc_status.retry_trailers(
                        rpc_status.RESOURCE_EXHAUSTED, message, self._retry_after_s
                    ),
                )
        return signal.response(decoded).SerializeToString()
