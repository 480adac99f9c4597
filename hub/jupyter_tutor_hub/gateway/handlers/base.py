"""What every gateway handler shares: identifying the caller, errors, logs and metrics."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, ClassVar

import psycopg
from psycopg_pool import PoolTimeout
from tornado.web import HTTPError, RequestHandler

from jupyter_tutor.handlers import allowed_methods

from .. import metrics
from ..auth import Caller, Identifier, token_from_headers
from ..errors import GatewayError, database_unavailable
from ..request import parse_json_object
from ..service import TutorGateway


class GatewayHandler(RequestHandler):
    """Base handler: JSON in and out, errors in Anthropic's format, one log line each."""

    #: Label of this route in metrics and logs.
    route: ClassVar[str] = "other"
    #: Largest JSON body this route reads (``v1/messages`` has ``ModelPolicy``'s own).
    max_body_bytes: ClassVar[int] = 64 * 1024

    def initialize(self, gateway: TutorGateway, identifier: Identifier) -> None:
        self.gateway = gateway
        self.identifier = identifier
        self.caller: Caller | None = None
        self.conversation_id: str | None = None

    @property
    def log(self) -> Any:
        return self.gateway.log

    def prepare(self) -> None:
        self.started = time.monotonic()
        self.request_id = f"req_{uuid.uuid4().hex[:24]}"
        self.set_header("request-id", self.request_id)

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies are accepted, so no XSRF check applies."""

    async def identify(self) -> Caller:
        """The caller, from their hub token; raises 401/403 otherwise."""
        token = token_from_headers(
            self.request.headers.get("Authorization"), self.request.headers.get("x-api-key")
        )
        self.caller = await self.identifier.identify(token)
        return self.caller

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object, refused (413) past ``max_body_bytes``."""
        if len(self.request.body) > self.max_body_bytes:
            raise GatewayError(
                "request_too_large",
                f"The request is too large (at most {self.max_body_bytes // 1024} KiB).",
            )
        return parse_json_object(self.request.body)

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, GatewayError):
            error = exc
        elif isinstance(exc, (psycopg.OperationalError, PoolTimeout)):
            self.log.warning("Database unavailable: %s", exc, extra=self._log_fields())
            error = database_unavailable()
        elif isinstance(exc, HTTPError):
            error = GatewayError(
                "not_found_error" if status_code == 404 else "invalid_request_error",
                exc.log_message or self._reason,
                status=status_code,
            )
        else:
            if exc is not None:
                self.log.error(
                    "Unexpected error in %s", self.route, exc_info=exc, extra=self._log_fields()
                )
            error = GatewayError(
                "api_error",
                "The tutor hit an unexpected problem. Try again; if it persists, tell your "
                "instructor (quote the request id " + self.request_id + ").",
                status=500,
            )
        self.set_status(error.status, reason=error.reason)
        if error.status == 405:
            self.set_header("Allow", ", ".join(allowed_methods(self)))
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error.body()))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Expected errors are answered, not logged as crashes (write_error logs the rest)."""
        if not isinstance(value, HTTPError):
            return
        self.log.info("%s refused: %s", self.route, value, extra=self._log_fields())

    def on_finish(self) -> None:
        status = self.get_status()
        seconds = time.monotonic() - getattr(self, "started", time.monotonic())
        metrics.REQUESTS.labels(self.route, str(status)).inc()
        metrics.REQUEST_SECONDS.labels(self.route).observe(seconds)
        self.log.info(
            "%s %s %d %.0f ms",
            self.request.method,
            self.route,
            status,
            seconds * 1000,
            extra=self._log_fields() | {"status": status, "ms": round(seconds * 1000, 1)},
        )

    def _log_fields(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "request_id": getattr(self, "request_id", None),
            "user": self.caller.name if self.caller else None,
            "conversation_id": self.conversation_id,
        }
