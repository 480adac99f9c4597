"""Conversations and their turns, persisted so that nothing a student asked is lost.

The student's turn is written before the model is called.  The assistant's turn is
written when the answer starts (``streaming``), checkpointed while it streams and closed
with its final status (``complete``, ``interrupted`` if the stream broke, ``error``), so
even a gateway killed mid-answer leaves the partial answer behind: a ``streaming`` row
whose last checkpoint is stale reads as ``interrupted``.  Every read is scoped to the
caller: a conversation id of another user reads as not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from traitlets import Float
from traitlets.config import LoggingConfigurable

from jupyter_tutor import ids

from ..db import one_row
from ..policy.resolve import TurnContext
from .errors import GatewayError
from .metering import Usage


def _not_found() -> GatewayError:
    return GatewayError("not_found_error", "No such conversation.")


def parse_conversation_id(value: object) -> uuid.UUID | None:
    """A conversation id from a header or URL, or ``None``; garbage is a 400."""
    try:
        return ids.parse_conversation_id(value)
    except ids.InvalidConversationId as err:
        raise GatewayError("invalid_request_error", str(err)) from err


class ConversationStore(LoggingConfigurable):
    """SQL for conversations, messages and the usage ledger."""

    checkpoint_seconds = Float(
        2.0, help="How often a streaming answer's text so far is saved (seconds)."
    ).tag(config=True)
    stale_seconds = Float(
        60.0,
        help="""A streaming answer not checkpointed for this long belongs to a gateway that
        died: it is shown and stored as interrupted.""",
    ).tag(config=True)

    async def start_answer(
        self,
        conn: AsyncConnection,
        *,
        conversation_id: uuid.UUID,
        request_id: str,
        citations: Sequence[Mapping[str, Any]] = (),
    ) -> int:
        """Store the assistant's turn as ``streaming`` before the model is called, with the
        course passages it is grounded in (so the history shows them later)."""
        row = await (
            await conn.execute(
                "INSERT INTO messages (conversation_id, role, content, status, request_id,"
                " citations) VALUES (%s, 'assistant', '[]'::jsonb, 'streaming', %s, %s)"
                " RETURNING id",
                (conversation_id, request_id, Jsonb(list(citations))),
            )
        ).fetchone()
        return one_row(row)[0]

    async def checkpoint(
        self, conn: AsyncConnection, message_id: int, content: list[dict[str, Any]]
    ) -> None:
        """Save the answer so far (it survives a crash of this gateway)."""
        await conn.execute(
            "UPDATE messages SET content = %s, updated_at = now()"
            " WHERE id = %s AND status = 'streaming'",
            (Jsonb(content), message_id),
        )

    async def close_stale_answers(
        self, conn: AsyncConnection, conversation_id: uuid.UUID | None = None
    ) -> int:
        """Mark answers whose gateway died mid-stream as interrupted; return how many."""
        scope = " AND conversation_id = %s" if conversation_id else ""
        cur = await conn.execute(
            "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'"
            " AND updated_at < now() - make_interval(secs => %s)" + scope,
            (self.stale_seconds, conversation_id) if conversation_id else (self.stale_seconds,),
        )
        return cur.rowcount

    async def open_turn(
        self,
        conn: AsyncConnection,
        *,
        user: str,
        conversation_id: uuid.UUID | None,
        course: str | None,
        context: TurnContext,
        user_content: Any,
        request_id: str,
        instructors_may_read: bool = False,
    ) -> uuid.UUID:
        """Create or continue the caller's conversation and store the student's turn.

        A new conversation records ``instructors_may_read``: what the course's privacy
        setting told the student when it began (their consent). A later change of the
        setting never widens who may read an existing conversation.  A new conversation
        is written without reading anything first, so in a pipeline (``conn.pipeline()``)
        its statements cost no round trip of their own.
        """
        new = (user, course, _title(user_content), context.notebook_path, instructors_may_read)
        async with conn.transaction():
            if conversation_id is None:
                conversation_id = uuid.uuid4()
                await self._create(conn, conversation_id, *new)
            elif not await self._continue(conn, conversation_id, user):
                # Not the caller's, or new with an id the client chose.
                created = await self._create(conn, conversation_id, *new)
                if await created.fetchone() is None and not await self._continue(
                    conn, conversation_id, user
                ):
                    raise _not_found()
            await conn.execute(
                "INSERT INTO messages (conversation_id, role, content, status, request_id)"
                " VALUES (%s, 'user', %s, 'complete', %s)",
                (conversation_id, Jsonb(_metadata_wrapped(user_content, context)), request_id),
            )
        return conversation_id

    @staticmethod
    async def _create(
        conn: AsyncConnection,
        conversation_id: uuid.UUID,
        user: str,
        course: str | None,
        title: str,
        notebook_path: str | None,
        instructors_may_read: bool,
    ) -> Any:
        """Insert the conversation unless its id exists (the cursor's row is None then)."""
        return await conn.execute(
            "INSERT INTO conversations (id, user_name, course_id, title, notebook_path,"
            " instructors_may_read) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING RETURNING id",
            (conversation_id, user, course, title, notebook_path, instructors_may_read),
        )

    @staticmethod
    async def _continue(conn: AsyncConnection, conversation_id: uuid.UUID, user: str) -> bool:
        """Touch the caller's conversation; False if it is not theirs or does not exist."""
        cursor = await conn.execute(
            "UPDATE conversations SET updated_at = now() WHERE id = %s AND user_name = %s"
            " RETURNING id",
            (conversation_id, user),
        )
        return await cursor.fetchone() is not None

    async def finish_turn(
        self,
        conn: AsyncConnection,
        *,
        user: str,
        conversation_id: uuid.UUID,
        content: list[dict[str, Any]],
        status: str,
        model: str,
        request_id: str,
        latency_ms: int,
        usage: Usage,
        cost: Decimal,
        message_id: int | None = None,
    ) -> int:
        """Close the assistant's turn (``message_id`` from :meth:`start_answer`, else a new
        row) and record its usage; return the message id.  Nothing is read back when
        ``message_id`` is given, so in a pipeline it costs no round trip of its own."""
        async with conn.transaction():
            if message_id is None:
                message_id = await self.start_answer(
                    conn, conversation_id=conversation_id, request_id=request_id
                )
            await conn.execute(
                "UPDATE messages SET content = %s, status = %s, model = %s,"
                " latency_ms = %s, updated_at = now() WHERE id = %s",
                (Jsonb(content), status, model, latency_ms, message_id),
            )
            await conn.execute(
                "INSERT INTO usage (user_name, conversation_id, message_id, model, input_tokens,"
                " output_tokens, cache_creation_input_tokens, cache_read_input_tokens,"
                " cost_usd, request_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    user,
                    conversation_id,
                    message_id,
                    model,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_creation_input_tokens,
                    usage.cache_read_input_tokens,
                    cost,
                    request_id,
                ),
            )
        return message_id

    async def list_conversations(
        self, conn: AsyncConnection, user: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id::text, title, course_id AS course, notebook_path, created_at, updated_at"
            " FROM conversations WHERE user_name = %s ORDER BY updated_at DESC LIMIT %s",
            (user, limit),
        )
        return [_jsonable(r) for r in await cur.fetchall()]

    async def get_conversation(
        self, conn: AsyncConnection, user: str, conversation_id: uuid.UUID
    ) -> dict[str, Any]:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id::text, title, course_id AS course, notebook_path, created_at, updated_at"
            " FROM conversations WHERE id = %s AND user_name = %s",
            (conversation_id, user),
        )
        conversation = await cur.fetchone()
        if conversation is None:
            raise _not_found()
        await self.close_stale_answers(conn, conversation_id)
        await cur.execute(
            "SELECT id, role, content, status, model, created_at, citations FROM messages"
            " WHERE conversation_id = %s ORDER BY id",
            (conversation_id,),
        )
        messages = [_jsonable(r) for r in await cur.fetchall()]
        for message in messages:
            if message["role"] == "user":
                del message["citations"]
                if isinstance(message["content"], dict):
                    message["context"] = message["content"].get("context")
                    message["content"] = message["content"].get("content")
        return {**_jsonable(conversation), "messages": messages}


def _metadata_wrapped(content: Any, context: TurnContext) -> dict[str, Any]:
    return {
        "content": content,
        "context": {
            "notebook_path": context.notebook_path,
            "cell_index": context.cell_index,
            "kind": context.kind,
        },
    }


def _title(content: Any) -> str:
    """A short title from the first words the student wrote."""
    text = (
        content
        if isinstance(content, str)
        else " ".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    )
    text = " ".join(text.split())
    return text[:77] + "…" if len(text) > 80 else text


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
