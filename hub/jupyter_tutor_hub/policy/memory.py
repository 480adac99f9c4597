"""The output guard's memory of what each student was already shown of a protected text.

Invariant: every run of a protected text an answer reproduced (and the student had not
written themselves) is stored before the turn is reported finished, so the student's
next question, in this conversation or another, is judged with it.  Only runs newer
than the guard's window are read back.
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


async def revealed(
    conn: AsyncConnection, user: str, course: str, hours: float
) -> dict[str, set[str]]:
    """Runs shown to ``user`` within the last ``hours``, by protected text's key."""
    if hours <= 0:
        return {}
    cursor = await conn.execute(
        "SELECT fingerprint, gram FROM guard_reveals WHERE user_name = %s"
        " AND course_id = %s AND revealed_at > now() - make_interval(secs => %s)",
        (user, course, hours * 3600),
    )
    found: dict[str, set[str]] = {}
    for fingerprint, gram in await cursor.fetchall():
        found.setdefault(fingerprint, set()).add(gram)
    return found


async def remember(
    pool: AsyncConnectionPool, user: str, course: str, reveals: Mapping[str, set[str]]
) -> None:
    """Store (or refresh the time of) the runs one answer showed."""
    rows = [(user, course, key, gram) for key, grams in reveals.items() for gram in grams]
    if not rows:
        return
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO guard_reveals (user_name, course_id, fingerprint, gram)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (user_name, course_id, fingerprint, gram)"
            " DO UPDATE SET revealed_at = now()",
            rows,
        )
