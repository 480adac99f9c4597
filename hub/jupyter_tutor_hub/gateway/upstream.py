"""The gateway's client of the Anthropic API: the official SDK, the real key, a breaker.

:class:`Upstream` is also the base of the other upstreams (``upstreams/openai_compat.py``):
whatever the API behind it, ``open_stream`` yields Anthropic stream events as dicts and
``create`` returns a Messages ``Message`` as a dict, so the handlers never see which
upstream answered.

Retries (429, 529 and 5xx, honouring ``retry-after``) are the SDK's own, and they happen
only before the response starts, so nothing is ever retried after the first byte reached
the student.  Failures that survive the retries count against the circuit breaker, and the first
event relayed from a stream counts as its success.  Every call holds a breaker permit that
is released on every outcome, so a trial request that is cancelled or whose student left
never leaves the breaker stuck half-open.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import anthropic
from traitlets import Float, Instance, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from jupyter_tutor import tracing
from jupyter_tutor.protocol import retry_after_seconds

from . import metrics
from .breaker import CircuitBreaker, Permit
from .errors import GatewayError, rate_limited, unavailable


class Upstream(LoggingConfigurable):
    """Settings and client for the model API the gateway forwards to (Anthropic's)."""

    #: The SDK's errors for an HTTP error answer, and for a connection that failed.
    status_errors: ClassVar[tuple[type[Exception], ...]] = (anthropic.APIStatusError,)
    connection_errors: ClassVar[tuple[type[Exception], ...]] = (anthropic.APIConnectionError,)
    #: Whether the model can call tools (Anthropic's all can; see ``OpenAIUpstream.tools``).
    tools = True

    api_key = Unicode(
        help="""The Anthropic API key. Defaults to $ANTHROPIC_API_KEY. Without a key the
        gateway answers with the offline responder (course material only).""",
    ).tag(config=True)

    @default("api_key")
    def _api_key_default(self) -> str:
        return os.environ.get("ANTHROPIC_API_KEY", "")

    base_url = Unicode(
        help="Base URL of the Messages API. Defaults to $ANTHROPIC_BASE_URL, else Anthropic's.",
    ).tag(config=True)

    @default("base_url")
    def _base_url_default(self) -> str:
        return os.environ.get("ANTHROPIC_BASE_URL", "")

    max_retries = Integer(
        2, help="Retries of 429/529/5xx before the first byte (the SDK's backoff)."
    ).tag(config=True)
    timeout = Float(120.0, help="Seconds an upstream request may take in all.").tag(config=True)
    breaker_threshold = Integer(
        5, help="Consecutive upstream failures that open the circuit breaker."
    ).tag(config=True)
    breaker_cooldown = Float(
        30.0, help="Seconds the breaker stays open before a trial request."
    ).tag(config=True)

    breaker = Instance(CircuitBreaker)

    @default("breaker")
    def _breaker_default(self) -> CircuitBreaker:
        return CircuitBreaker(self.breaker_threshold, self.breaker_cooldown)

    _client: anthropic.AsyncAnthropic | None = None

    @property
    def offline(self) -> bool:
        """True when no key is configured: the offline responder answers instead."""
        return not self.api_key

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = anthropic.AsyncAnthropic(
                api_key=self.api_key,
                base_url=self.base_url or None,
                max_retries=self.max_retries,
                timeout=self.timeout,
            )
        return self._client

    async def open_stream(self, params: dict[str, Any]) -> UpstreamStream:
        """Start a streaming request; the caller reads its events, then ``close()``s it."""
        permit = self._permit()
        try:
            stream = await self._call(params, stream=True)
        except BaseException:
            permit.release()
            raise
        return UpstreamStream(self.events(stream, params), stream.close, self, permit)

    async def create(self, params: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming request: the answer as a Messages ``Message`` dict."""
        permit = self._permit()
        try:
            message = await self._call(params, stream=False)
            self.breaker.record_success()
            return self.message(message, params)
        finally:
            permit.release()

    async def request(self, params: dict[str, Any], *, stream: bool) -> Any:
        """The SDK call itself (what the other upstreams replace)."""
        return await self.client.messages.create(**params, stream=stream)

    async def events(self, stream: Any, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The SDK's stream as Messages events (dicts)."""
        async for event in stream:
            yield event.to_dict(mode="json")

    def message(self, answer: Any, params: dict[str, Any]) -> dict[str, Any]:
        """The SDK's non-streamed answer as a Messages ``Message`` dict."""
        return dict(answer.to_dict(mode="json"))

    def _permit(self) -> Permit:
        permit = self.breaker.acquire()
        if permit is None:
            metrics.UPSTREAM_ERRORS.labels("breaker_open").inc()
            wait = self.breaker.retry_after()
            raise unavailable(
                f"The tutor is unavailable right now (the AI service is not answering). "
                f"Try again in {wait} s.",
                wait,
            )
        return permit

    async def _call(self, params: dict[str, Any], *, stream: bool) -> Any:
        try:
            # For a stream, the span covers the time to the response's headers; the relay
            # that follows is the request span's.
            with tracing.span("gateway.upstream", model=params.get("model"), stream=stream):
                return await self.request(params, stream=stream)
        except self.status_errors as err:
            raise self.translate(err) from err
        except self.connection_errors as err:
            self.record_connection_failure(err)
            raise unavailable(
                "The tutor is unavailable right now: the AI service could not be reached. "
                f"Try again in {self.breaker.retry_after() or 30} s.",
                self.breaker.retry_after() or 30,
            ) from err

    def record_connection_failure(self, err: Exception) -> None:
        """Count a connection that failed (before or during a stream) against the breaker."""
        metrics.UPSTREAM_ERRORS.labels(type(err).__name__).inc()
        self.breaker.record_failure()

    def broken_off(self, err: Exception) -> GatewayError:
        """A stream that broke after the student got its first bytes: what they are told."""
        self.record_connection_failure(err)
        return GatewayError(
            "api_error",
            "The connection to the AI service broke off mid-answer. "
            "What you received so far is kept; ask again to continue.",
        )

    def translate(self, err: Any) -> GatewayError:
        """Turn an upstream error into one the student can act on (and feed the breaker)."""
        error_type = _error_type(err)
        metrics.UPSTREAM_ERRORS.labels(error_type).inc()
        if err.status_code == 429:
            self.breaker.record_success()  # the service is alive, only busy
            wait = _retry_after(err) or 30
            return rate_limited(f"The AI service is busy right now. Try again in {wait} s.", wait)
        if err.status_code in (401, 403):
            self.log.error("The upstream API refused the gateway's key: %s", error_type)
            return GatewayError(
                "api_error",
                "The tutor is not set up correctly (the hub's API key was refused). "
                "Please tell your instructor.",
                status=502,
            )
        if err.status_code >= 500 or error_type == "overloaded_error":
            self.breaker.record_failure()
            wait = _retry_after(err) or 30
            return unavailable(
                f"The tutor is unavailable right now (the AI service is overloaded). "
                f"Try again in {wait} s.",
                wait,
            )
        self.breaker.record_success()
        message = _error_message(err) or "The request was not accepted."
        return GatewayError(error_type, message, status=err.status_code)


def _error_object(err: Any) -> dict[str, Any]:
    """The error object of an API error's body: ``{"error": {…}}``, or the body itself."""
    body = err.body if isinstance(err.body, dict) else {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else body


def _error_type(err: Any) -> str:
    return str(_error_object(err).get("type") or f"http_{err.status_code}")


def _error_message(err: Any) -> str:
    return str(_error_object(err).get("message") or "")


def _retry_after(err: Any) -> int | None:
    return retry_after_seconds(err.response.headers if err.response is not None else None)


class UpstreamStream:
    """An open upstream stream: its events as dicts; the first one counts as the breaker's
    success, and :meth:`close` frees the breaker permit whatever happened."""

    def __init__(
        self,
        events: AsyncIterator[dict[str, Any]],
        close: Callable[[], Awaitable[None]],
        upstream: Upstream,
        permit: Permit,
    ) -> None:
        #: The events (a router may wrap them, e.g. to add a line before the answer).
        self.events = events
        self._close = close
        self._upstream = upstream
        self._permit = permit

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        first = True
        async for event in self.events:
            if first:
                self._upstream.breaker.record_success()  # the service answers
                first = False
            yield event

    async def close(self) -> None:
        self._permit.release()
        await self._close()
