"""Collector configuration: frozen, validated up front, every problem reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field

MiB = 1024 * 1024


class CollectorConfigError(ValueError):
    """One or more invalid settings; `problems` lists each with its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid collector config:\n  " + "\n  ".join(problems))
        self.problems = problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_int(problems: list[str], where: str, value: object, low: int, high: int) -> None:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        problems.append(f"{where}: must be an integer {low}..{high}, got {value!r}")


def _check_positive(problems: list[str], where: str, value: object) -> None:
    if not _is_number(value) or not value > 0:  # type: ignore[operator]
        problems.append(f"{where}: must be a number > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries of a failed export: attempts in all, and the exponential backoff.

    Checked as part of `CollectorConfig` (so that all problems come at once), or by
    `RetryingExporter` when used on its own.
    """

    max_attempts: int = 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    backoff_multiplier: float = 2.0

    def problems(self, where: str = "retry") -> list[str]:
        problems: list[str] = []
        _check_int(problems, f"{where}.max_attempts", self.max_attempts, 1, 100)
        _check_positive(problems, f"{where}.initial_backoff_s", self.initial_backoff_s)
        _check_positive(problems, f"{where}.max_backoff_s", self.max_backoff_s)
        if not _is_number(self.backoff_multiplier) or self.backoff_multiplier < 1:
            problems.append(
                f"{where}.backoff_multiplier: must be a number >= 1, "
                f"got {self.backoff_multiplier!r}"
            )
        if not problems and self.max_backoff_s < self.initial_backoff_s:
            problems.append(
                f"{where}.max_backoff_s: must be >= initial_backoff_s "
                f"({self.initial_backoff_s}), got {self.max_backoff_s}"
            )
        return problems


@dataclass(frozen=True, slots=True)
class TailSamplingConfig:
    """Tail sampling of what is written to `otel_traces` (off by default).

    Spans wait per trace for `decision_wait_s` after the trace's first span; then
    the trace is kept if any span has status Error, or if it lasts at least
    `latency_threshold_s` (first start to last end), or else if its trace id falls
    in `keep_percent` of the id space (the same answer on every collector
    replica). At most `max_traces` wait at once (the oldest is decided early when
    full); decisions are remembered for `decision_cache_traces` traces so that
    late spans follow them. Span metrics and the service graph see every span.
    """

    enabled: bool = False
    decision_wait_s: float = 10.0
    latency_threshold_s: float = 1.0
    keep_percent: float = 10.0
    max_traces: int = 50_000
    decision_cache_traces: int = 100_000

    def problems(self, where: str = "tail_sampling") -> list[str]:
        problems: list[str] = []
        if not isinstance(self.enabled, bool):
            problems.append(f"{where}.enabled: must be true or false, got {self.enabled!r}")
        _check_positive(problems, f"{where}.decision_wait_s", self.decision_wait_s)
        _check_positive(problems, f"{where}.latency_threshold_s", self.latency_threshold_s)
        if not _is_number(self.keep_percent) or not 0 <= self.keep_percent <= 100:
            problems.append(
                f"{where}.keep_percent: must be a number 0..100, got {self.keep_percent!r}"
            )
        _check_int(problems, f"{where}.max_traces", self.max_traces, 1, 100_000_000)
        _check_int(
            problems, f"{where}.decision_cache_traces", self.decision_cache_traces,
            0, 100_000_000,
        )  # fmt: skip
        return problems


@dataclass(frozen=True, slots=True)
class SelfMetricsConfig:
    """The collector's own counters, gauges and export latency, written to storage.

    Every `interval_s` (0: off) as OTel metric points of service `meshlens-collector`
    (collector/self_metrics.py), straight to the store, not through the pipeline.
    `instance_id` is the `service.instance.id` resource attribute; None: "<host>:<pid>".
    """

    interval_s: float = 10.0
    instance_id: str | None = None

    def problems(self, where: str = "self_metrics") -> list[str]:
        problems: list[str] = []
        if not _is_number(self.interval_s) or not (
            self.interval_s == 0 or 0.1 <= self.interval_s <= 86_400
        ):
            problems.append(
                f"{where}.interval_s: must be 0 (off) or a number of seconds 0.1..86400, "
                f"got {self.interval_s!r}"
            )
        if self.instance_id is not None and (
            not isinstance(self.instance_id, str) or not self.instance_id
        ):
            problems.append(
                f"{where}.instance_id: must be a non-empty string or None, got {self.instance_id!r}"
            )
        return problems

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0


@dataclass(frozen=True, slots=True)
class TlsServerConfig:
    """TLS on the OTLP receivers: PEM files of the certificate chain and its key, and
    with `client_ca_file` mutual TLS (clients must present a certificate it signed).

    Only the paths are checked here; the files are read and checked when the
    collector is built (`collector/receivers/tls.py`), naming the option and file.
    """

    cert_file: str
    key_file: str
    client_ca_file: str | None = None

    def problems(self, where: str = "tls") -> list[str]:
        problems: list[str] = []
        for name in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(self, name)
            if name == "client_ca_file" and value is None:
                continue
            if not isinstance(value, str) or not value:
                problems.append(f"{where}.{name}: must be a file path, got {value!r}")
        return problems


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Where the OTLP receivers listen and how spans are queued and batched.

    Port 0 picks a free port (see `Collector.http_port`/`grpc_port`). The host is
    loopback by default; listen on "0.0.0.0" only on purpose.
    """

    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    # Largest request accepted, compressed and again decompressed (gzip bombs);
    # also the gRPC max receive message size.
    max_body_bytes: int = 16 * MiB
    queue_spans: int = 100_000
    # The queue's other bound: the received (decompressed) size of what it holds.
    queue_bytes: int = 256 * MiB
    batch_spans: int = 8192
    # The most one export may hold when more is waiting (larger inserts cost
    # storage less per span); None: 8 x batch_spans, at most queue_spans.
    batch_max_spans: int | None = None
    batch_timeout_s: float = 0.2
    # What a client is told to wait when the queue is full (Retry-After, RetryInfo).
    retry_after_s: int = 1
    # How long stop() waits for the exporter to take what is still queued.
    drain_timeout_s: float = 10.0
    retry: RetryConfig = field(default_factory=RetryConfig)
    # Where batches go while storage is down (None: no spool; they are dropped
    # once retries give up), and how large the spool may grow.
    spool_dir: str | None = None
    spool_max_bytes: int = 1024 * MiB
    span_metrics: bool = True
    service_graph: bool = True
    # How long a span waits for its other half (client <-> server) before it
    # counts as unpaired, and how many may wait at once.
    pairing_wait_s: float = 5.0
    pairing_max_entries: int = 200_000
    # Prometheus text at /metrics; None: no admin server (`meshlens collector` uses 8888).
    admin_port: int | None = None
    tail_sampling: TailSamplingConfig = field(default_factory=TailSamplingConfig)
    # The collector's own metrics into storage every 10 s (`interval_s=0`: off).
    self_metrics: SelfMetricsConfig = field(default_factory=SelfMetricsConfig)
    # TLS (and with a client CA, mTLS) on both OTLP receivers; None: plaintext.
    tls: TlsServerConfig | None = None

    def problems(self) -> list[str]:
        problems: list[str] = []
        if not isinstance(self.host, str) or not self.host:
            problems.append(f"collector.host: must be a host name or address, got {self.host!r}")
        _check_int(problems, "collector.http_port", self.http_port, 0, 65535)
        _check_int(problems, "collector.grpc_port", self.grpc_port, 0, 65535)
        if _is_int(self.http_port) and self.http_port and self.http_port == self.grpc_port:
            problems.append(
                f"collector.grpc_port: must differ from http_port, both are {self.http_port}"
            )
        _check_int(problems, "collector.max_body_bytes", self.max_body_bytes, 1024, 1024 * MiB)
        _check_int(problems, "collector.queue_spans", self.queue_spans, 1, 100_000_000)
        _check_int(problems, "collector.batch_spans", self.batch_spans, 1, 10_000_000)
        if (
            _is_int(self.queue_spans)
            and _is_int(self.batch_spans)
            and self.batch_spans > self.queue_spans
        ):
            problems.append(
                f"collector.batch_spans: must be <= queue_spans ({self.queue_spans}), "
                f"got {self.batch_spans}"
            )
        if self.batch_max_spans is not None:
            _check_int(problems, "collector.batch_max_spans", self.batch_max_spans, 1, 100_000_000)
            if (
                _is_int(self.batch_max_spans)
                and _is_int(self.batch_spans)
                and _is_int(self.queue_spans)
                and not self.batch_spans <= self.batch_max_spans <= self.queue_spans
            ):
                problems.append(
                    f"collector.batch_max_spans: must be batch_spans ({self.batch_spans}) "
                    f"..queue_spans ({self.queue_spans}), got {self.batch_max_spans}"
                )
        _check_int(problems, "collector.queue_bytes", self.queue_bytes, 1024, 1024 * 1024 * MiB)
        _check_positive(problems, "collector.batch_timeout_s", self.batch_timeout_s)
        if self.spool_dir is not None and (
            not isinstance(self.spool_dir, str) or not self.spool_dir
        ):
            problems.append(
                f"collector.spool_dir: must be a directory path, got {self.spool_dir!r}"
            )
        _check_int(problems, "collector.spool_max_bytes", self.spool_max_bytes, MiB, 2**50)
        _check_positive(problems, "collector.pairing_wait_s", self.pairing_wait_s)
        _check_int(
            problems, "collector.pairing_max_entries", self.pairing_max_entries, 1, 100_000_000
        )
        if self.admin_port is not None:
            _check_int(problems, "collector.admin_port", self.admin_port, 0, 65535)
        _check_int(problems, "collector.retry_after_s", self.retry_after_s, 1, 3600)
        _check_positive(problems, "collector.drain_timeout_s", self.drain_timeout_s)
        if isinstance(self.retry, RetryConfig):
            problems.extend(self.retry.problems("collector.retry"))
        else:
            problems.append(f"collector.retry: must be a RetryConfig, got {self.retry!r}")
        if isinstance(self.tail_sampling, TailSamplingConfig):
            problems.extend(self.tail_sampling.problems("collector.tail_sampling"))
        else:
            problems.append(
                f"collector.tail_sampling: must be a TailSamplingConfig, "
                f"got {self.tail_sampling!r}"
            )
        if isinstance(self.self_metrics, SelfMetricsConfig):
            problems.extend(self.self_metrics.problems("collector.self_metrics"))
        else:
            problems.append(
                f"collector.self_metrics: must be a SelfMetricsConfig, got {self.self_metrics!r}"
            )
        if isinstance(self.tls, TlsServerConfig):
            problems.extend(self.tls.problems("collector.tls"))
        elif self.tls is not None:
            problems.append(f"collector.tls: must be a TlsServerConfig or None, got {self.tls!r}")
        return problems

    def __post_init__(self) -> None:
        if problems := self.problems():
            raise CollectorConfigError(problems)

    @property
    def export_batch_max_spans(self) -> int:
        """`batch_max_spans`, or by default 8 x batch_spans, at most queue_spans."""
        if self.batch_max_spans is not None:
            return self.batch_max_spans
        return max(self.batch_spans, min(8 * self.batch_spans, self.queue_spans))
