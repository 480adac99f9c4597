"""What the output guard compares answers with, read from the course's ingested material.

Protected chunks (graded solutions, tests, hidden cells) come from the course index
through ``course.search.aprotected_passages``; the published instructor notes are added
as prose (the tutor may use them, never quote them).  Student-visible chunks of the same
notebooks are returned too: the guard ignores what students can read anyway (the
exercise's statement and stub).
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from jupyter_tutor.notebooks import cell_label

from ..course.chunks import HEADING_SEPARATOR
from ..course.search import ProtectedPassage, aprotected_passages
from ..db import one_row
from .config import NotebookSettings
from .guard import ProtectedText

#: Changes whenever the course is re-ingested or its policy republished.
MATERIAL_VERSION = (
    "SELECT (SELECT count(*) || '/' || coalesce(max(ingested_at)::text, '')"
    "         FROM documents WHERE course_id = %(course)s),"
    "       (SELECT published_at::text FROM course_policies WHERE course_id = %(course)s)"
)

_VISIBLE = (
    "SELECT c.text FROM chunks c WHERE c.course_id = %(course)s AND c.visibility = 'student'"
    " AND c.document_id IN (SELECT document_id FROM chunks"
    "                       WHERE course_id = %(course)s AND visibility = 'protected')"
)


async def material_version(conn: AsyncConnection, course: str) -> tuple[str | None, ...]:
    """Changes whenever the course is re-ingested or its policy republished."""
    row = await (await conn.execute(MATERIAL_VERSION, {"course": course})).fetchone()
    return tuple(one_row(row))


def _label(passage: ProtectedPassage) -> str:
    """What the guard's explanation calls it: the exercise, else its section."""
    if passage.exercise:
        return passage.exercise
    if passage.heading:
        return passage.heading.split(HEADING_SEPARATOR)[-1]
    return ", ".join(filter(None, [passage.path, cell_label(passage.cell)]))


async def protected_material(
    pool: AsyncConnectionPool, course: str
) -> tuple[list[ProtectedText], list[str]]:
    """The course's protected texts, and the student-visible texts beside them."""
    passages = await aprotected_passages(pool, course)
    protected = [
        ProtectedText(_label(p), p.text, code="```" in p.text or p.reason.startswith("nbgrader"))
        for p in passages
    ]
    async with pool.connection() as conn:
        rows = await (await conn.execute(_VISIBLE, {"course": course})).fetchall()
        cur = await conn.execute(
            "SELECT settings FROM notebook_policies WHERE course_id = %s", (course,)
        )
        notebooks = [NotebookSettings.from_json(row[0]) for row in await cur.fetchall()]
    notes = {
        (notebook.path, note)
        for notebook in notebooks
        for note in notebook.notes + tuple(n for c in notebook.cells for n in c.notes)
    }
    protected += [
        ProtectedText(f"the instructor's notes ({path})", note, code=False) for path, note in notes
    ]
    return protected, [row[0] for row in rows]
