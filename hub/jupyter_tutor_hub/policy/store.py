"""A course's published policy: a snapshot in PostgreSQL that the gateway reads.

Publishing (``jupyter-tutor course publish``) replaces a course's snapshot in one
transaction.  The gateway reads it per request, so a republished course applies from the
next question on, and no policy ever comes from what a student's server sends.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from .config import CourseConfig, CourseFolder, NotebookSettings


class PolicyError(Exception):
    """The course folder has errors; nothing was published."""


def publish(conn: psycopg.Connection, course: CourseFolder, course_id: str = "") -> str:
    """Store ``course``'s settings as the policy of ``course_id`` (default: its name).

    Returns the course id.  Refuses (``PolicyError``) when the folder has errors: a
    half-valid policy could silently be laxer than the instructor meant.
    """
    if course.errors:
        listed = "\n".join(f"  {p}" for p in course.errors)
        raise PolicyError(
            f"{len(course.errors)} error(s) in {course.root}; fix them and publish again:\n"
            + listed
        )
    course_id = course_id or course.config.name
    config = replace(course.config, name=course_id)
    with conn.transaction():
        conn.execute(
            "INSERT INTO course_policies (course_id, config, source_path) VALUES (%s, %s, %s)"
            " ON CONFLICT (course_id) DO UPDATE SET config = EXCLUDED.config,"
            " source_path = EXCLUDED.source_path, published_at = now()",
            (course_id, Jsonb(config.to_json()), str(course.root.resolve())),
        )
        conn.execute("DELETE FROM notebook_policies WHERE course_id = %s", (course_id,))
        for notebook in course.notebooks:
            conn.execute(
                "INSERT INTO notebook_policies (course_id, path, settings) VALUES (%s, %s, %s)",
                (course_id, notebook.path, Jsonb(notebook.to_json())),
            )
    return course_id


async def load_course_config(conn: AsyncConnection, course_id: str) -> CourseConfig | None:
    """The published ``tutor.yaml`` of a course, or None if it was never published."""
    row = await (
        await conn.execute("SELECT config FROM course_policies WHERE course_id = %s", (course_id,))
    ).fetchone()
    return CourseConfig.from_json(row[0]) if row else None


async def load_notebook(
    conn: AsyncConnection, course_id: str, student_path: str | None
) -> NotebookSettings | None:
    """The course notebook a student's notebook is a copy of, matched by path suffix.

    Students work on copies (``~/intro-python/week1/loops.ipynb`` for the course's
    ``week1/loops.ipynb``), so the longest course path that ends the student's path wins.
    """
    if not student_path:
        return None
    path = "/" + student_path.strip().lstrip("/")
    row = await (
        await conn.execute(
            "SELECT settings FROM notebook_policies WHERE course_id = %s"
            " AND right(%s, length(path) + 1) = '/' || path"
            " ORDER BY length(path) DESC LIMIT 1",
            (course_id, path),
        )
    ).fetchone()
    return NotebookSettings.from_json(row[0]) if row else None


async def published_courses(conn: AsyncConnection) -> list[CourseConfig]:
    """Every published course, by id."""
    cur = await conn.execute("SELECT config FROM course_policies ORDER BY course_id")
    return [CourseConfig.from_json(row[0]) for row in await cur.fetchall()]
