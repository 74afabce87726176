"""OpenTelemetry setup for the server process. Exporters are configuration: nothing is needed
to run, and a host process that already installed an SDK provider keeps its own."""

from __future__ import annotations

from opentelemetry import metrics, trace


def configure(exporter: str) -> None:
    if exporter == "none":
        return
    if exporter != "console":
        raise ValueError(f"unknown telemetry exporter {exporter!r}; use none or console")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(
        MeterProvider(metric_readers=[PeriodicExportingMetricReader(ConsoleMetricExporter())])
    )
