"""Conversation ids as both sides accept them: a UUID, or nothing (a new conversation)."""

from __future__ import annotations

import uuid


class InvalidConversationId(ValueError):
    """A conversation id that is not a UUID; each side turns it into its own 400."""


def parse_conversation_id(value: object) -> uuid.UUID | None:
    """``None`` for a missing or empty id, the UUID for a valid one; else
    :class:`InvalidConversationId` with a message that says what was wrong."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidConversationId(
            "`conversation_id` must be a string (the id of an earlier answer)."
        )
    try:
        return uuid.UUID(value)
    except ValueError as err:
        raise InvalidConversationId(f"`conversation_id` {value[:60]!r} is not a valid id.") from err
