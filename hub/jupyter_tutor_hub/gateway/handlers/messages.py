"""``POST v1/messages``: the Anthropic Messages API, with the tutor's rules in front.

The order matters and is the point of the gateway: identify the caller, validate, admit
(the per-user cap on open requests from memory, then rate limit and budget, reserving the
worst case with an allowance for the prompt the gateway adds) before any expensive work,
then resolve the instructor's policy where the student is, retrieve course passages, build
the system prompt within that allowance, store the student's turn, call upstream (or
refuse, under ``no-help``) and relay each event as it arrives through the output guard,
recording the answer to store it even when the stream breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2

from jupyter_tutor import tracing
from jupyter_tutor.protocol import (
    CITATIONS_HEADER,
    CONTEXT_HEADER,
    CONVERSATION_HEADER,
    TOOLS_HEADER,
    encode_citations,
)
from jupyter_tutor.sse import ClientGone, EventStreamMixin

from ...policy.config import CourseConfig
from ...policy.guard import AnswerGuard
from ...policy.guardrails import Decision
from ...policy.resolve import Situation, TurnContext
from ...policy.store import published_courses
from .. import metrics
from ..courses import course_of
from ..errors import GatewayError
from ..metering import Reservation
from ..offline import offline_events, relevant
from ..recorder import AnswerRecorder
from ..request import MessagesRequest, ModelPolicy, context_header
from ..service import citation_items
from ..store import parse_conversation_id
from ..tools import strip_disallowed_tools
from ..upstreams.router import Router
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
        header = context_header(self.request.headers.get(CONTEXT_HEADER))
        situation = _situation(header)
        # Admission before any expensive work: the open-request cap from memory (before even
        # the course's membership query), then the rate limit and the budget in one
        # transaction; only then policy and retrieval.
        with gateway.metering.open_slot(caller.name):
            # The question's embedding (milliseconds of CPU, in a worker thread) runs
            # beside admission and policy instead of after them.
            gateway.prefetch_question(caller.name, request.question)
            # One connection: the published courses (the caller's course and its settings
            # among them), then admission, pipelined.
            async with gateway.preparing, gateway.pool.connection() as conn:
                published = await published_courses(conn)
                course = course_of(gateway, caller, header, published)
                config = next((c for c in published if c.name == course), None)
                _apply_course_model(request, config, gateway.policy, gateway.router)
                reservation = await gateway.metering.admit(
                    conn,
                    caller.name,
                    request.model,
                    request.input_chars,
                    request.max_tokens,
                    config,
                )
            await self._admitted(request, reservation, conversation_id, situation, course, config)

    async def _admitted(
        self,
        request: MessagesRequest,
        reservation: Reservation,
        conversation_id: uuid.UUID | None,
        situation: Situation,
        course: str,
        config: CourseConfig | None,
    ) -> None:
        """Resolve policy, retrieve, build the prompt, store the turn and answer; the
        reservation is settled whatever happens."""
        gateway = self.gateway
        guardrails = gateway.guardrails
        context = situation.turn
        user = reservation.user_name
        request.params["max_tokens"] = min(request.max_tokens, reservation.max_output_tokens)
        recorder = AnswerRecorder()
        status = "error"
        guard: AnswerGuard | None = None
        try:
            async with gateway.preparing:
                decision, passages, guard = await self._prepare(
                    request, course, config, situation, conversation_id, user
                )
            removed = strip_disallowed_tools(request.params, decision.policy.course)
            if removed:
                self.log.info(
                    "Not offered, the course does not allow them: %s",
                    ", ".join(removed),
                    extra=self._log_fields(),
                )
            # The offline answer shows (and cites) good matches only.
            if gateway.router.offline(request.model):
                passages = relevant(passages, gateway.offline_cutoff)
            passages = self._build_system(request, course, context, passages, decision)
            citations = citation_items(course, passages)
            if decision.refuse:
                events = guardrails.refusal_events()
            elif gateway.router.offline(request.model):
                events = offline_events(request.question, passages, avoid=decision.policy.avoid)
            else:
                events = None
            # The model is asked while the turn is stored (both take milliseconds); its
            # events are relayed only once the turn is stored.
            opening = None
            if request.stream and events is None:
                opening = asyncio.ensure_future(gateway.router.open_stream(request.params))
            try:
                stored = await self._open_turn(
                    request, course, context, decision, citations, user, conversation_id
                )
            except BaseException:
                if opening is not None:
                    await _discard(opening)
                raise
            self.set_header(CONVERSATION_HEADER, stored)
            self.set_header(CITATIONS_HEADER, encode_citations(citations))
            if request.stream:
                status = await self._relay(request, recorder, events, guard, opening)
            else:
                status = await self._answer_once(request, recorder, events, guard)
        finally:
            # Before the response finishes (Tornado finishes it when post() returns): a
            # client that has seen the end of the answer always finds the turn stored.
            await self._record(reservation, recorder, status, guard)
            await self._send_stream_error()

    async def _open_turn(
        self,
        request: MessagesRequest,
        course: str,
        context: TurnContext,
        decision: Decision,
        citations: list[dict[str, Any]],
        user: str,
        conversation_id: uuid.UUID | None,
    ) -> str:
        """Store the student's turn, the answer's row and the question's facts: one
        transaction, pipelined; return the conversation's id."""
        gateway = self.gateway
        async with (
            gateway.preparing,
            gateway.pool.connection() as conn,
            conn.pipeline(),
            conn.transaction(),
        ):
            conversation = await gateway.store.open_turn(
                conn,
                user=user,
                conversation_id=conversation_id,
                course=course or None,
                context=context,
                user_content=request.params["messages"][-1].get("content"),
                request_id=self.request_id,
                instructors_may_read=decision.policy.course.instructors_read_conversations,
            )
            await gateway.guardrails.record_question(
                conn,
                decision,
                user=user,
                conversation_id=conversation,
                request_id=self.request_id,
            )
            self.answer_id = await gateway.store.start_answer(
                conn,
                conversation_id=conversation,
                request_id=self.request_id,
                citations=citations,
            )
        self.conversation_id = str(conversation)
        return self.conversation_id

    async def _prepare(
        self,
        request: MessagesRequest,
        course: str,
        config: CourseConfig | None,
        situation: Situation,
        conversation_id: uuid.UUID | None,
        user: str,
    ) -> tuple[Decision, Sequence[Any], AnswerGuard]:
        """The policy, the course passages and the output guard, at once: none needs
        another.  Retrieval is dropped when the policy refuses (``no-help``)."""
        gateway = self.gateway
        messages = request.params["messages"]
        retrieving = asyncio.ensure_future(gateway.retrieve(course, request.question))
        guarding = asyncio.ensure_future(
            gateway.guardrails.answer_guard(gateway.pool, course, user, messages, config)
        )
        try:
            decision = await gateway.guardrails.decide(
                gateway.pool,
                user=user,
                course=course,
                situation=situation,
                messages=messages,
                question=request.question,
                conversation_id=conversation_id,
                config=config,
            )
            if decision.refuse:
                retrieving.cancel()
            guard = await guarding
            passages = [] if decision.refuse else await retrieving
        except BaseException:
            # The first error is the request's (a 4xx/5xx as usual), not a group of them.
            for task in (retrieving, guarding):
                task.cancel()
            await asyncio.gather(retrieving, guarding, return_exceptions=True)
            raise
        return decision, passages, guard

    def _build_system(
        self,
        request: MessagesRequest,
        course: str,
        context: TurnContext,
        passages: Sequence[Any],
        decision: Decision,
    ) -> Sequence[Any]:
        """Put the gateway's system prompt in front; return the passages it holds.

        Admission reserved ``Metering.prompt_allowance_chars`` for this prompt, so passages
        are left out (last first) until what the gateway added fits in that allowance.
        """
        caller_chars = request.input_chars
        allowance = self.gateway.metering.prompt_allowance_chars
        caller_system = request.params.get("system")
        passages = list(passages)
        while True:
            request.params["system"] = self.gateway.prompt.system_blocks(
                course=course,
                context=context,
                passages=passages,
                caller_system=caller_system,
                decision=decision,
            )
            if request.input_chars - caller_chars <= allowance:
                return passages
            if not passages:
                self.log.warning(
                    "The course's prompt is longer than Metering.prompt_allowance_chars: "
                    "budgets may be overspent by the difference; raise the allowance.",
                    extra=self._log_fields(),
                )
                return passages
            passages.pop()

    async def _relay(
        self,
        request: MessagesRequest,
        recorder: AnswerRecorder,
        events: AsyncIterator[dict[str, Any]] | None,
        guard: AnswerGuard,
        opening: asyncio.Future[Any] | None,
    ) -> str:
        """Stream the answer event by event (the model's, from ``opening``, when
        ``events`` is None); return the turn's final status."""
        upstream = self.gateway.upstream
        stream = None
        if events is None:
            assert opening is not None  # asked for beside the turn's storage
            # Errors here are plain 4xx/5xx; the router fails over to a fallback model.
            stream, upstream = await opening
            events = aiter(stream)
            self._declare_tools(upstream)
        # The SDKs' transport (httpx2) raises its own errors when a stream breaks.
        broken_off: tuple[type[Exception], ...] = (*upstream.connection_errors, httpx2.HTTPError)
        self.start_event_stream()
        metrics.OPEN_STREAMS.inc()
        try:
            # What the guard lets through is what the student sees and what is stored.
            assert self.answer_id is not None  # the answer's row is opened before streaming
            checkpoint = Checkpointer(self.gateway, self.answer_id, recorder)
            async for event in guard.filter(events):
                recorder.feed(event)
                await self.send_event(event, event=event["type"])
                await checkpoint.maybe()
            return "complete"
        except ClientGone:
            self.log.info("Client left mid-answer", extra=self._log_fields())
            return "interrupted"
        except upstream.status_errors as err:
            self.stream_error = upstream.translate(err)
            return "interrupted"
        except broken_off as err:
            self.stream_error = upstream.broken_off(err)
            return "interrupted"
        finally:
            metrics.OPEN_STREAMS.dec()
            if stream is not None:
                await stream.close()

    def _declare_tools(self, upstream: Any) -> None:
        """Tell the orchestrator when the model that answers cannot call tools."""
        if not upstream.tools:
            self.set_header(TOOLS_HEADER, "none")

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
            message, upstream = await self.gateway.router.create(request.params)
            self._declare_tools(upstream)
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
            # Settled and stored in one round trip (two transactions, pipelined).
            connection = gateway.pool.connection(timeout=gateway.record_timeout)
            async with connection as conn, conn.pipeline():
                cost = await gateway.metering.settle(conn, reservation, model, recorder.usage)
                if self.conversation_id is None:
                    return  # refused before the student's turn was stored: nothing to pair
                conversation = uuid.UUID(self.conversation_id)
                if status == "error" and recorder.content:
                    status = "interrupted"
                await gateway.store.finish_turn(
                    conn,
                    user=reservation.user_name,
                    conversation_id=conversation,
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
                    conversation_id=conversation,
                )
                for label in guard.withheld:
                    metrics.GUARD_WITHHELD.labels(guard.course, label[:80]).inc()
            metrics.TURNS.labels(status).inc()
        except Exception:
            self.log.exception("Could not store the answer", extra=self._log_fields())


def _apply_course_model(
    request: MessagesRequest,
    config: CourseConfig | None,
    policy: ModelPolicy,
    router: Router,
) -> None:
    """The course's ``model`` (``tutor.yaml``), else the hub's ``Router.default_model``,
    answers whatever the caller asked for; the operator's route of simple questions to
    ``ModelPolicy.simple_model`` still applies."""
    model = (config.model if config else "") or router.default_model
    if not model or request.model == policy.simple_model:
        return
    if model in policy.allowed_models or model in router.models:
        request.params["model"] = model
    else:
        policy.log.warning(
            "Course %s asks for model %s, which neither ModelPolicy.allowed_models nor "
            "Router.upstreams lists; "
            "the caller's model is used.",
            config.name if config else "(none)",
            model,
        )


async def _discard(opening: asyncio.Future[Any]) -> None:
    """Call off a model request whose turn could not be stored (closing its stream if it
    had opened)."""
    opening.cancel()
    with contextlib.suppress(BaseException):
        stream, _ = await opening
        await stream.close()


def _situation(header: dict[str, Any]) -> Situation:
    """Where the student is, from ``X-Tutor-Context``; a value out of range is a 400."""
    try:
        return Situation.from_header(header)
    except ValueError as err:
        raise GatewayError("invalid_request_error", f"X-Tutor-Context: {err}") from err
