"""``POST v1/messages``: the Anthropic Messages API, with the tutor's rules in front.

The order matters and is the point of the gateway: identify the caller, validate,
resolve the instructor's policy where the student is, retrieve course passages, build the
system prompt, admit against budget and rate limit (reserving the worst case of the full
request), store the student's turn, then call upstream (or refuse, under ``no-help``) and
relay each event as it arrives through the output guard, recording the answer to store it
even when the stream breaks.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from jupyter_tutor import tracing
from jupyter_tutor.protocol import CITATIONS_HEADER, CONTEXT_HEADER, CONVERSATION_HEADER
from jupyter_tutor.sse import ClientGone, EventStreamMixin

from ...policy.guard import AnswerGuard
from ...policy.resolve import Situation, TurnContext
from .. import metrics
from ..errors import GatewayError
from ..metering import Reservation
from ..offline import offline_events, relevant
from ..recorder import AnswerRecorder
from ..request import MessagesRequest
from ..service import citations_header
from ..store import parse_conversation_id
from ..tools import strip_disallowed_tools
from .base import GatewayHandler


class Checkpointer:
    """Saves the answer so far every ``ConversationStore.checkpoint_seconds`` while it
    streams, so a gateway killed mid-answer leaves the partial answer stored."""

    def __init__(self, gateway: Any, message_id: int, recorder: AnswerRecorder) -> None:
        self.gateway = gateway
        self.message_id = message_id
        self.recorder = recorder
        self.last = time.monotonic()

    async def maybe(self) -> None:
        if time.monotonic() - self.last < self.gateway.store.checkpoint_seconds:
            return
        self.last = time.monotonic()
        try:
            async with self.gateway.pool.connection() as conn:
                await self.gateway.store.checkpoint(conn, self.message_id, self.recorder.snapshot())
        except Exception:  # a missed checkpoint must never break the answer itself
            self.gateway.log.warning("Could not checkpoint the answer", exc_info=True)


class MessagesHandler(EventStreamMixin, GatewayHandler):
    route = "messages"
    #: The assistant's row, stored as ``streaming`` before the model is called.
    answer_id: int | None = None
    #: A failure in the middle of the stream, passed on as an ``error`` event.
    stream_error: GatewayError | None = None

    async def post(self) -> None:
        headers = self.request.headers
        with tracing.span("gateway.request", carrier=headers, route=self.route) as span:
            try:
                await self._answer()
            finally:
                if self.conversation_id:
                    span.set_attribute("tutor.conversation_id", self.conversation_id)

    async def _answer(self) -> None:
        gateway = self.gateway
        caller = await self.identify()
        request = gateway.policy.parse(self.request.body)
        conversation_id = parse_conversation_id(self.request.headers.get(CONVERSATION_HEADER))
        situation = _situation_from_header(self.request.headers.get(CONTEXT_HEADER))
        context = situation.turn
        course = gateway.default_course
        guardrails = gateway.guardrails

        decision = await guardrails.decide(
            gateway.pool,
            user=caller.name,
            course=course,
            situation=situation,
            messages=request.params["messages"],
            question=request.question,
            conversation_id=conversation_id,
        )
        removed = strip_disallowed_tools(request.params, decision.policy.course)
        if removed:
            self.log.info(
                "Not offered, the course does not allow them: %s",
                ", ".join(removed),
                extra=self._log_fields(),
            )
        passages = [] if decision.refuse else await gateway.retrieve(course, request.question)
        if gateway.upstream.offline:  # the offline answer shows (and cites) good matches only
            passages = relevant(passages, gateway.offline_cutoff)
        request.params["system"] = gateway.prompt.system_blocks(
            course=course,
            context=context,
            passages=passages,
            caller_system=request.params.get("system"),
            decision=decision,
        )
        # Admitted only now, so the reservation counts the system prompt the gateway added.
        async with gateway.pool.connection() as conn:
            reservation = await gateway.metering.admit(
                conn, caller.name, request.model, request.input_chars, request.max_tokens
            )
        request.params["max_tokens"] = min(request.max_tokens, reservation.max_output_tokens)
        recorder = AnswerRecorder()
        status = "error"
        guard: AnswerGuard | None = None
        try:
            async with gateway.pool.connection() as conn:
                conversation = await gateway.store.open_turn(
                    conn,
                    user=caller.name,
                    conversation_id=conversation_id,
                    course=course or None,
                    context=context,
                    user_content=request.params["messages"][-1].get("content"),
                    request_id=self.request_id,
                )
                self.answer_id = await gateway.store.start_answer(
                    conn, conversation_id=conversation, request_id=self.request_id
                )
            self.conversation_id = str(conversation)
            self.set_header(CONVERSATION_HEADER, self.conversation_id)
            self.set_header(CITATIONS_HEADER, citations_header(course, passages))
            await guardrails.record_question(
                gateway.pool,
                decision,
                user=caller.name,
                conversation_id=conversation,
                request_id=self.request_id,
            )
            guard = await guardrails.answer_guard(
                gateway.pool, course, caller.name, request.params["messages"]
            )
            if decision.refuse:
                events = guardrails.refusal_events()
            elif gateway.upstream.offline:
                events = offline_events(request.question, passages, avoid=decision.policy.avoid)
            else:
                events = None
            if request.stream:
                status = await self._relay(request, recorder, events, guard)
            else:
                status = await self._answer_once(request, recorder, events, guard)
        finally:
            # Before the response finishes (Tornado finishes it when post() returns): a
            # client that has seen the end of the answer always finds the turn stored.
            await self._record(reservation, recorder, status, guard)
            await self._send_stream_error()

    async def _relay(
        self,
        request: MessagesRequest,
        recorder: AnswerRecorder,
        events: AsyncIterator[dict[str, Any]] | None,
        guard: AnswerGuard,
    ) -> str:
        """Stream the answer event by event; return the turn's final status."""
        upstream = self.gateway.upstream
        stream = None
        if events is None:
            stream = await upstream.open_stream(request.params)  # errors here: plain 4xx/5xx
            events = _as_dicts(stream)
        self.start_event_stream()
        metrics.OPEN_STREAMS.inc()
        try:
            # What the guard lets through is what the student sees and what is stored.
            checkpoint = Checkpointer(self.gateway, self.answer_id, recorder)
            async for event in guard.filter(events):
                recorder.feed(event)
                await self.send_event(event, event=event["type"])
                await checkpoint.maybe()
            if stream is not None:
                upstream.breaker.record_success()
            return "complete"
        except ClientGone:
            self.log.info("Client left mid-answer", extra=self._log_fields())
            return "interrupted"
        except anthropic.APIStatusError as err:
            self.stream_error = upstream.translate(err)
            return "interrupted"
        except (anthropic.APIConnectionError, httpx2.HTTPError) as err:
            # The SDK's transport (httpx2) raises its own errors when a stream breaks.
            self.stream_error = upstream.broken_off(err)
            return "interrupted"
        finally:
            metrics.OPEN_STREAMS.dec()
            if stream is not None:
                await stream.close()

    async def _send_stream_error(self) -> None:
        """The stream's ``error`` event, sent once the partial turn is stored."""
        if self.stream_error is not None:
            with contextlib.suppress(ClientGone):
                await self.send_event(self.stream_error.body(), event="error")

    async def _answer_once(
        self,
        request: MessagesRequest,
        recorder: AnswerRecorder,
        events: AsyncIterator[dict[str, Any]] | None,
        guard: AnswerGuard,
    ) -> str:
        if events is None:
            message = (await self.gateway.upstream.create(request.params)).to_dict(mode="json")
            message = guard.message(message)  # text, thinking and tool inputs
            recorder.feed_message(message)
        else:
            async for event in guard.filter(events):
                recorder.feed(event)
                if event["type"] == "message_start":
                    message = event["message"]
            message |= {
                "content": recorder.content,
                "stop_reason": recorder.stop_reason,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
        # Written, not finished: the response ends once the turn is stored (see post()).
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(message))
        return "complete"

    async def _record(
        self,
        reservation: Reservation,
        recorder: AnswerRecorder,
        status: str,
        guard: AnswerGuard | None,
    ) -> None:
        """Settle the budget and store the assistant's turn, whatever happened."""
        gateway = self.gateway
        model = recorder.model or "unknown"
        try:
            async with gateway.pool.connection() as conn:
                cost = await gateway.metering.settle(conn, reservation, model, recorder.usage)
                if self.conversation_id is None:
                    return  # refused before the student's turn was stored: nothing to pair
                if status == "error" and recorder.content:
                    status = "interrupted"
                await gateway.store.finish_turn(
                    conn,
                    user=reservation.user_name,
                    conversation_id=parse_conversation_id(self.conversation_id),
                    content=recorder.content,
                    status=status,
                    model=model,
                    request_id=self.request_id,
                    latency_ms=recorder.latency_ms,
                    usage=recorder.usage,
                    cost=cost,
                    message_id=self.answer_id,
                )
            if guard is not None:
                await gateway.guardrails.after_answer(
                    gateway.pool,
                    guard,
                    user=reservation.user_name,
                    conversation_id=parse_conversation_id(self.conversation_id),
                )
                for label in guard.withheld:
                    metrics.GUARD_WITHHELD.labels(guard.course, label[:80]).inc()
            metrics.TURNS.labels(status).inc()
        except Exception:
            self.log.exception("Could not store the answer", extra=self._log_fields())


async def _as_dicts(stream: anthropic.AsyncStream[Any]) -> AsyncIterator[dict[str, Any]]:
    async for event in stream:
        yield event.to_dict(mode="json")


def _situation_from_header(value: str | None) -> Situation:
    if not value:
        return Situation(turn=TurnContext())
    try:
        data = json.loads(value)
    except json.JSONDecodeError as err:
        raise GatewayError("invalid_request_error", "X-Tutor-Context is not valid JSON.") from err
    if not isinstance(data, dict):
        raise GatewayError("invalid_request_error", "X-Tutor-Context must be a JSON object.")
    return Situation.from_header(data)
