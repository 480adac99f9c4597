"""The hint ladder: a nudge, then a hint, then a worked example on a different problem.

Each (student, course, exercise) has its own ladder, stored in PostgreSQL so it survives
restarts and holds across the gateway's replicas.  It climbs one rung each time the
student asks again about the same exercise, never by itself.  "Still stuck" on an answer
counts as asking again: it climbs one rung at once, and the next question then uses that
rung instead of climbing a second time.
"""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

from ..db import one_row

#: The rungs, from the least to the most help; levels are 1-based indexes into this.
RUNGS = ("nudge", "hint", "worked example")
TOP = len(RUNGS)


def ladder_key(
    notebook_path: str | None,
    exercise: str | None,
    cell_index: int | None,
    conversation_id: uuid.UUID | None,
) -> str | None:
    """What one ladder is about: the exercise, else the cell, else the conversation.

    None for the first question of a new conversation outside any course notebook (it has
    no ladder yet: it starts at the first rung).
    """
    if notebook_path and exercise:
        return f"{notebook_path}#{exercise}"
    if notebook_path and cell_index is not None:
        return f"{notebook_path}#cell-{cell_index}"
    if conversation_id is not None:
        return f"conversation:{conversation_id}"
    return None


async def next_level(
    conn: AsyncConnection, user: str, course: str, key: str | None, *, climb: bool = True
) -> int:
    """The rung of the answer about ``key`` now being given (read only: :func:`record`
    stores it).  ``climb`` is False for the tool rounds of one answer: same rung."""
    if key is None:
        return 1
    row = await (
        await conn.execute(
            "SELECT level, pending FROM hint_ladder"
            " WHERE user_name = %s AND course_id = %s AND exercise_key = %s",
            (user, course, key),
        )
    ).fetchone()
    if row is None:
        return 1
    level, pending = row
    return level if pending or not climb else min(level + 1, TOP)


async def record(conn: AsyncConnection, user: str, course: str, key: str, level: int) -> None:
    """Remember that an answer about ``key`` was given on rung ``level``."""
    await conn.execute(
        "INSERT INTO hint_ladder (user_name, course_id, exercise_key, level)"
        " VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (user_name, course_id, exercise_key) DO UPDATE"
        " SET level = GREATEST(hint_ladder.level, EXCLUDED.level), pending = false,"
        " updated_at = now()",
        (user, course, key, level),
    )


async def still_stuck(conn: AsyncConnection, user: str, course: str, key: str) -> int:
    """Climb one rung now, once until the next answer; return the rung of that answer."""
    row = await (
        await conn.execute(
            "INSERT INTO hint_ladder (user_name, course_id, exercise_key, level, pending)"
            " VALUES (%s, %s, %s, 2, true)"
            " ON CONFLICT (user_name, course_id, exercise_key) DO UPDATE SET"
            " level = CASE WHEN hint_ladder.pending THEN hint_ladder.level"
            f" ELSE LEAST(hint_ladder.level + 1, {TOP}) END,"
            " pending = true, updated_at = now() RETURNING level",
            (user, course, key),
        )
    ).fetchone()
    return one_row(row)[0]
