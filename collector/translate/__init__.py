"""OTLP trace payloads (protobuf or OTLP/JSON) to `storage.model.SpanColumns`."""

from collector.translate.errors import OtlpDecodeError
from collector.translate.otlp_json import decode_json
from collector.translate.otlp_to_columns import decode_protobuf, decode_request

__all__ = ["OtlpDecodeError", "decode_json", "decode_protobuf", "decode_request"]
