"""The chat API's events, typed once: what the orchestrator emits and the magics read.

The student's server answers ``POST chat`` with a stream of these (one JSON object per
``data:`` line, see docs/chat-api.md; their schemas are in docs/openapi/chat.yaml and a
test keeps the two in step).  The side panel mirrors them in ``labextension/src/protocol.ts``.
Clients ignore event types they do not know, so :func:`parse_event` returns ``None`` for
those instead of failing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

#: Why an answer ended (``done``): the model finished, the student pressed Stop, the answer
#: hit its length limit, or the tool rounds ran out.
StopReason = Literal["end_turn", "stopped", "max_tokens", "max_tool_rounds"]

#: Why an answer failed (``error``), for clients; the message is for the student.
ErrorCode = Literal[
    "budget_exceeded",
    "rate_limited",
    "unavailable",
    "bad_request",
    "unauthorized",
    "upstream",
    "internal",
    "course_choice_required",
    "course_forbidden",
]


class ChatEvent(BaseModel):
    """What every event shares: its ``type``, and the JSON it is on the wire."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        """The event as the JSON object the stream carries."""
        return self.model_dump(mode="json")


class ConversationEvent(ChatEvent):
    """Always first: the id to send with follow-up questions."""

    type: Literal["conversation"] = "conversation"
    conversation_id: str


class TextEvent(ChatEvent):
    """A piece of the answer's Markdown, to append."""

    type: Literal["text"] = "text"
    delta: str


class ToolCallEvent(ChatEvent):
    """The tutor started a tool."""

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    input: dict[str, Any]


class ToolResultEvent(ChatEvent):
    """What a tool gave back, trimmed for display."""

    type: Literal["tool_result"] = "tool_result"
    id: str
    name: str
    is_error: bool
    output: str


class CitationEvent(ChatEvent):
    """A course passage the answer is grounded in, once per passage and answer."""

    type: Literal["citation"] = "citation"
    course: str
    #: Relative to the course folder.
    path: str
    #: The 0-based index of the cell in its notebook; ``None`` where the passage is not a
    #: notebook cell (a Markdown or Python file).
    cell: int | None
    heading: str
    text: str


class UsageEvent(ChatEvent):
    """Tokens of this answer, summed over its tool rounds."""

    type: Literal["usage"] = "usage"
    input_tokens: int
    output_tokens: int


class DoneEvent(ChatEvent):
    """The answer ended normally (one of ``done`` or ``error`` ends every stream)."""

    type: Literal["done"] = "done"
    stop_reason: StopReason


class ErrorEvent(ChatEvent):
    """The answer failed; ``message`` is written for the student."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    #: Seconds after which asking again may work (rate limits, budgets, outages).
    retry_after: int | None = None
    #: With ``course_choice_required``: the student's courses, to pick the question's from.
    courses: list[str] | None = None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


AnyEvent = Annotated[
    ConversationEvent
    | TextEvent
    | ToolCallEvent
    | ToolResultEvent
    | CitationEvent
    | UsageEvent
    | DoneEvent
    | ErrorEvent,
    Field(discriminator="type"),
]

#: Every event type, by the name it has on the wire.
EVENT_TYPES: dict[str, type[ChatEvent]] = {
    model.model_fields["type"].default: model
    for model in (
        ConversationEvent,
        TextEvent,
        ToolCallEvent,
        ToolResultEvent,
        CitationEvent,
        UsageEvent,
        DoneEvent,
        ErrorEvent,
    )
}

_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(data: Any) -> AnyEvent | None:
    """An event read from the stream; ``None`` for a type this client does not know.

    A known type with bad fields is an error (``ValueError``): the server broke the contract.
    """
    if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
        return None
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        raise ValueError(f"Malformed {data.get('type')!r} event from the tutor: {err}") from err
