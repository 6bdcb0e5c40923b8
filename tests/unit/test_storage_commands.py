"""`meshlens storage ...` arguments and the offline `init --print`, without an engine."""

from __future__ import annotations

import io

import pytest

from meshlens.cli import build_parser
from storage.commands import retention_from_args, run_storage_command


def run(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["storage", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_storage_command(args, args.storage or "http://ch:8123/mesh", out, err)
    return code, out.getvalue(), err.getvalue()


def test_init_print_renders_cluster_ddl_for_the_url_database() -> None:
    code, out, _ = run("init", "--print", "--cluster", "prod", "--spans-days", "7")
    assert code == 0
    assert out.startswith("CREATE DATABASE IF NOT EXISTS `mesh` ON CLUSTER `prod`;")
    assert "ENGINE = Distributed('prod', 'mesh', 'otel_traces_local', cityHash64(TraceId))" in out
    assert "TTL toDateTime(Timestamp) + toIntervalDay(7)" in out
    code, single, _ = run("init", "--print")
    assert code == 0 and "ON CLUSTER" not in single and "ENGINE = MergeTree" in single


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (("retention",), "give --spans-days"),
        (("retention", "--spans-days", "0"), "spans_days"),
        (("status", "--cluster", "prod"), "only with init"),
        (("init", "--print", "--cluster", "a-b"), "cluster"),
        (("status", "--storage", "sqlite:///x"), "accepted forms"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(argv: tuple[str, ...], problem: str) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (2, "") and problem in err


def test_retention_flags() -> None:
    args = build_parser().parse_args(["storage", "retention", "--spans-days", "3",
                                      "--audit-days", "400"])  # fmt: skip
    cfg = retention_from_args(args)
    assert (cfg.spans_days, cfg.aggregates_days, cfg.audit_days) == (3, None, 400)
