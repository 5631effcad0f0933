"""Sends logs to an Estuary collector with the OpenTelemetry Python SDK and its OTLP/HTTP
(protobuf, gzip) exporter, inside a span; prints the span's trace and span ids as JSON.

Usage: otlp_sdk.py <collector url> [token]
"""
import json
import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

url = sys.argv[1]
headers = {"authorization": f"Bearer {sys.argv[2]}"} if len(sys.argv) > 2 else None

resource = Resource.create({"service.name": "py-otlp", "deployment.environment": "test"})
tracer_provider = TracerProvider(resource=resource)
trace.set_tracer_provider(tracer_provider)


class CheckedExporter(OTLPLogExporter):
    """Fails the script when an export is not accepted, instead of only logging it."""

    def export(self, batch):
        result = super().export(batch)
        if result.name != "SUCCESS":
            sys.exit(f"export failed: {result}")
        return result


exporter = CheckedExporter(endpoint=f"{url}/v1/logs", headers=headers, compression=Compression.Gzip)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
handler = LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider)

log = logging.getLogger("shop.checkout")
log.addHandler(handler)
log.setLevel(logging.DEBUG)
log.propagate = False

tracer = tracer_provider.get_tracer("shop")
with tracer.start_as_current_span("order") as span:
    ctx = span.get_span_context()
    log.warning("payment slow", extra={"order_id": 42, "user": "ana"})
log.error("no span here")
logger_provider.shutdown()
print(json.dumps({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}))
