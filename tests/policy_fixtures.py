"""Shared by the policy, guard and dashboard tests: a course folder, publishing it,
protected material in the course index, and a term of seeded activity.

(No tests here; the other modules import these helpers.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import nbformat
import psycopg
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from psycopg.types.json import Jsonb

from jupyter_tutor_hub.policy.config import read_course
from jupyter_tutor_hub.policy.store import publish

SOLUTION = '''def count_vowels(text):
    """Count the vowels in text."""
    ### BEGIN SOLUTION
    total = 0
    for ch in text.lower():
        if ch in "aeiou":
            total += 1
    return total
    ### END SOLUTION
'''
STUB = "def count_vowels(text):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
NOTE = "Students who loop over indexes get lost: steer them towards looping over characters."


def write_course(
    folder: Path,
    *,
    name: str = "policy-test",
    policy: str = "hints-only",
    read_conversations: bool = False,
    avoid: tuple[str, ...] = ("list comprehensions",),
) -> Path:
    """A course folder: tutor.yaml, a notebook of exercises and an exam notebook.

    week1/loops.ipynb cells: 0 title, 1 example, 2 "Exercise 1" (hints-only, objectives,
    a note), 3 the student's stub, 4 the nbgrader solution, 5 "Exercise 2" (no-help),
    6 its stub, 7 "Reading" (explain), 8 a reading cell.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"name: {name}",
        "title: Policy test course",
        "language: English",
        "persona: A calm teaching assistant who likes cooking metaphors.",
        f"policy: {policy}",
        f"privacy: {{instructors_read_conversations: {str(read_conversations).lower()}}}",
        "instructors: {groups: [instructors]}",
        "avoid: [" + ", ".join(avoid) + "]",
    ]
    (folder / "tutor.yaml").write_text("\n".join(lines) + "\n")
    week1 = new_notebook()
    week1.metadata["tutor"] = {"objectives": ["write for loops"]}
    week1.cells = [
        new_markdown_cell("# Loops"),
        new_code_cell("for word in ['a', 'b']:\n    print(word)"),
        new_markdown_cell(
            "## Exercise 1: count vowels",
            metadata={
                "tutor": {
                    "exercise": "Exercise 1",
                    "objectives": ["loop over the characters of a string"],
                    "notes": NOTE,
                }
            },
        ),
        new_code_cell(STUB),
        new_code_cell(
            SOLUTION,
            metadata={"nbgrader": {"solution": True, "grade_id": "count_vowels", "grade": False}},
        ),
        new_markdown_cell("## Exercise 2: graded", metadata={"tutor": {"policy": "no-help"}}),
        new_code_cell("# your answer"),
        new_markdown_cell("## Reading", metadata={"tutor": {"policy": "explain"}}),
        new_code_cell("print('read me')"),
    ]
    (folder / "week1").mkdir(exist_ok=True)
    nbformat.write(week1, folder / "week1" / "loops.ipynb")
    exam = new_notebook()
    exam.metadata["tutor"] = {"policy": "no-help"}
    exam.cells = [new_markdown_cell("# Exam"), new_code_cell("# answer here")]
    nbformat.write(exam, folder / "exam.ipynb")
    return folder


def publish_course(url: str, folder: Path, course_id: str = "") -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return publish(conn, read_course(folder), course_id)


def cell_id(folder: Path, path: str, index: int) -> str:
    return nbformat.read(folder / path, as_version=4).cells[index]["id"]


def insert_material(
    url: str,
    course: str,
    path: str,
    protected: list[tuple[int, str, str | None]],
    visible: list[tuple[int, str]] = (),
) -> None:
    """Chunks as ingest stores them: ``protected`` = (cell, text, exercise)."""

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO courses (id, title) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (course, course),
        )
        document = conn.execute(
            "INSERT INTO documents (course_id, path, kind, content_hash) VALUES"
            " (%s, %s, 'notebook', %s) ON CONFLICT (course_id, path) DO UPDATE"
            " SET ingested_at = now() RETURNING id",
            (course, path, digest(path + str(uuid.uuid4()))),
        ).fetchone()[0]
        rows = [
            (cell, f"```python\n{text}\n```", "protected", "code", exercise)
            for cell, text, exercise in protected
        ] + [(cell, text, "student", "markdown", None) for cell, text in visible]
        for ordinal, (cell, text, visibility, kind, exercise) in enumerate(rows):
            metadata = {"exercise": exercise} if exercise else {}
            if visibility == "protected":
                metadata["protected_reason"] = "nbgrader-solution"
            conn.execute(
                "INSERT INTO chunks (document_id, course_id, ordinal, cell_index, cell_end,"
                " heading, kind, text, content_hash, visibility, metadata)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    document,
                    course,
                    ordinal,
                    cell,
                    cell,
                    "Loops",
                    kind,
                    text,
                    digest(text),
                    visibility,
                    Jsonb(metadata),
                ),
            )


def seed_activity(url: str, course: str, days: int = 10) -> None:
    """A fortnight of a small class: questions, errors, tokens, votes, comments.

    student1 asks a lot and hits the same NameError on Exercise 1 again and again;
    student2 asks a few questions; student3 never uses the tutor.
    """
    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    errors = ["NameError", "NameError", "TypeError", None, "IndexError", None]
    with psycopg.connect(url, autocommit=True) as conn:
        for user, per_day in (("student1", 3), ("student2", 1)):
            conversation = uuid.uuid4()
            conn.execute(  # consent as the course, published before, told the students
                "INSERT INTO conversations (id, user_name, course_id, title, notebook_path,"
                " created_at, updated_at, instructors_may_read) VALUES (%s, %s, %s, %s, %s,"
                " %s, %s, coalesce((SELECT (config->>'instructors_read_conversations')::boolean"
                " FROM course_policies WHERE course_id = %s), false))",
                (
                    conversation,
                    user,
                    course,
                    f"Why does my loop fail? ({user})",
                    "week1/loops.ipynb",
                    today - dt.timedelta(days=days),
                    today,
                    course,
                ),
            )
            for day in range(days):
                when = today - dt.timedelta(days=day, hours=1)
                for n in range(per_day if day % 3 else per_day + 1):
                    error = errors[(day + n) % len(errors)] if user == "student1" else None
                    exercise, cell = ("Exercise 1", 3) if n % 2 == 0 else ("Loops", 1)
                    message = conn.execute(
                        "INSERT INTO messages (conversation_id, role, content, status, model,"
                        " created_at) VALUES (%s, 'assistant', %s, 'complete',"
                        " 'claude-sonnet-4-6', %s) RETURNING id",
                        (
                            conversation,
                            Jsonb([{"type": "text", "text": "Look at the loop variable."}]),
                            when,
                        ),
                    ).fetchone()[0]
                    conn.execute(
                        "INSERT INTO tutor_questions (course_id, user_name, conversation_id,"
                        " notebook_path, cell_index, exercise, policy, kind, hint_level,"
                        " error_type, guarded, created_at) VALUES"
                        " (%s, %s, %s, 'week1/loops.ipynb', %s, %s, 'hints-only', %s, 1, %s,"
                        " %s, %s)",
                        (
                            course,
                            user,
                            conversation,
                            cell,
                            exercise,
                            "explain" if error else "question",
                            error,
                            day == 2 and n == 0,
                            when,
                        ),
                    )
                    conn.execute(
                        "INSERT INTO usage (user_name, conversation_id, message_id, model,"
                        " input_tokens, output_tokens, cost_usd, created_at)"
                        " VALUES (%s, %s, %s, 'claude-sonnet-4-6', %s, %s, %s, %s)",
                        (user, conversation, message, 1200, 300, 0.0081, when),
                    )
                    vote = ("up", "down", "stuck", None)[(day + n) % 4]
                    if vote:
                        conn.execute(
                            "INSERT INTO feedback (user_name, course_id, conversation_id,"
                            " message_id, vote, comment, created_at)"
                            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                            (
                                user,
                                course,
                                conversation,
                                message,
                                vote,
                                "The hint about the loop helped." if day == 4 and n == 0 else None,
                                when + dt.timedelta(minutes=5),
                            ),
                        )
