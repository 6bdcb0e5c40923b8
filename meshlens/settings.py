"""Settings for the `meshlens` commands: flags first, then MESHLENS_* variables, then defaults.

Every flag has an environment variable of the same name (`--otlp-http-port` reads
`MESHLENS_OTLP_HTTP_PORT`), so docker-compose and Kubernetes configure the same
commands without flags. The environment is passed in, never read deep inside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULT_STORAGE = "chdb://./.meshlens/data"


class SettingsError(ValueError):
    """One or more settings are invalid; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class Settings:
    storage: str = DEFAULT_STORAGE
    host: str = "127.0.0.1"
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    ui_port: int = 8050
    collector_admin_port: int = 8888
    control_port: int = 15010
    state_dir: Path = Path(".meshlens")
    mesh: Path | None = None  # mesh.yaml for `meshlens up` (None: an empty mesh)
    demo_rate: float = 5.0
    # TLS on the collector's OTLP receivers (None: plaintext); a client CA makes it mTLS.
    otlp_tls_cert_file: Path | None = None
    otlp_tls_key_file: Path | None = None
    otlp_tls_client_ca_file: Path | None = None
    # Tail sampling of stored spans; None: the collector's default (docs/collector.md).
    tail_sampling: bool = False
    tail_sampling_wait: float | None = None  # seconds
    tail_sampling_latency: float | None = None  # seconds
    tail_sampling_percent: float | None = None
    tail_sampling_max_traces: int | None = None
    # Seconds between the collector's self-metrics rounds (0: off); None: its default, 10.
    collector_self_metrics_interval: float | None = None

    @property
    def otlp_http_endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.otlp_http_port}"


def env_name(field_name: str) -> str:
    return "MESHLENS_" + field_name.upper()


def load_settings(env: Mapping[str, str], **overrides: object) -> Settings:
    """Build Settings from `overrides` (flags; None means not given), then `env`, then defaults.

    Raises SettingsError naming every bad value and where it came from.
    """
    values: dict[str, object] = {}
    errors: list[str] = []
    bad: set[str] = set()
    for f in fields(Settings):
        given = overrides.get(f.name)
        source = f"--{f.name.replace('_', '-')}"
        if given is None and env_name(f.name) in env:
            given, source = env[env_name(f.name)], env_name(f.name)
        if given is None:
            continue
        try:
            values[f.name] = _convert(f.name, given)
        except ValueError as exc:
            errors.append(f"{source}: {exc}")
            bad.add(f.name)
    if not any(name.startswith("otlp_tls_") for name in bad):
        errors.extend(_tls_pairing(values))
    if errors:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(errors))
    return Settings(**values)  # type: ignore[arg-type]


def _tls_pairing(values: Mapping[str, object]) -> list[str]:
    if values.get("otlp_tls_cert_file") is None:
        return [
            f"--{name.replace('_', '-')}: needs --otlp-tls-cert-file"
            for name in ("otlp_tls_key_file", "otlp_tls_client_ca_file")
            if values.get(name) is not None
        ]
    if values.get("otlp_tls_key_file") is None:
        return ["--otlp-tls-key-file: needed with --otlp-tls-cert-file"]
    return []


def _convert(name: str, value: object) -> object:
    if name.endswith("_port"):
        port = _as_int(value)
        if not 0 <= port <= 65535:
            raise ValueError(f"must be a port number 0..65535, got {value!r}")
        return port
    if name == "demo_rate":
        try:
            rate = float(str(value))
        except ValueError:
            raise ValueError(f"must be a number of requests per second, got {value!r}") from None
        if not 0 < rate <= 1000:
            raise ValueError(f"must be in (0, 1000] requests per second, got {value!r}")
        return rate
    if name == "state_dir":
        return Path(str(value))
    if name == "tail_sampling":
        return _as_bool(value)
    if name in ("tail_sampling_wait", "tail_sampling_latency"):
        seconds = _as_float(value, "a number of seconds")
        if not seconds > 0:
            raise ValueError(f"must be a number of seconds > 0, got {value!r}")
        return seconds
    if name == "tail_sampling_percent":
        percent = _as_float(value, "a percentage")
        if not 0 <= percent <= 100:
            raise ValueError(f"must be a percentage 0..100, got {value!r}")
        return percent
    if name == "tail_sampling_max_traces":
        traces = _as_int(value)
        if traces < 1:
            raise ValueError(f"must be an integer >= 1, got {value!r}")
        return traces
    if name == "collector_self_metrics_interval":
        return _self_metrics_interval(value)
    if name == "mesh" or name.startswith("otlp_tls_"):
        text = str(value).strip()
        if not text:
            raise ValueError("must not be empty")
        return Path(text)
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _self_metrics_interval(value: object) -> float:
    """Seconds, checked by the collector's own rule (SelfMetricsConfig), named by the flag."""
    from collector.config import SelfMetricsConfig

    seconds = _as_float(value, "a number of seconds")
    for problem in SelfMetricsConfig(interval_s=seconds).problems():
        raise ValueError(problem.split(": ", 1)[1])
    return seconds


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _as_float(value: object, what: str) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"must be {what}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"must be {what}, got {value!r}")
    return number


def _as_int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"must be an integer, got {value!r}") from None
