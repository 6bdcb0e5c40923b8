"""YAML loaded together with the line of every key and list item.

``load_located(text)`` returns the plain data (as ``yaml.safe_load`` would) and a
:class:`LineIndex` from key paths such as ``("services", 2, "name")`` to their
1-based line, so that validation can say ``mesh.yaml:14: services[2].name: ...``.
Duplicate mapping keys, which PyYAML silently collapses, are reported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("services", 2, "name")`` -> ``services[2].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(slots=True)
class LineIndex:
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int]] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int:
        """The line of ``path`` or of its nearest ancestor that has one (1 at worst)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


@dataclass(frozen=True, slots=True)
class LocatedDocument:
    data: Any
    index: LineIndex


def load_located(text: str) -> LocatedDocument:
    """Parse one YAML document; raises ``yaml.YAMLError`` on a syntax error."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        index = LineIndex()
        if node is None:
            return LocatedDocument(None, index)
        _walk(node, (), index)
        return LocatedDocument(loader.construct_document(node), index)
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: KeyPath, index: LineIndex) -> None:
    index.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                index.duplicates.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            index.lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), index)
