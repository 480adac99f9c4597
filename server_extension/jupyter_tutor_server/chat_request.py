"""The chat API's request body, validated before anything is spent on it.

Everything here comes from the student's browser or kernel, so every field is checked
for type and size, and a bad body gets a 400 that says which field is wrong and how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_tutor import ids
from jupyter_tutor.chat import KINDS

MAX_MESSAGE_CHARS = 20_000
MAX_CODE_CHARS = 50_000
MAX_TRACEBACK_LINES = 200


class BadRequest(ValueError):
    """The request is malformed; the message says what to fix."""


@dataclass(frozen=True)
class CellError:
    """An error output of a cell, as nbformat stores it."""

    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QuestionContext:
    """Where the student is when asking (all optional, all informative)."""

    #: The notebook, relative to the server root (an absolute path inside the root is
    #: accepted too: kernels know their notebook only as an absolute path).
    notebook_path: str | None = None
    cell_index: int | None = None
    cell_id: str | None = None
    #: The code in question (``%%tutor``'s cell body, the panel's active cell).
    code: str | None = None
    error: CellError | None = None
    kind: str = "question"
    #: The course the student picked for this notebook (the gateway checks they are in it).
    course: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """A validated ``POST chat`` body."""

    message: str
    conversation_id: str | None
    context: QuestionContext

    @classmethod
    def parse(cls, body: Any) -> ChatRequest:
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object with a `message`.")
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            raise BadRequest("`message` must be a non-empty string: the question to ask.")
        if len(message) > MAX_MESSAGE_CHARS:
            raise BadRequest(
                f"`message` is too long ({len(message)} characters, at most "
                f"{MAX_MESSAGE_CHARS}). Shorten the question."
            )
        return cls(
            message=message,
            conversation_id=parse_conversation_id(body.get("conversation_id")),
            context=_parse_context(body.get("context")),
        )


def parse_conversation_id(value: Any) -> str | None:
    """A conversation id (a UUID, as text) or ``None``; anything else is a :class:`BadRequest`."""
    try:
        parsed = ids.parse_conversation_id(value)
    except ids.InvalidConversationId as err:
        raise BadRequest(str(err)) from err
    return str(parsed) if parsed else None


def _optional(obj: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"`context.{key}` must be {what}.")
    return value


def _parse_context(value: Any) -> QuestionContext:
    if value is None:
        return QuestionContext()
    if not isinstance(value, dict):
        raise BadRequest("`context` must be an object (see docs/chat-api.md).")
    cell_index = _optional(value, "cell_index", int, "a 0-based cell index")
    if cell_index is not None and cell_index < 0:
        raise BadRequest("`context.cell_index` must be 0 or more.")
    code = _optional(value, "code", str, "a string")
    if code is not None and len(code) > MAX_CODE_CHARS:
        raise BadRequest(f"`context.code` is too long (at most {MAX_CODE_CHARS} characters).")
    kind = value.get("kind") or "question"
    if kind not in KINDS:
        raise BadRequest(f"`context.kind` must be one of: {', '.join(KINDS)}.")
    return QuestionContext(
        notebook_path=_optional(value, "notebook_path", str, "a path") or None,
        cell_index=cell_index,
        cell_id=_optional(value, "cell_id", str, "a string") or None,
        code=code,
        error=_parse_error(value.get("error")),
        kind=kind,
        course=_optional(value, "course", str, "a course name") or None,
    )


def _parse_error(value: Any) -> CellError | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("`context.error` must be an object with `ename`, `evalue`, `traceback`.")
    ename, evalue = value.get("ename", ""), value.get("evalue", "")
    traceback = value.get("traceback", [])
    if not isinstance(ename, str) or not isinstance(evalue, str):
        raise BadRequest("`context.error.ename` and `evalue` must be strings.")
    if not isinstance(traceback, list) or not all(isinstance(t, str) for t in traceback):
        raise BadRequest("`context.error.traceback` must be a list of strings.")
    return CellError(ename[:200], evalue[:2000], traceback[-MAX_TRACEBACK_LINES:])
