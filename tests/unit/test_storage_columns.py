"""RowColumns, the base of every column batch: count, split, append, cut back, check."""

from __future__ import annotations

import pytest

from storage.logs_model import LogColumns
from storage.metrics_model import SummaryColumns


def logs(*bodies: str) -> LogColumns:
    batch = LogColumns()
    for body in bodies:
        for name in batch.field_names():
            getattr(batch, name).append({} if name.endswith("Attributes") else 0)
        batch.Body[-1] = body
    return batch


def test_split_extend_and_truncate_keep_rows_whole() -> None:
    batch = logs("a", "b", "c")
    head, tail = batch.split(2)
    assert (head.Body, tail.Body) == (["a", "b"], ["c"])
    head.extend(tail)
    assert head == batch and head.check() == 3
    head.truncate(1)
    assert head.check() == 1 and head.Body == ["a"]


def test_a_ragged_batch_names_its_column() -> None:
    batch = logs("a")
    batch.SeverityNumber.append(9)
    with pytest.raises(ValueError, match=r"LogColumns\.SeverityNumber: has 2 values, "
                       r"LogColumns\.Timestamp has 1"):
        batch.check()


def test_nested_columns_get_their_dot_back() -> None:
    assert SummaryColumns.column_names()[-2:] == (
        "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value",
    )  # fmt: skip
    assert "Timestamp" in LogColumns.column_names()
