from collector.receivers.otlp_grpc import OtlpGrpcReceiver
from collector.receivers.otlp_http import OtlpHttpReceiver

__all__ = ["OtlpGrpcReceiver", "OtlpHttpReceiver"]
