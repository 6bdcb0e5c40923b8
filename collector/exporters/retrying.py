"""RetryingExporter: the shared wrapper that gives any exporter retries.

Exporters only push (STYLE 6); this retries a failed push with exponential
backoff a bounded number of times, then gives up by raising the last error.
`SpoolingExporter` builds on it: what this gives up on goes to the disk spool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from collector.config import CollectorConfigError, RetryConfig
from collector.pipeline import BatchExporter, ExportBatch

log = logging.getLogger(__name__)


class RetryingExporter:
    def __init__(
        self,
        exporter: BatchExporter,
        retry: RetryConfig | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._exporter = exporter
        self._retry = retry or RetryConfig()
        if problems := self._retry.problems():
            raise CollectorConfigError(problems)
        self._sleep = sleep
        self.retries = 0

    @property
    def wrapped(self) -> BatchExporter:
        return self._exporter

    async def push(self, batch: ExportBatch) -> None:
        retry = self._retry
        backoff = retry.initial_backoff_s
        for attempt in range(1, retry.max_attempts + 1):
            try:
                await self._exporter.push(batch)
                return
            except Exception as exc:
                if attempt == retry.max_attempts:
                    log.error(
                        "export of %d items failed %d times, giving up: %r",
                        len(batch), attempt, exc,
                    )  # fmt: skip
                    raise
                log.warning(
                    "export of %d items failed (attempt %d of %d), retrying in %.2fs: %r",
                    len(batch), attempt, retry.max_attempts, backoff, exc,
                )  # fmt: skip
            self.retries += 1
            await self._sleep(backoff)
            backoff = min(backoff * retry.backoff_multiplier, retry.max_backoff_s)
