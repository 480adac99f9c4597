"""The orchestrator's one way to the hub side: the tutor gateway.

Model requests go through the official ``anthropic`` SDK (the gateway speaks the Messages
API); course search and stored conversations are small JSON calls.  Every call carries
this server's JupyterHub API token (the server's own token in single-user mode), and every
failure becomes a :class:`ChatError` whose message the student can act on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, get_args

import anthropic
import httpx

from jupyter_tutor import events
from jupyter_tutor.protocol import COURSES_HEADER, ERROR_CODE_HEADER, retry_after_seconds

from .errors import ChatError

try:  # anthropic 2 sends through httpx2, a fork of httpx; earlier releases through httpx
    import httpx2

    #: What a connection that breaks mid-stream raises (the SDK does not wrap it).
    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # pragma: no cover - depends on the SDK's version
    TRANSPORT_ERRORS = (httpx.TransportError,)

#: Gateway error types (Anthropic's) and the chat API's codes for them.
_CODE_OF_TYPE = {
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "request_too_large": "bad_request",
    "authentication_error": "unauthorized",
    "permission_error": "unauthorized",
    "rate_limit_error": "rate_limited",
    "overloaded_error": "unavailable",
    "api_error": "upstream",
}


def broken_off(err: Exception) -> ChatError:
    return ChatError(
        "unavailable",
        "The connection to the tutor service broke off mid-answer. Ask again to continue "
        f"({type(err).__name__}).",
    )


def unreachable(err: Exception) -> ChatError:
    return ChatError(
        "unavailable",
        "The tutor service cannot be reached right now. Try again in a minute; if this "
        f"persists, tell your instructor ({type(err).__name__}).",
    )


def error_from_status(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> ChatError:
    """A gateway refusal (Anthropic's error format) as a :class:`ChatError`."""
    inner = body.get("error") if isinstance(body, dict) else None
    inner = inner if isinstance(inner, dict) else {}
    error_type = str(inner.get("type") or "")
    message = str(inner.get("message") or "")
    retry_after = retry_after_seconds(headers)
    # The gateway names a refusal more precisely than its HTTP status can.
    named = (headers or {}).get(ERROR_CODE_HEADER.lower()) or _CODE_OF_TYPE.get(error_type)
    code: events.ErrorCode
    if named in ERROR_CODES:
        code = named  # type: ignore[assignment]  # checked against the Literal's values
    elif status in (401, 403):
        code = "unauthorized"
    elif status == 429:
        code = "rate_limited"
    else:
        code = "unavailable" if status in (502, 503, 504, 529) else "upstream"
    if not message:
        message = {
            "unauthorized": "The tutor did not accept this server's credentials. Restart "
            "your server from the hub's home page.",
            "rate_limited": "Too many questions at once. Wait a moment and ask again.",
            "unavailable": "The tutor is unavailable right now. Try again in a minute.",
        }.get(code, f"The tutor could not answer (status {status}). Try again.")
    # A refusal of the caller (404: no such conversation) keeps its status.
    return ChatError(
        code,
        message,
        retry_after,
        status if 400 <= status < 500 else None,
        courses=_courses(headers) if code == "course_choice_required" else None,
    )


def _courses(headers: Mapping[str, str] | None) -> list[str]:
    """The courses a ``course_choice_required`` refusal lists (none if malformed)."""
    try:
        courses = json.loads((headers or {}).get(COURSES_HEADER.lower()) or "[]")
    except ValueError:
        return []
    return [c for c in courses if isinstance(c, str)] if isinstance(courses, list) else []


def error_from_sdk(err: anthropic.APIError) -> ChatError:
    """An SDK exception (HTTP refusal, mid-stream ``error`` event, network) as a ChatError."""
    if isinstance(err, anthropic.APIStatusError):
        return error_from_status(err.status_code, err.body, err.response.headers)
    if isinstance(err, anthropic.APIConnectionError):
        return unreachable(err)
    # A mid-stream `error` event has no status of its own: judge it by its type.
    body = err.body if isinstance(err.body, dict) else {"error": {"message": str(err)}}
    return error_from_status(500, body)


ERROR_CODES = frozenset(get_args(events.ErrorCode))


class GatewayClient:
    """Calls to the gateway at ``url`` (its prefix, e.g. ``…/services/tutor/``).

    ``url`` and ``ready`` are callables because in single-user mode the gateway is mounted
    in this very server, whose port is known only once it listens, and which opens its
    resources in the background.
    """

    def __init__(
        self,
        url: Callable[[], str],
        token: str,
        timeout: float,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._url = url
        self._token = token
        self._timeout = timeout
        self._ready = ready
        self._sdk: anthropic.AsyncAnthropic | None = None
        self._http: httpx.AsyncClient | None = None

    async def ready(self) -> None:
        """Wait until the gateway can answer (single-user mode opens it in the background;
        ``ready`` then raises a :class:`ChatError` saying why it could not)."""
        if self._ready is not None:
            await self._ready()

    @property
    def sdk(self) -> anthropic.AsyncAnthropic:
        """The Messages API client (no retries: the gateway retries upstream itself)."""
        if self._sdk is None:
            self._sdk = anthropic.AsyncAnthropic(
                base_url=self._url().rstrip("/"),
                # The gateway identifies the caller by this token; nothing else is sent.
                auth_token=self._token or "no-token",
                # Connection failures before the first byte (a keep-alive connection the
                # gateway had closed, a replica restarting) are retried; the gateway's own
                # refusals say `x-should-retry: false` and are not.
                max_retries=2,
                timeout=self._timeout,
            )
        return self._sdk

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self._url(),
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=min(self._timeout, 30.0),
            )
        return self._http

    async def get_json(self, path: str, **params: Any) -> Any:
        return await self._json("GET", path, params=params or None)

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        return await self._json("POST", path, json=body, headers=headers)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        await self.ready()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise unreachable(err) from err
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise error_from_status(response.status_code, body, response.headers)
        return body

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
        if self._http is not None:
            await self._http.aclose()
