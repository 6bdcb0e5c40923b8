"""`PassthroughSpans`: OTLP protobuf trace requests kept as received, for ClickHouse to
decode (collector/translate/otlp_passthrough.py), with their spans' facts for span
metrics and the service graph. It travels the span lane of the batch processor
as `SpanColumns` do, and its requests reach the exporter in `ExportBatch.otlp`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time only annotations name it: processors import the pipeline
    from collector.processors.span_facts import SpanFact


@dataclass(slots=True)
class PassthroughSpans:
    """OTLP trace requests as received, their span counts, and their spans' facts.

    It splits only between requests, so a batch may pass the batch processor's
    size by up to one request.
    """

    payloads: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # spans per request
    facts: list[list[SpanFact]] = field(default_factory=list)  # per request
    spans: int = 0

    def __len__(self) -> int:
        return self.spans

    def extend(self, other: PassthroughSpans) -> None:
        self.payloads.extend(other.payloads)
        self.counts.extend(other.counts)
        self.facts.extend(other.facts)
        self.spans += other.spans

    def split(self, count: int) -> tuple[PassthroughSpans, PassthroughSpans]:
        """The first requests holding at most `count` spans (at least one request), and
        the rest."""
        taken, cut = 0, 0
        for cut, spans in enumerate(self.counts):
            if cut and taken + spans > count:
                break
            taken += spans
        else:
            cut = len(self.counts)
        head = PassthroughSpans(self.payloads[:cut], self.counts[:cut], self.facts[:cut], taken)
        tail = PassthroughSpans(
            self.payloads[cut:], self.counts[cut:], self.facts[cut:], self.spans - taken
        )
        return head, tail

    def all_facts(self) -> Iterator[SpanFact]:
        return itertools.chain.from_iterable(self.facts)
