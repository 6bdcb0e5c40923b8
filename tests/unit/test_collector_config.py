"""CollectorConfig: defaults, and every problem reported at once with its place."""

from __future__ import annotations

import dataclasses

import pytest

from collector import CollectorConfig, CollectorConfigError, RetryConfig


def test_defaults_are_valid_and_safe() -> None:
    config = CollectorConfig()
    assert config.host == "127.0.0.1"
    assert (config.http_port, config.grpc_port) == (4318, 4317)
    assert config.max_body_bytes == 16 * 1024 * 1024
    assert config.problems() == []


def test_frozen_and_slotted() -> None:
    config = CollectorConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.http_port = 1  # type: ignore[misc]
    assert not hasattr(config, "__dict__")


def test_all_problems_at_once() -> None:
    with pytest.raises(CollectorConfigError) as error:
        CollectorConfig(
            host="",
            http_port=70000,
            grpc_port=-1,
            max_body_bytes=10,
            queue_spans=100,
            batch_spans=200,
            batch_timeout_s=0,
            retry_after_s=True,
            retry=RetryConfig(max_attempts=0, initial_backoff_s=-1),
        )
    assert error.value.problems == [
        "collector.host: must be a host name or address, got ''",
        "collector.http_port: must be an integer 0..65535, got 70000",
        "collector.grpc_port: must be an integer 0..65535, got -1",
        "collector.max_body_bytes: must be an integer 1024..1073741824, got 10",
        "collector.batch_spans: must be <= queue_spans (100), got 200",
        "collector.batch_timeout_s: must be a number > 0, got 0",
        "collector.retry_after_s: must be an integer 1..3600, got True",
        "collector.retry.max_attempts: must be an integer 1..100, got 0",
        "collector.retry.initial_backoff_s: must be a number > 0, got -1",
    ]
    assert "collector.http_port: must be an integer 0..65535, got 70000" in str(error.value)


def test_same_port_twice() -> None:
    with pytest.raises(CollectorConfigError, match="grpc_port: must differ from http_port"):
        CollectorConfig(http_port=5000, grpc_port=5000)
    CollectorConfig(http_port=0, grpc_port=0)  # both pick a free port: fine


def test_backoff_bounds() -> None:
    assert RetryConfig(initial_backoff_s=2, max_backoff_s=1).problems() == [
        "retry.max_backoff_s: must be >= initial_backoff_s (2), got 1"
    ]


def test_batch_max_spans_defaults_to_eight_batches_within_the_queue() -> None:
    assert CollectorConfig().export_batch_max_spans == 8 * 8192
    assert CollectorConfig(queue_spans=20_000).export_batch_max_spans == 20_000
    assert CollectorConfig(batch_spans=100, queue_spans=100).export_batch_max_spans == 100
    assert CollectorConfig(batch_max_spans=9000).export_batch_max_spans == 9000


@pytest.mark.parametrize("value", [8191, 100_001, 0, True])
def test_batch_max_spans_must_lie_between_batch_spans_and_queue_spans(value: object) -> None:
    with pytest.raises(CollectorConfigError, match=r"collector\.batch_max_spans: must be"):
        CollectorConfig(batch_max_spans=value)  # type: ignore[arg-type]


def test_the_self_metrics_interval_flag_reaches_the_collector_config() -> None:
    from meshlens.all_in_one import collector_config
    from meshlens.cli import build_parser, settings_from_args
    from meshlens.settings import SettingsError

    def config(argv: list[str], env: dict[str, str]) -> CollectorConfig:
        return collector_config(settings_from_args(build_parser().parse_args(argv), env))

    assert config(["collector"], {}).self_metrics.interval_s == 10.0
    flag = ["collector", "--collector-self-metrics-interval", "2.5"]
    assert config(flag, {}).self_metrics.interval_s == 2.5
    env = {"MESHLENS_COLLECTOR_SELF_METRICS_INTERVAL": "0"}
    assert not config(["up"], env).self_metrics.enabled
    too_short = r"--collector-self-metrics-interval: must be 0 \(off\)"
    with pytest.raises(SettingsError, match=too_short):
        config(["collector", "--collector-self-metrics-interval", "0.01"], {})
