"""Config problems with their place: key path and, for YAML files, the line.

Validation code adds problems by key path (``routes[0].split[1].weight``);
:class:`ConfigProblems` turns each into ``sidecar.yaml:14: routes[0].split[1].weight:
must be 0..100, got 120`` using the line marks that :func:`yaml_key_lines` reads
from the composed YAML node tree. A path without a mark of its own (a missing
key) takes the line of its nearest parent that has one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import yaml

_LAST_SEGMENT = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")

AddProblem = Callable[[str, str], None]


class ConfigError(ValueError):
    """Every problem found in one config source, one per line."""

    def __init__(self, errors: list[str] | tuple[str, ...]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid sidecar config:\n  " + "\n  ".join(self.errors))


class ConfigProblems:
    """Collects problems for one source; ``lines`` maps key paths to 1-based lines."""

    def __init__(self, source: str, lines: Mapping[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}
        self.items: list[str] = []

    def add(self, key_path: str, message: str) -> None:
        line = self.line_of(key_path)
        where = f"{self.source}:{line}" if line is not None else self.source
        if key_path:
            where = f"{where}: {key_path}"
        self.items.append(f"{where}: {message}")

    def line_of(self, key_path: str) -> int | None:
        path = key_path
        while path:
            line = self.lines.get(path)
            if line is not None:
                return line
            shorter = _LAST_SEGMENT.sub("", path)
            if shorter == path:
                return None
            path = shorter
        return None

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def yaml_key_lines(text: str) -> dict[str, int]:
    """Key path (``routes[0].match.path``) to the 1-based line where it is written."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[str, int] = {}
    if root is None:
        return lines
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                child = f"{path}.{key}" if path else key
                lines.setdefault(child, key_node.start_mark.line + 1)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = f"{path}[{i}]"
                lines.setdefault(child, item.start_mark.line + 1)
                stack.append((item, child))
    return lines
