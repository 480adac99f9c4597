"""Finding an exercise and its visible tests in a student's notebook.

An exercise is a section of the notebook (from a Markdown heading to the next), named by
``{"tutor": {"exercise": …}}`` on one of its cells or else by its heading: the rule the
gateway applies to policies.  Its tests are nbgrader's autograder test cells (``grade``
without ``solution``) and cells marked ``{"tutor": {"test": true}}``.  What runs is
never the instructor's: cells the instructor hid are left out, and so are nbgrader's
hidden test regions (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``), which the
model never sees either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_tutor.notebooks import (
    HIDDEN_TESTS_LEFT_OUT,
    cell_label,
    cell_source,
    is_hidden_cell,
    last_heading,
    tutor_settings,
    without_hidden_tests,
)

from .base import ToolError

#: A student's cell that asks the tutor (``%tutor``, ``%%tutor``): not part of the code.
_TUTOR_MAGIC = re.compile(r"^\s*%%?tutor\b")
#: The panel sends at most this much of the active cell; longer code may be cut.
MAX_CONTEXT_CODE = 20_000


@dataclass(frozen=True)
class Step:
    """One cell to run: the student's code, or a visible test of the exercise."""

    cell: int
    source: str
    #: The test's name (nbgrader's ``grade_id``, else ``cell N``, from 1); None for code.
    test: str | None = None
    #: The cell belongs to the exercise's own section (its errors matter most).
    in_exercise: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "source": self.source, "test": self.test}


@dataclass(frozen=True)
class Exercise:
    """An exercise and the cells to run to check it, in notebook order."""

    name: str
    steps: tuple[Step, ...]

    @property
    def tests(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.test is not None)


def is_test_cell(cell: Mapping[str, Any]) -> bool:
    """nbgrader's autograder tests, or a cell the instructor marked as a visible test."""
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, Mapping) else None
    if isinstance(nbgrader, Mapping) and nbgrader.get("grade") and not nbgrader.get("solution"):
        return True
    return tutor_settings(cell).get("test") is True


def section_names(cells: list[Any]) -> list[str | None]:
    """The exercise (else heading) each cell belongs to, as the gateway's policy reads it."""
    names: list[str | None] = []
    heading: str | None = None
    exercise: str | None = None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            found = last_heading(cell_source(cell))
            if found:
                heading, exercise = found, None
        named = tutor_settings(cell).get("exercise")
        if isinstance(named, str) and named.strip():
            exercise = named.strip()
        names.append(exercise or heading)
    return names


def find_exercise(
    notebook: Mapping[str, Any],
    *,
    name: str | None = None,
    cell_index: int | None = None,
    current_code: str | None = None,
) -> Exercise:
    """The exercise called ``name``, else the one around ``cell_index``, else the only one
    with visible tests; ``current_code`` (the active cell as the student has it now)
    stands for the saved source of ``cell_index``.  A ToolError says what exists."""
    cells = list(notebook.get("cells", []))
    if tutor_settings(notebook).get("hidden") is True:
        raise ToolError("The instructor hid this notebook from the tutor.")
    names = section_names(cells)
    tested = [n for n, cell in zip(names, cells, strict=True) if n and is_test_cell(cell)]
    available = list(dict.fromkeys(tested))
    listing = (
        "Exercises with visible tests here: " + "; ".join(repr(n) for n in available) + "."
        if available
        else "This notebook has no visible tests (nbgrader test cells, or cells marked "
        '{"tutor": {"test": true}}).'
    )
    if name:
        wanted = [n for n in available if n.casefold() == name.strip().casefold()]
        if not wanted:
            raise ToolError(f"No exercise {name!r} with visible tests. {listing}")
        target = wanted[0]
    elif cell_index is not None and 0 <= cell_index < len(cells):
        target = names[cell_index] or ""
        if target not in available:
            where = f"the student's section ({target!r})" if target else "the student's cell"
            raise ToolError(f"{where} has no visible tests. {listing} Pass `exercise`.")
    elif len(available) == 1:
        target = available[0]
    else:
        raise ToolError(f"Which exercise? Pass `exercise`. {listing}")
    sources = [cell_source(cell) for cell in cells]
    if (
        current_code is not None
        and cell_index is not None
        and 0 <= cell_index < len(cells)
        and cells[cell_index].get("cell_type") == "code"
        and len(current_code) < MAX_CONTEXT_CODE
    ):
        sources[cell_index] = current_code
    last = max(i for i, cell in enumerate(cells) if names[i] == target and is_test_cell(cell))
    steps = []
    for index, cell in enumerate(cells[: last + 1]):
        if cell.get("cell_type") != "code" or is_hidden_cell(cell):
            continue
        source = without_hidden_tests(sources[index])
        if is_test_cell(cell):
            if names[index] != target or not _has_code(source):
                continue  # another exercise's tests, or only hidden ones
            nbgrader = cell.get("metadata", {}).get("nbgrader") or {}
            test = str(nbgrader.get("grade_id") or cell_label(index))
            steps.append(Step(index, source, test=test, in_exercise=True))
        elif not _TUTOR_MAGIC.match(source):
            steps.append(Step(index, source, in_exercise=names[index] == target))
    return Exercise(target, tuple(steps))


def _has_code(source: str) -> bool:
    lines = (line.strip() for line in source.replace(HIDDEN_TESTS_LEFT_OUT, "").splitlines())
    return any(line and not line.startswith("#") for line in lines)
