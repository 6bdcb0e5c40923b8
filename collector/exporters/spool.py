"""A disk spool of export batches: what storage could not take, kept in order on disk.

One file per batch, named by a growing sequence number, replayed oldest first.
A file is `MAGIC | crc32 (4 bytes, big endian) | length (8) | payload`, the
payload zlib-compressed JSON of the batch (its columns and deduplication token).

Two versions, told apart by MAGIC. `MLSPOOL1`: spans, RED rows and edges, under
the keys "spans", "red", "edges". `MLSPOOL2` adds the keys "metrics" (a table of
columns per metric type) and "logs"; it is written only for batches that carry
metric points or logs, so trace batches stay readable by a collector from before
version 2 (which sets a version 2 record aside as corrupt rather than dropping
its metrics silently). Both versions are read. Trace requests passed through
undecoded (`ExportBatch.otlp`) are version 2 too: "otlp", each request base64,
and "otlp_spans", how many spans they hold.

Durability (fsync policy): every record is written to a temporary file,
fsynced, renamed into place, and the directory fsynced, before `append`
returns. A batch is in the spool only once all of that is done, so a crash
(kill -9, power loss) leaves either the whole record or a `.tmp` file that the
next open deletes. Spooling happens only while storage is failing, so the cost
of an fsync per batch is paid only then. A record whose checksum does not
match is moved to `corrupt/` and counted, never replayed.

Size cap: `append` refuses (returns False) when the record would take the spool
past `max_bytes`; the exporter then holds the batch until replay makes room,
and the queue in front of it fills until receivers answer 429.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

from collector.pipeline import ExportBatch
from storage.logs_model import LogColumns
from storage.metrics_model import MetricColumns
from storage.model import SpanColumns
from storage.span_metrics_model import EdgeColumns, RedColumns

log = logging.getLogger(__name__)

MAGIC = b"MLSPOOL1"  # spans, RED rows, edges
MAGIC_V2 = b"MLSPOOL2"  # and metric points and logs
_HEADER = struct.Struct(">IQ")
_SUFFIX = ".spool"


@dataclass(slots=True)
class SpoolStats:
    records: int = 0
    bytes: int = 0
    corrupt: int = 0


def encode_batch(batch: ExportBatch) -> bytes:
    document: dict[str, object] = {
        "token": batch.token,
        "spans": {f.name: getattr(batch.spans, f.name) for f in fields(SpanColumns)},
        "red": {f.name: getattr(batch.red, f.name) for f in fields(RedColumns)},
        "edges": {f.name: getattr(batch.edges, f.name) for f in fields(EdgeColumns)},
    }
    magic = MAGIC
    if len(batch.metrics) or len(batch.logs):
        magic = MAGIC_V2
        document["metrics"] = batch.metrics.to_document()
        document["logs"] = {f.name: getattr(batch.logs, f.name) for f in fields(LogColumns)}
    if batch.otlp:
        magic = MAGIC_V2
        document["otlp"] = [base64.b64encode(request).decode("ascii") for request in batch.otlp]
        document["otlp_spans"] = batch.otlp_spans
    payload = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)
    return magic + _HEADER.pack(zlib.crc32(payload), len(payload)) + payload


class SpoolCorruptError(ValueError):
    pass


def decode_batch(record: bytes) -> ExportBatch:
    if not record.startswith((MAGIC, MAGIC_V2)) or len(record) < len(MAGIC) + _HEADER.size:
        raise SpoolCorruptError("not a spool record")
    crc, length = _HEADER.unpack_from(record, len(MAGIC))
    payload = record[len(MAGIC) + _HEADER.size :]
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise SpoolCorruptError("checksum or length mismatch")
    document = json.loads(zlib.decompress(payload))
    batch = ExportBatch(
        spans=SpanColumns(**document["spans"]),
        red=RedColumns(**document["red"]),
        edges=EdgeColumns(**document["edges"]),
        token=document["token"],
        metrics=MetricColumns.from_document(document.get("metrics", {})),
        logs=LogColumns(**document.get("logs", {})),
        otlp=[base64.b64decode(request) for request in document.get("otlp", [])],
        otlp_spans=document.get("otlp_spans", 0),
    )
    # JSON object keys are strings; histogram bucket indexes are ints.
    for rows in (batch.red, batch.edges):
        rows.DurationBuckets = [{int(k): v for k, v in b.items()} for b in rows.DurationBuckets]
    return batch


class DiskSpool:
    """Blocking file I/O: call its methods from a worker thread (asyncio.to_thread)."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("*.tmp"):  # a write cut short by a crash
            stale.unlink()
        self._files: list[Path] = sorted(self.directory.glob(f"*{_SUFFIX}"))
        self._sizes = {path: path.stat().st_size for path in self._files}
        self._next = int(self._files[-1].stem) + 1 if self._files else 1
        self.stats = SpoolStats(records=len(self._files), bytes=sum(self._sizes.values()))

    def __len__(self) -> int:
        return len(self._files)

    def append(self, batch: ExportBatch) -> bool:
        """Write `batch` durably at the end; False (nothing written) when over the cap."""
        record = encode_batch(batch)
        if self._files and self.stats.bytes + len(record) > self.max_bytes:
            return False
        path = self.directory / f"{self._next:016d}{_SUFFIX}"
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as file:
            file.write(record)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        self._fsync_directory()
        self._next += 1
        self._files.append(path)
        self._sizes[path] = len(record)
        self.stats.records += 1
        self.stats.bytes += len(record)
        return True

    def oldest(self) -> tuple[Path, ExportBatch] | None:
        """The oldest readable record; corrupt ones are set aside on the way."""
        while self._files:
            path = self._files[0]
            try:
                return path, decode_batch(path.read_bytes())
            except (SpoolCorruptError, ValueError, KeyError, TypeError, zlib.error) as exc:
                log.error("spool record %s is corrupt (%s); moved to corrupt/", path.name, exc)
                corrupt = self.directory / "corrupt"
                corrupt.mkdir(exist_ok=True)
                os.replace(path, corrupt / path.name)
                self.stats.corrupt += 1
                self._forget(path)
        return None

    def remove(self, path: Path) -> None:
        """Delete a record once storage has it."""
        path.unlink(missing_ok=True)
        self._fsync_directory()
        self._forget(path)

    def _forget(self, path: Path) -> None:
        self._files.remove(path)
        self.stats.records -= 1
        self.stats.bytes -= self._sizes.pop(path, 0)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
