"""Prometheus metrics of SPEC §8, each set in a registry of its own."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class PrometheusMetrics:
    """The service's metrics, in a private registry so that every app (and test) counts alone.

    Also satisfies the application's `Metrics` port, so one registry serves both.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        http_labels = ("method", "route", "status")
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests answered.", http_labels, registry=self.registry
        )
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to the end of its response.",
            http_labels,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._logins = Counter(
            "auth_logins_total", "Login attempts by outcome.", ("outcome",), registry=self.registry
        )
        self._tokens_issued = Counter(
            "auth_tokens_issued_total", "Token pairs issued.", registry=self.registry
        )
        self._refresh_reuse = Counter(
            "auth_refresh_reuse_total", "Replayed refresh tokens detected.", registry=self.registry
        )
        self._rate_limited = Counter(
            "auth_rate_limited_total", "Requests refused by a rate limit.", registry=self.registry
        )
        self._rate_limit_degraded = Counter(
            "auth_rate_limit_degraded_total",
            "Times the shared rate-limit store (Redis) failed and limits fell back to this instance.",
            registry=self.registry,
        )
        self._revocation_sync_failures = Counter(
            "auth_revocation_broadcast_failures_total", "Failures of the revocation broadcast (Redis).",
            registry=self.registry,
        )
        self._active_sessions = Gauge(
            "auth_active_sessions", "Sessions neither revoked nor expired.", registry=self.registry
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # Clients choose the method: unknown ones share one label so they cannot inflate the series.
        method = method if method in _KNOWN_METHODS else "OTHER"
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:  # labels() costs a lock and a lookup per call: keep the children (bounded set)
            labels = (method, route, str(status))
            series = self._series[key] = (self.http_requests.labels(*labels),
                                          self.http_request_duration.labels(*labels))
        series[0].inc()
        series[1].observe(seconds)

    def login(self, outcome: str) -> None:
        self._logins.labels(outcome).inc()

    def token_issued(self) -> None:
        self._tokens_issued.inc()

    def refresh_reuse(self) -> None:
        self._refresh_reuse.inc()

    def rate_limited(self) -> None:
        self._rate_limited.inc()

    def rate_limit_degraded(self) -> None:
        self._rate_limit_degraded.inc()

    def revocation_broadcast_failed(self) -> None:
        self._revocation_sync_failures.inc()

    def set_active_sessions(self, count: int) -> None:
        self._active_sessions.set(count)

    def render(self) -> tuple[bytes, str]:
        """The exposition payload and its content type, for `GET /metrics`."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
