"""Which policy holds where the student is: course, then notebook, then cell settings.

The student's server reports where the student is (notebook, cell, whether code or an
error came with the question); that report only *selects* among the policies the
instructor published: no policy text ever comes from it.  A student could misreport
their position, so a course-level ``no-help`` (exam mode) cannot be loosened by any
notebook or cell, and the output guard checks every protected cell of the course
whatever the reported position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jupyter_tutor.notebooks import MAX_CELL_INDEX, find_cell_index

from .config import CellSettings, CourseConfig, NotebookSettings

#: Cell indexes are stored as PostgreSQL ``integer``; no notebook comes near this.


@dataclass(frozen=True)
class TurnContext:
    """Where the student is, as the orchestrator reports it (informative, not trusted)."""

    notebook_path: str | None = None
    cell_index: int | None = None
    kind: str = "question"

    @classmethod
    def from_header(cls, value: dict[str, Any]) -> TurnContext:
        """From the context header; raises ``ValueError`` on a cell index out of range (it
        is stored in an ``integer`` column)."""
        cell = value.get("cell_index")
        if isinstance(cell, int) and not 0 <= cell < MAX_CELL_INDEX:
            raise ValueError(f"cell_index must be between 0 and {MAX_CELL_INDEX - 1}.")
        return cls(
            notebook_path=str(value["notebook_path"])[:1024]
            if value.get("notebook_path")
            else None,
            cell_index=cell if isinstance(cell, int) and not isinstance(cell, bool) else None,
            kind=str(value.get("kind") or "question")[:32],
        )



_ERROR_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")


@dataclass(frozen=True)
class Situation:
    """The student's position and what came with the question (``X-Tutor-Context``)."""

    turn: TurnContext
    cell_id: str | None = None
    #: Whether the client sent code / an error with the question; None: not reported.
    has_code: bool | None = None
    has_error: bool | None = None
    #: The exception's name (``NameError``), if the client reported an error.
    error_type: str | None = None

    @classmethod
    def from_header(cls, data: dict[str, Any]) -> Situation:
        error = data.get("error")
        error_type = data.get("error_type")
        if isinstance(error, dict):
            error_type = error.get("ename") or error_type
        if not (isinstance(error_type, str) and _ERROR_TYPE.match(error_type)):
            error_type = None
        has_error = data.get("has_error")
        if not isinstance(has_error, bool):
            has_error = True if error_type else None  # not reported
        has_code = data.get("has_code")
        cell_id = data.get("cell_id")
        return cls(
            turn=TurnContext.from_header(data),
            cell_id=cell_id[:128] if isinstance(cell_id, str) and cell_id else None,
            has_code=has_code if isinstance(has_code, bool) else None,
            has_error=has_error,
            error_type=error_type,
        )

    @property
    def reports_nothing_to_look_at(self) -> bool:
        """The client says it sent neither code nor an error (not: it did not say)."""
        return self.has_code is False and self.has_error is False


@dataclass(frozen=True)
class Policy:
    """The policy in force for one question, with what the tutor may use to apply it."""

    course: CourseConfig
    #: ``explain``, ``hints-only`` or ``no-help``.
    name: str
    #: Course-relative notebook path, when the student's notebook belongs to the course.
    notebook_path: str | None = None
    cell_index: int | None = None
    exercise: str | None = None
    objectives: tuple[str, ...] = ()
    #: Instructor notes: for the tutor's eyes only, never to be quoted.
    notes: tuple[str, ...] = ()
    #: Words and concepts not to mention yet (course and notebook lists).
    avoid: tuple[str, ...] = ()


def find_cell(notebook: NotebookSettings, situation: Situation) -> CellSettings | None:
    """The course cell the student is in (the lookup the orchestrator uses too)."""
    index = find_cell_index(
        [cell.id for cell in notebook.cells],
        cell_id=situation.cell_id,
        cell_index=situation.turn.cell_index,
    )
    return None if index is None else notebook.cells[index]


def resolve(
    course: CourseConfig, notebook: NotebookSettings | None, situation: Situation
) -> Policy:
    """The policy where the student is: cell, else notebook, else course setting."""
    if notebook is None:
        return Policy(course=course, name=course.policy, avoid=course.avoid)
    cell = find_cell(notebook, situation)
    name = (cell.policy if cell else None) or notebook.policy or course.policy
    if course.policy == "no-help":
        name = "no-help"
    return Policy(
        course=course,
        name=name,
        notebook_path=notebook.path,
        cell_index=cell.index if cell else None,
        exercise=cell.exercise if cell else None,
        objectives=notebook.objectives + (cell.objectives if cell else ()),
        notes=notebook.notes + (cell.notes if cell else ()),
        avoid=course.avoid + tuple(a for a in notebook.avoid if a not in course.avoid),
    )
