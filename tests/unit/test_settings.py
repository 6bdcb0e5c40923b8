from pathlib import Path

import pytest

from meshlens.settings import DEFAULT_STORAGE, SettingsError, load_settings


def test_defaults_when_nothing_given() -> None:
    s = load_settings({})
    assert s.storage == DEFAULT_STORAGE
    assert (s.otlp_grpc_port, s.otlp_http_port, s.ui_port) == (4317, 4318, 8050)
    assert s.otlp_http_endpoint == "http://127.0.0.1:4318"


def test_environment_fills_in_and_flags_win() -> None:
    env = {
        "MESHLENS_UI_PORT": "9000",
        "MESHLENS_STORAGE": "http://ch:8123",
        "MESHLENS_HOST": "0.0.0.0",
    }
    s = load_settings(env, ui_port=9100, state_dir=None)
    assert s.ui_port == 9100
    assert s.storage == "http://ch:8123"
    assert s.otlp_http_endpoint == "http://127.0.0.1:4318"
    assert s.state_dir == Path(".meshlens")


def test_every_bad_value_is_reported_with_its_source() -> None:
    env = {"MESHLENS_OTLP_HTTP_PORT": "http", "MESHLENS_DEMO_RATE": "-1"}
    with pytest.raises(SettingsError) as err:
        load_settings(env, ui_port=70000)
    text = str(err.value)
    assert "MESHLENS_OTLP_HTTP_PORT: must be an integer, got 'http'" in text
    assert "--ui-port: must be a port number 0..65535, got 70000" in text
    assert "MESHLENS_DEMO_RATE: must be in (0, 1000]" in text


def test_control_port_and_mesh() -> None:
    assert (load_settings({}).control_port, load_settings({}).mesh) == (15010, None)
    s = load_settings({"MESHLENS_CONTROL_PORT": "16010", "MESHLENS_MESH": "mesh.yaml"})
    assert (s.control_port, s.mesh) == (16010, Path("mesh.yaml"))
    with pytest.raises(SettingsError, match="--control-port: must be a port number"):
        load_settings({}, control_port=70000)


def test_collector_tls_and_tail_sampling_are_off_by_default() -> None:
    from meshlens.all_in_one import collector_config

    s = load_settings({})
    assert (s.otlp_tls_cert_file, s.tail_sampling) == (None, False)
    config = collector_config(s)
    assert config.tls is None and not config.tail_sampling.enabled


def test_tail_sampling_from_flags_and_environment() -> None:
    from collector import TailSamplingConfig
    from meshlens.all_in_one import collector_config
    from meshlens.cli import build_parser, settings_from_args

    args = build_parser().parse_args(["collector", "--tail-sampling-percent", "5"])
    s = settings_from_args(args, {"MESHLENS_TAIL_SAMPLING": "true",
                                  "MESHLENS_TAIL_SAMPLING_WAIT": "2.5"})  # fmt: skip
    assert collector_config(s).tail_sampling == TailSamplingConfig(
        enabled=True, decision_wait_s=2.5, keep_percent=5.0
    )
    args = build_parser().parse_args(["up", "--tail-sampling"])
    assert settings_from_args(args, {"MESHLENS_TAIL_SAMPLING": "0"}).tail_sampling is True


def test_bad_tail_sampling_and_tls_settings_are_named() -> None:
    env = {"MESHLENS_TAIL_SAMPLING": "maybe", "MESHLENS_TAIL_SAMPLING_WAIT": "0",
           "MESHLENS_TAIL_SAMPLING_LATENCY": "inf"}  # fmt: skip
    with pytest.raises(SettingsError) as err:
        load_settings(env, tail_sampling_percent="120", tail_sampling_max_traces="many")
    text = str(err.value)
    assert "MESHLENS_TAIL_SAMPLING: must be true or false, got 'maybe'" in text
    assert "MESHLENS_TAIL_SAMPLING_WAIT: must be a number of seconds > 0, got '0'" in text
    assert "MESHLENS_TAIL_SAMPLING_LATENCY: must be a number of seconds, got 'inf'" in text
    assert "--tail-sampling-percent: must be a percentage 0..100, got '120'" in text
    assert "--tail-sampling-max-traces: must be an integer, got 'many'" in text
    with pytest.raises(SettingsError, match="--otlp-tls-key-file: needs --otlp-tls-cert-file"):
        load_settings({"MESHLENS_OTLP_TLS_KEY_FILE": "key.pem"})
    with pytest.raises(SettingsError, match="--otlp-tls-key-file: needed with --otlp-tls-cert"):
        load_settings({}, otlp_tls_cert_file="cert.pem")


def test_tls_settings_make_the_collector_tls_config() -> None:
    from collector import TlsServerConfig
    from meshlens.all_in_one import collector_config

    s = load_settings({"MESHLENS_OTLP_TLS_CERT_FILE": "/etc/ml/cert.pem",
                       "MESHLENS_OTLP_TLS_KEY_FILE": "/etc/ml/key.pem"},
                      otlp_tls_client_ca_file="/etc/ml/ca.pem")  # fmt: skip
    assert collector_config(s).tls == TlsServerConfig(
        "/etc/ml/cert.pem", "/etc/ml/key.pem", client_ca_file="/etc/ml/ca.pem"
    )


def test_the_demo_refuses_receiver_tls(capsys: pytest.CaptureFixture[str]) -> None:
    from meshlens.cli import main

    argv = ["up", "--demo", "--otlp-tls-cert-file", "c.pem", "--otlp-tls-key-file", "k.pem"]
    assert main(argv, env={}) == 2
    assert "--otlp-tls-cert-file: not with --demo" in capsys.readouterr().err
