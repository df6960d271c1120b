"""The worker's Temporal SDK metrics: one Temporal runtime per process, whose Prometheus
endpoint (`http://<worker_metrics_host>:<worker_metrics_port>/metrics`) serves the SDK's own
`temporal_*` series (task slots, poll and schedule-to-start latencies, activity and workflow
task outcomes), labelled by namespace, task queue and workflow or activity type only."""

from __future__ import annotations

from functools import cache

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from infra.settings import Settings


@cache
def _runtime(bind_address: str) -> Runtime:
    # A runtime owns a thread pool and its endpoint binds the port: one per process.
    metrics = PrometheusConfig(bind_address=bind_address, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))


def worker_runtime(settings: Settings) -> Runtime | None:
    """The runtime a worker's client connects with; None (the SDK's default, no endpoint)
    when `CRISISDESK_WORKER_METRICS_PORT` is unset."""
    if settings.worker_metrics_port is None:
        return None
    return _runtime(f"{settings.worker_metrics_host}:{settings.worker_metrics_port}")
