"""OTLP payloads (protobuf or OTLP/JSON) to storage column batches, for each signal.

`decode_<signal>_protobuf` / `decode_<signal>_json` keep a request's valid items
and count the invalid ones (partial success); `decode_protobuf`, `decode_json`
and `decode_request` decode traces all or nothing.
"""

from collector.translate.errors import OtlpDecodeError
from collector.translate.otlp_json import decode_json, decode_traces_json
from collector.translate.otlp_logs import decode_logs_json, decode_logs_protobuf
from collector.translate.otlp_metrics import decode_metrics_json, decode_metrics_protobuf
from collector.translate.otlp_to_columns import (
    decode_protobuf,
    decode_request,
    decode_traces_protobuf,
)
from collector.translate.validation import Decoded, InvalidItem, Rejections

__all__ = [
    "Decoded",
    "InvalidItem",
    "OtlpDecodeError",
    "Rejections",
    "decode_json",
    "decode_logs_json",
    "decode_logs_protobuf",
    "decode_metrics_json",
    "decode_metrics_protobuf",
    "decode_protobuf",
    "decode_request",
    "decode_traces_json",
    "decode_traces_protobuf",
]
