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
