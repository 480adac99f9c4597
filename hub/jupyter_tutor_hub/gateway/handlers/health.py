"""``GET metrics`` (Prometheus) and ``GET health`` (for probes), unauthenticated."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .base import GatewayHandler


class MetricsHandler(GatewayHandler):
    route = "metrics"

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


class HealthHandler(GatewayHandler):
    """``starting`` while the embedding model loads (questions are answered meanwhile,
    with text-only retrieval), ``degraded`` (503) without the database, else ``ok``.
    Before this handler is mounted, the start-up application answers ``starting`` (503).
    """

    route = "health"

    async def get(self) -> None:
        gateway = self.gateway
        database = "ok"
        try:
            async with gateway.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception:
            database = "unavailable"
        if database != "ok":
            status = "degraded"
        elif gateway.embedder_loading:
            status = "starting"
        else:
            status = "ok"
        self.write_json(
            {
                "status": status,
                "database": database,
                "retrieval": "hybrid" if gateway.embedder is not None else "text",
                "upstream": "offline"
                if gateway.upstream.offline
                else gateway.upstream.breaker.state,
            },
            status=200 if database == "ok" else 503,
        )
