"""Errors the gateway answers with, in the Anthropic API's own error format.

The official SDK on the student's side turns these into its typed exceptions
(``RateLimitError``, ``AuthenticationError``…), and the orchestrator shows ``message`` to
the student, so every message here is written for a student, not for a log file.
"""

from __future__ import annotations

from typing import Any

from tornado.web import HTTPError

from jupyter_tutor.protocol import ERROR_CODE_HEADER

#: HTTP status of each Anthropic error type.
STATUS_OF = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


_REASONS = {529: "Overloaded"}


class GatewayError(HTTPError):
    """An error answered to the caller; ``headers`` are added to the response.

    It is a Tornado ``HTTPError``, so raising it anywhere in a handler answers with it.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status or STATUS_OF.get(error_type, 500)
        super().__init__(self.status, reason=_REASONS.get(self.status))
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body (also the data of an SSE ``error`` event)."""
        return {"type": "error", "error": {"type": self.error_type, "message": self.message}}


def bad_request(message: str) -> GatewayError:
    return GatewayError("invalid_request_error", message)


def rate_limited(message: str, retry_after: int, code: str = "rate_limited") -> GatewayError:
    """A 429 the SDK will not retry by itself: the student decides when to ask again.

    The error-code header tells the orchestrator which limit it was (``rate_limited``,
    ``budget_exceeded``), since both are Anthropic's ``rate_limit_error``.
    """
    return GatewayError(
        "rate_limit_error",
        message,
        headers={
            "retry-after": str(max(1, retry_after)),
            "x-should-retry": "false",
            ERROR_CODE_HEADER: code,
        },
    )


def unavailable(message: str, retry_after: int) -> GatewayError:
    return GatewayError(
        "overloaded_error",
        message,
        headers={"retry-after": str(max(1, retry_after)), "x-should-retry": "false"},
    )


def database_unavailable() -> GatewayError:
    """The database is down or unreachable: nothing was sent upstream, nothing was lost."""
    return GatewayError(
        "api_error",
        "The tutor's database is not answering right now, so your question was not sent. "
        "Try again in a minute; if it persists, tell your instructor.",
        status=503,
        headers={"retry-after": "30", "x-should-retry": "false"},
    )
