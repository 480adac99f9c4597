"""The agent loop: one question in, a stream of chat API events out.

A :class:`Turn` asks the gateway, streams the answer's text as it arrives, runs the tools
the model asks for, sends their results back and goes on, until the model is done, the
tool-round limit is reached, or the student presses Stop.  Whatever happens, the stream
ends with exactly one ``done`` or ``error`` event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import anthropic

from jupyter_tutor import events, tracing
from jupyter_tutor.protocol import (
    CITATIONS_HEADER,
    CONTEXT_HEADER,
    CONVERSATION_HEADER,
    TOOLS_HEADER,
    decode_citations,
)
from jupyter_tutor.sse import ClientGone

from .chat_request import ChatRequest
from .context import build_context
from .course_marker import course_marker
from .course_picks import CoursePicks
from .errors import ChatError
from .gateway import (
    TRANSPORT_ERRORS,
    GatewayClient,
    broken_off,
    error_from_sdk,
)
from .history import repair, with_question
from .notebook import NotebookUnavailable, api_path
from .tools import Scope, Toolbox

Emit = Callable[[events.ChatEvent], Awaitable[None]]


@dataclass(frozen=True)
class AgentSettings:
    """The operator's limits for every answer (set by the extension's traitlets)."""

    model: str
    max_tokens: int
    max_tool_rounds: int
    context_token_budget: int
    nearby_cells: int


class Orchestrator:
    """Starts answers and keeps track of the running ones, so Stop can reach them."""

    def __init__(
        self,
        *,
        gateway: GatewayClient,
        toolbox: Toolbox,
        contents_manager: Any,
        root_dir: str,
        settings: AgentSettings,
        log: Any,
        course_picks: CoursePicks | None = None,
    ) -> None:
        self.gateway = gateway
        #: The course the student picked for each notebook (see course_picks.py).
        self.course_picks = course_picks or CoursePicks(None, root_dir)
        self.toolbox = toolbox
        self.contents_manager = contents_manager
        self.root_dir = root_dir
        self.settings = settings
        self.log = log
        self.running: dict[str, Turn] = {}

    async def answer(self, request: ChatRequest, emit: Emit) -> None:
        """Answer ``request``, emitting its events; returns when the stream has ended."""
        conversation_id = request.conversation_id or str(uuid.uuid4())
        if conversation_id in self.running:
            raise ChatError(
                "bad_request",
                "The tutor is still answering in this conversation. Wait for it, or press "
                "Stop, before asking again.",
                status=409,
            )
        turn = Turn(self, request, conversation_id)
        self.running[conversation_id] = turn
        try:
            await turn.run(emit)
        finally:
            self.running.pop(conversation_id, None)

    def stop(self, conversation_id: str) -> bool:
        """Stop the answer running in ``conversation_id``; False if there is none."""
        turn = self.running.get(conversation_id)
        return turn is not None and turn.stop()


class Turn:
    """One answer to one question."""

    def __init__(self, owner: Orchestrator, request: ChatRequest, conversation_id: str) -> None:
        self.owner = owner
        self.request = request
        self.conversation_id = conversation_id
        self.input_tokens = 0
        self.output_tokens = 0
        self._cited: set[tuple[Any, ...]] = set()
        self._task: asyncio.Future[events.StopReason] | None = None
        self._stopped = False
        #: The question's notebook, relative to the server root, once known.
        self.notebook_path: str | None = None

    def stop(self) -> bool:
        if self._stopped or (self._task is not None and self._task.done()):
            return False
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        return True

    async def run(self, emit: Emit) -> None:
        await emit(events.ConversationEvent(conversation_id=self.conversation_id))
        with tracing.span("orchestrator.chat", conversation_id=self.conversation_id):
            await self._run(emit)

    async def _run(self, emit: Emit) -> None:
        self._task = asyncio.ensure_future(self._answer(emit))
        if self._stopped:  # Stop arrived before the answer began
            self._task.cancel()
        try:
            stop_reason = await self._task
        except asyncio.CancelledError:
            if not self._stopped:
                raise  # the server is shutting down, or the client left
            stop_reason = "stopped"
        except ChatError as err:
            if err.code == "course_forbidden":
                self.owner.course_picks.forget(self.notebook_path)  # ask the student again
            await self._emit_usage(emit)
            await emit(err.event())
            return
        except ClientGone:
            raise
        except Exception:
            self.owner.log.exception("The tutor's answer failed")
            await emit(
                ChatError(
                    "internal",
                    "The tutor hit an unexpected problem while answering. Try again; if it "
                    "persists, tell your instructor.",
                ).event()
            )
            return
        await self._emit_usage(emit)
        await emit(events.DoneEvent(stop_reason=stop_reason))

    async def _answer(self, emit: Emit) -> events.StopReason:
        owner, settings, context = self.owner, self.owner.settings, self.request.context
        await owner.gateway.ready()
        notebook_path = None
        if context.notebook_path:
            try:
                notebook_path = api_path(context.notebook_path, owner.root_dir)
            except NotebookUnavailable:
                owner.log.info("Ignoring a notebook path outside the server root")
        self.notebook_path = notebook_path
        if context.course:
            owner.course_picks.remember(notebook_path, context.course)
        else:
            context = replace(context, course=owner.course_picks.get(notebook_path))
        where = await build_context(
            owner.contents_manager,
            context,
            notebook_path,
            token_budget=settings.context_token_budget,
            nearby_cells=settings.nearby_cells,
            course_marker=course_marker(owner.root_dir, notebook_path),
        )
        messages = with_question(await self._history(), self.request.message)
        params: dict[str, Any] = {
            "model": settings.model,
            "max_tokens": settings.max_tokens,
            "system": where.notes,
            "extra_headers": {
                CONVERSATION_HEADER: self.conversation_id,
                CONTEXT_HEADER: json.dumps(where.header(context.kind)),
            },
        }
        tools = owner.toolbox.definitions() if settings.max_tool_rounds > 0 else []
        if tools:
            params["tools"] = tools
        scope = Scope(
            notebook_path=where.notebook_path,
            cell_index=where.cell_index,
            cell_id=where.cell_id,
            code=context.code,
            course=where.course_header(),
        )
        rounds = 0
        while True:
            message = await self._ask(messages, params, emit)
            content = _history_blocks(message.content)
            if content:
                messages.append({"role": "assistant", "content": content})
            if message.stop_reason != "tool_use":
                return "max_tokens" if message.stop_reason == "max_tokens" else "end_turn"
            if rounds >= settings.max_tool_rounds:
                return "max_tool_rounds"
            rounds += 1
            results = await self._run_tools(content, scope, emit)
            messages.append({"role": "user", "content": results})

    async def _history(self) -> list[dict[str, Any]]:
        """The conversation so far, from the gateway (which stores every round)."""
        if self.request.conversation_id is None:
            return []
        try:
            stored = await self.owner.gateway.get_json(f"api/conversations/{self.conversation_id}")
        except ChatError as err:
            if err.status != 404:
                raise
            # Nothing stored yet: its first question was refused before the gateway stored
            # it (a course to pick, a rate limit). The gateway starts it under this id (and
            # refuses an id that is another student's).
            return []
        return repair(stored.get("messages", []) if isinstance(stored, dict) else [])

    async def _ask(self, messages: list[dict[str, Any]], params: dict[str, Any], emit: Emit) -> Any:
        """One round: stream the model's message, emitting its text as it arrives."""
        try:
            sdk = self.owner.gateway.sdk
            with tracing.span("orchestrator.model_call", model=params.get("model")):
                message = await self._stream_round(sdk, messages, params, emit)
        except anthropic.APIError as err:
            raise error_from_sdk(err) from err
        except TRANSPORT_ERRORS as err:
            raise broken_off(err) from err
        usage = message.usage
        self.input_tokens += (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        self.output_tokens += usage.output_tokens
        return message

    async def _stream_round(
        self, sdk: Any, messages: list[dict[str, Any]], params: dict[str, Any], emit: Emit
    ) -> Any:
        # The trace context goes along, so the gateway's spans join this trace.
        headers = {**params["extra_headers"], **tracing.propagation_headers()}
        async with sdk.messages.stream(
            messages=messages, **{**params, "extra_headers": headers}
        ) as stream:
            for passage in decode_citations(stream.response.headers.get(CITATIONS_HEADER)):
                await self._cite(passage, emit)
            if stream.response.headers.get(TOOLS_HEADER) == "none":
                params.pop("tools", None)  # the hub's model for this course cannot call tools
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    await emit(events.TextEvent(delta=event.delta.text))
            return await stream.get_final_message()

    async def _run_tools(
        self, content: list[dict[str, Any]], scope: Scope, emit: Emit
    ) -> list[dict[str, Any]]:
        results = []
        for block in content:
            if block["type"] != "tool_use":
                continue
            call = {"id": block["id"], "name": block["name"]}
            await emit(events.ToolCallEvent(**call, input=block["input"]))
            with tracing.span("orchestrator.tool", tool=block["name"]) as span:
                result = await self.owner.toolbox.call(block["name"], block["input"], scope)
                span.set_attribute("tutor.is_error", result.is_error)
            await emit(
                events.ToolResultEvent(
                    **call, is_error=result.is_error, output=Toolbox.display(result)
                )
            )
            for passage in result.citations:
                await self._cite(passage, emit)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block["id"],
                    "content": result.output,
                    "is_error": result.is_error,
                }
            )
        return results

    async def _cite(self, passage: dict[str, Any], emit: Emit) -> None:
        """A ``citation`` event, once per passage and answer."""
        key = (passage.get("course"), passage.get("path"), passage.get("cell"))
        if key in self._cited:
            return
        self._cited.add(key)
        cell = passage.get("cell")
        await emit(
            events.CitationEvent(
                course=str(passage.get("course") or ""),
                path=str(passage.get("path") or ""),
                cell=cell if isinstance(cell, int) and not isinstance(cell, bool) else None,
                heading=str(passage.get("heading") or ""),
                text=str(passage.get("text") or ""),
            )
        )

    async def _emit_usage(self, emit: Emit) -> None:
        if self.input_tokens or self.output_tokens:
            await emit(
                events.UsageEvent(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
            )


def _history_blocks(content: list[Any]) -> list[dict[str, Any]]:
    """The model's content blocks as history (text and tool calls; nothing else)."""
    blocks: list[dict[str, Any]] = []
    for block in content:
        if block.type == "text" and block.text:
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            blocks.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
    return blocks
