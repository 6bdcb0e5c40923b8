"""`RowColumns`: the base of every batch written column by column.

A batch is a dataclass whose every field is a list holding one value per row, in
the order of the table's columns; the collector fills the lists without building
an object per row, and ClickHouse takes them as one column-oriented insert. This
base gives every such batch what the pipeline does with it: count, append, split
(the batch processor), cut back (a decoder dropping a half-read row), and check
that no column is longer than the others.

Nested columns are spelled without their dot in field names (`EventsName` for
`Events.Name`); `column_names` puts the dot back.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

# Field-name prefixes of ClickHouse Nested columns, in every table we write.
NESTED_PREFIXES = ("Events", "Links", "Exemplars", "ValueAtQuantiles")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def clickhouse_name(field_name: str) -> str:
    for prefix in NESTED_PREFIXES:
        if field_name.startswith(prefix) and len(field_name) > len(prefix):
            return f"{prefix}.{field_name[len(prefix):]}"
    return field_name


class RowColumns:
    __slots__ = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return _field_names(cls)

    @classmethod
    def column_names(cls) -> tuple[str, ...]:
        """ClickHouse column names, in field order."""
        return tuple(clickhouse_name(name) for name in _field_names(cls))

    def __len__(self) -> int:
        column: list[Any] = getattr(self, _field_names(type(self))[0])
        return len(column)

    def columns(self) -> list[list[Any]]:
        return [getattr(self, name) for name in _field_names(type(self))]

    def extend(self, other: Self) -> None:
        """Append every row of `other`."""
        for name in _field_names(type(self)):
            getattr(self, name).extend(getattr(other, name))

    def split(self, count: int) -> tuple[Self, Self]:
        """The first `count` rows and the rest, as two new batches."""
        head, tail = type(self)(), type(self)()
        for name in _field_names(type(self)):
            column = getattr(self, name)
            setattr(head, name, column[:count])
            setattr(tail, name, column[count:])
        return head, tail

    def truncate(self, rows: int) -> None:
        """Keep the first `rows` rows: undoes the appends of a row read half way."""
        for name in _field_names(type(self)):
            del getattr(self, name)[rows:]

    def check(self) -> int:
        """The row count; ValueError naming the first column of another length.

        ClickHouse would reject a ragged batch too, but with a message that names
        no column; a decoder bug is found faster with the name.
        """
        names = _field_names(type(self))
        expected = len(getattr(self, names[0]))
        for name in names:
            got = len(getattr(self, name))
            if got != expected:
                raise ValueError(
                    f"{type(self).__name__}.{name}: has {got} values, "
                    f"{type(self).__name__}.{names[0]} has {expected}"
                )
        return expected
