"""TLS and mTLS on the OTLP receivers, with certificates from our own test CA: the
SDK's exporters send over TLS, plaintext and unknown clients are refused, and bad
certificate files stop the collector with the option and the file named."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from collector import (
    Collector,
    CollectorConfig,
    CollectorConfigError,
    SinkExporter,
    TlsServerConfig,
)
from control.testing import TestCA

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def sdk_spans() -> Sequence[ReadableSpan]:
    """A server span with a child client span, made by the OpenTelemetry SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "loadgen"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.collector.tls")
    with (
        tracer.start_as_current_span("GET /", kind=SpanKind.SERVER),
        tracer.start_as_current_span("GET /api", kind=SpanKind.CLIENT),
    ):
        pass
    provider.shutdown()
    return memory.get_finished_spans()


@dataclass(frozen=True)
class Pki:
    ca: Path  # the trust bundle clients verify the collector with
    cert: Path
    key: Path
    client_cert: Path  # a client identity from the same CA
    client_key: Path
    stranger_cert: Path  # a client identity from another CA
    stranger_key: Path

    def read(self, name: str) -> bytes:
        path: Path = getattr(self, name)
        return path.read_bytes()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("collector-tls")
    ca, other = TestCA("collector.test"), TestCA("other.test")
    server = ca.identity("collector", dns_names=("localhost", "127.0.0.1"))
    client, stranger = ca.identity("loadgen"), other.identity("loadgen")
    files = {
        "ca.pem": server.bundle_pem, "cert.pem": server.chain_pem, "key.pem": server.key_pem,
        "client.pem": client.chain_pem, "client-key.pem": client.key_pem,
        "stranger.pem": stranger.chain_pem, "stranger-key.pem": stranger.key_pem,
    }  # fmt: skip
    for name, data in files.items():
        (directory / name).write_bytes(data)
    d = directory
    return Pki(d / "ca.pem", d / "cert.pem", d / "key.pem", d / "client.pem",
               d / "client-key.pem", d / "stranger.pem", d / "stranger-key.pem")  # fmt: skip


async def started(sink: SinkExporter, tls: TlsServerConfig) -> Collector:
    config = CollectorConfig(http_port=0, grpc_port=0, batch_timeout_s=0.01, tls=tls)
    collector = Collector(config, sink)
    await collector.start()
    return collector


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables replace a session's `verify`, which is where the
    # SDK's HTTP exporter puts its certificate_file: the test CA would be ignored.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
async def tls_collector(pki: Pki) -> AsyncIterator[tuple[Collector, SinkExporter]]:
    sink = SinkExporter()
    collector = await started(sink, TlsServerConfig(str(pki.cert), str(pki.key)))
    yield collector, sink
    await collector.stop()


@pytest.fixture
async def mtls_collector(pki: Pki) -> AsyncIterator[tuple[Collector, SinkExporter]]:
    sink = SinkExporter()
    tls = TlsServerConfig(str(pki.cert), str(pki.key), client_ca_file=str(pki.ca))
    collector = await started(sink, tls)
    yield collector, sink
    await collector.stop()


def export_http(collector: Collector, pki: Pki, *, client: bool = False) -> SpanExportResult:
    exporter = HttpSpanExporter(
        endpoint=f"https://127.0.0.1:{collector.http_port}/v1/traces",
        certificate_file=str(pki.ca),
        client_certificate_file=str(pki.client_cert) if client else None,
        client_key_file=str(pki.client_key) if client else None,
        timeout=5,
    )
    try:
        return exporter.export(sdk_spans())
    finally:
        exporter.shutdown()


def export_grpc(collector: Collector, pki: Pki, *, client: bool = False) -> SpanExportResult:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.read("ca"),
        private_key=pki.read("client_key") if client else None,
        certificate_chain=pki.read("client_cert") if client else None,
    )
    exporter = GrpcSpanExporter(
        endpoint=f"localhost:{collector.grpc_port}", credentials=credentials, insecure=False,
        timeout=5,
    )  # fmt: skip
    try:
        return exporter.export(sdk_spans())
    finally:
        exporter.shutdown()


async def grpc_export_raw(
    collector: Collector, credentials: grpc.ChannelCredentials | None
) -> None:
    target = f"localhost:{collector.grpc_port}"
    channel = (
        grpc.aio.secure_channel(target, credentials)
        if credentials is not None
        else grpc.aio.insecure_channel(target)
    )
    async with channel:
        export = channel.unary_unary(
            EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
        )
        await export(encode_spans(sdk_spans()).SerializeToString(), timeout=5)


@pytest.mark.parametrize("send", [export_http, export_grpc], ids=["http", "grpc"])
async def test_sdk_exporters_send_over_tls(
    tls_collector: tuple[Collector, SinkExporter], pki: Pki, send: Callable[..., SpanExportResult]
) -> None:
    collector, sink = tls_collector
    result = await asyncio.to_thread(send, collector, pki)
    assert result is SpanExportResult.SUCCESS
    spans = await sink.wait_for_spans(2)
    assert sorted(spans.SpanKind) == ["Client", "Server"]


async def test_plaintext_clients_are_refused(tls_collector: tuple[Collector, SinkExporter]) -> None:
    collector, sink = tls_collector
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await session.post(
                f"http://127.0.0.1:{collector.http_port}/v1/traces",
                data=b"", headers={"Content-Type": "application/x-protobuf"},
            )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_export_raw(collector, None)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert sink.span_count == 0


@pytest.mark.parametrize("send", [export_http, export_grpc], ids=["http", "grpc"])
async def test_mtls_accepts_a_client_certificate_from_the_client_ca(
    mtls_collector: tuple[Collector, SinkExporter], pki: Pki, send: Callable[..., SpanExportResult]
) -> None:
    collector, sink = mtls_collector
    result = await asyncio.to_thread(send, collector, pki, client=True)
    assert result is SpanExportResult.SUCCESS
    await sink.wait_for_spans(2)


@pytest.mark.parametrize("who", ["nobody", "stranger"])
async def test_mtls_refuses_clients_without_a_trusted_certificate(
    mtls_collector: tuple[Collector, SinkExporter], pki: Pki, who: str
) -> None:
    collector, sink = mtls_collector
    context = ssl.create_default_context(cafile=str(pki.ca))
    key, chain = None, None
    if who == "stranger":
        context.load_cert_chain(pki.stranger_cert, pki.stranger_key)
        key, chain = pki.read("stranger_key"), pki.read("stranger_cert")
    async with aiohttp.ClientSession() as session:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
            async with session.post(
                f"https://127.0.0.1:{collector.http_port}/v1/traces", ssl=context,
                data=b"", headers={"Content-Type": "application/x-protobuf"},
            ) as response:  # fmt: skip
                await response.read()
    credentials = grpc.ssl_channel_credentials(pki.read("ca"), key, chain)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_export_raw(collector, credentials)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert sink.span_count == 0


def test_bad_files_name_the_option_and_the_file(pki: Pki, tmp_path: Path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    missing = tmp_path / "missing.pem"
    with pytest.raises(CollectorConfigError) as error:
        Collector(CollectorConfig(tls=TlsServerConfig(str(missing), str(not_pem),
                                                      client_ca_file=str(pki.key))),
                  SinkExporter())  # fmt: skip
    assert error.value.problems == [
        f"collector.tls.cert_file: cannot read '{missing}': No such file or directory",
        f"collector.tls.key_file: '{not_pem}' is not a PEM private key",
        f"collector.tls.client_ca_file: '{pki.key}' holds no PEM certificate",
    ]
    with pytest.raises(CollectorConfigError) as error:
        Collector(CollectorConfig(tls=TlsServerConfig(str(pki.cert), str(pki.client_key))),
                  SinkExporter())  # fmt: skip
    assert error.value.problems == [
        f"collector.tls.key_file: '{pki.client_key}' does not belong to the certificate in "
        f"'{pki.cert}'"
    ]


def test_an_encrypted_key_or_an_empty_path_is_refused(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.read("key"), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ))  # fmt: skip
    with pytest.raises(CollectorConfigError, match=f"'{encrypted}' is encrypted"):
        Collector(CollectorConfig(tls=TlsServerConfig(str(pki.cert), str(encrypted))),
                  SinkExporter())  # fmt: skip
    with pytest.raises(CollectorConfigError) as error:
        CollectorConfig(tls=TlsServerConfig("", str(pki.key), client_ca_file=""))
    assert error.value.problems == [
        "collector.tls.cert_file: must be a file path, got ''",
        "collector.tls.client_ca_file: must be a file path, got ''",
    ]
