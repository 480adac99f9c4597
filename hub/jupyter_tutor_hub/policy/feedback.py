"""Feedback on answers: 👍/👎 (one rating per answer, the latest counts) and "still stuck".

Students rate only answers in their own conversations.  "Still stuck" is kept as an
event (instructors see how often an exercise leaves students stuck) and climbs the hint
ladder of the exercise the answer was about.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from ..db import one_row
from . import ladder


async def record_feedback(
    conn: AsyncConnection,
    *,
    user: str,
    conversation_id: uuid.UUID,
    message_id: int | None,
    vote: str,
    comment: str | None,
) -> dict[str, Any] | None:
    """Store the feedback; None when the conversation or answer is not the caller's."""
    async with conn.transaction():
        owner = await (
            await conn.execute(
                "SELECT course_id FROM conversations WHERE id = %s AND user_name = %s",
                (conversation_id, user),
            )
        ).fetchone()
        if owner is None:
            return None
        course = owner[0]
        answer = await (
            await conn.execute(
                "SELECT id FROM messages WHERE conversation_id = %s AND role = 'assistant'"
                " AND (%s::bigint IS NULL OR id = %s) ORDER BY id DESC LIMIT 1",
                (conversation_id, message_id, message_id),
            )
        ).fetchone()
        if answer is None:
            return None
        if vote == "stuck":
            statement = (
                "INSERT INTO feedback (user_name, course_id, conversation_id, message_id, vote,"
                " comment) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
            )
        else:
            statement = (
                "INSERT INTO feedback (user_name, course_id, conversation_id, message_id, vote,"
                " comment) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (message_id) WHERE vote IN ('up', 'down') DO UPDATE"
                " SET vote = EXCLUDED.vote, comment = coalesce(EXCLUDED.comment, feedback.comment),"
                " created_at = now() RETURNING id"
            )
        row = await (
            await conn.execute(statement, (user, course, conversation_id, answer[0], vote, comment))
        ).fetchone()
        level = None
        if vote == "stuck":
            question = await (
                await conn.execute(
                    "SELECT course_id, ladder_key FROM tutor_questions"
                    " WHERE conversation_id = %s AND ladder_key IS NOT NULL"
                    " ORDER BY id DESC LIMIT 1",
                    (conversation_id,),
                )
            ).fetchone()
            if question is not None:
                level = await ladder.still_stuck(conn, user, question[0], question[1])
    return {
        "id": one_row(row)[0],
        "conversation_id": str(conversation_id),
        "message_id": answer[0],
        "vote": vote,
        "hint_level": level,
    }
