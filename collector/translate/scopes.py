"""Walking an OTLP metrics or logs request down to its scopes.

Every item of a scope shares its resource and scope: their attributes are
flattened once per scope here, and every row of the scope's items refers to the
same dicts (storage only reads them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from collector.translate.attributes import flatten_attributes
from collector.translate.otlp_to_columns import UNKNOWN_SERVICE


@dataclass(frozen=True, slots=True)
class ScopeOrigin:
    """Where the items of one scope come from: the first columns of each of their rows."""

    path: str  # e.g. "resourceLogs[0].scopeLogs[1]"
    resource: dict[str, str]
    resource_schema_url: str
    service: str
    scope_name: str
    scope_version: str
    scope_attributes: dict[str, str]
    scope_dropped: int
    scope_schema_url: str


def each_scope(resources: Iterable[Any], signal: str) -> Iterator[tuple[ScopeOrigin, Any]]:
    """(origin, ScopeMetrics or ScopeLogs) of every scope; `signal` is "Metrics" or "Logs"."""
    scopes_field = f"scope_{signal.lower()}"
    for r, resource_item in enumerate(resources):
        resource = flatten_attributes(resource_item.resource.attributes)
        service = resource.get("service.name", UNKNOWN_SERVICE)
        for s, scope_item in enumerate(getattr(resource_item, scopes_field)):
            scope = scope_item.scope
            origin = ScopeOrigin(
                f"resource{signal}[{r}].scope{signal}[{s}]", resource, resource_item.schema_url,
                service, scope.name, scope.version, flatten_attributes(scope.attributes),
                scope.dropped_attributes_count, scope_item.schema_url,
            )  # fmt: skip
            yield origin, scope_item
