from pathlib import Path

import pytest

from storage.url import (
    DEFAULT_URL,
    ChdbTarget,
    HttpTarget,
    StorageURLError,
    parse_storage_url,
    redact_url,
)


def test_default_is_chdb_under_the_working_directory(tmp_path: Path) -> None:
    target = parse_storage_url(None, cwd=str(tmp_path))
    assert target == ChdbTarget(path=str(tmp_path / ".meshlens" / "data"))
    assert parse_storage_url(DEFAULT_URL, cwd=str(tmp_path)) == target


def test_chdb_absolute_and_relative_paths(tmp_path: Path) -> None:
    assert parse_storage_url("chdb:///var/lib/meshlens/") == ChdbTarget(path="/var/lib/meshlens")
    assert parse_storage_url("chdb://../x/data", cwd=str(tmp_path / "a")) == ChdbTarget(
        path=str(tmp_path / "x" / "data")
    )


def test_http_defaults() -> None:
    assert parse_storage_url("http://clickhouse") == HttpTarget(
        host="clickhouse", port=8123, secure=False
    )
    target = parse_storage_url("https://ch.example.com")
    assert isinstance(target, HttpTarget)
    assert (target.port, target.secure, target.database) == (8443, True, "meshlens")


def test_http_database_and_credentials() -> None:
    target = parse_storage_url("http://ch:9000/traces_db?user=writer&password=s%3Dcret")
    assert target == HttpTarget(
        host="ch",
        port=9000,
        secure=False,
        database="traces_db",
        username="writer",
        password="s=cret",
    )
    from_userinfo = parse_storage_url("http://writer:pw@ch:8123")
    assert isinstance(from_userinfo, HttpTarget)
    assert (from_userinfo.username, from_userinfo.password) == ("writer", "pw")
    assert "pw" not in repr(from_userinfo)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgres://db/x", "unknown scheme 'postgres'"),
        ("/just/a/path", "no scheme"),
        ("chdb://", "names no data directory"),
        ("chdb://host/data", "must start with ./ or ../"),
        ("chdb:///data?mode=ro", "no query"),
        ("http://", "no host"),
        ("http://ch:8123/x?compress=1", "unknown query parameter(s) compress"),
        ("http://ch:8123/bad-name", "database name 'bad-name'"),
        ("http://ch:notaport", "Port could not be cast"),
    ],
)
def test_refused_urls_name_the_url_the_problem_and_the_accepted_forms(
    url: str, problem: str
) -> None:
    with pytest.raises(StorageURLError) as info:
        parse_storage_url(url)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert repr(url) in message
    assert problem in message
    assert "chdb:///absolute/dir" in message and "http(s)://host" in message


def test_errors_and_redaction_hide_passwords() -> None:
    with pytest.raises(StorageURLError) as info:
        parse_storage_url("http://u:topsecret@ch/x?password=alsosecret&bogus=1")
    assert "secret" not in str(info.value)
    assert redact_url("https://h/db?user=a&password=pw") == "https://h/db?user=a&password=***"
    assert redact_url("chdb:///tmp/x") == "chdb:///tmp/x"
