"""Reading nbformat cells the same way on both sides of the trust boundary.

The gateway's policy (which cell's settings hold) and the orchestrator's context (which cell
the student is in) must agree on what "the cell the student is in" means, so the lookup lives
once, here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
#: nbgrader's hidden tests: from ``### BEGIN HIDDEN TESTS`` to its END marker (or to the
#: end of the cell, when the END marker is missing).
_HIDDEN_TESTS = re.compile(
    r"^([ \t]*)#+[ \t]*BEGIN HIDDEN TESTS\b.*?(?:^[ \t]*#+[ \t]*END HIDDEN TESTS\b[^\n]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
#: What stands where hidden tests were (a statement, so a block they were the body of
#: still parses).
HIDDEN_TESTS_LEFT_OUT = "pass  # [hidden tests left out]"


def joined(value: Any) -> str:
    """An nbformat multiline string (a list of lines, or one string) as one string."""
    return "".join(value) if isinstance(value, list) else str(value)


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string."""
    return joined(cell.get("source", ""))


#: Cell indexes both sides accept (they are stored in ``integer`` columns; no notebook has
#: a million cells): larger ones are refused with a 400 before anything is stored.
MAX_CELL_INDEX = 1_000_000


def cell_number(index: int) -> int:
    """The number people use for the cell at 0-based ``index``: cells count from 1.

    One convention everywhere a person (or the model, which talks to one) reads a cell's
    position: answers, source cards, the magics, validation messages, the dashboard. The
    APIs' ``cell`` and ``cell_index`` fields count from 0 (documented in docs/chat-api.md).
    """
    return index + 1


def cell_label(index: int | None) -> str:
    """``"cell N"`` for people (see :func:`cell_number`); empty when there is no cell."""
    return f"cell {cell_number(index)}" if index is not None else ""


def find_cell_index(
    cell_ids: Sequence[str | None], *, cell_id: str | None, cell_index: int | None
) -> int | None:
    """The index of the cell the student is in: by its nbformat id (which survives cells
    inserted above it), else by ``cell_index`` when that is in range."""
    if cell_id:
        for index, candidate in enumerate(cell_ids):
            if candidate == cell_id:
                return index
    if cell_index is not None and 0 <= cell_index < len(cell_ids):
        return cell_index
    return None


def last_heading(source: str) -> str | None:
    """The text of the last Markdown heading in ``source`` (a section starts there)."""
    heading = None
    for line in source.splitlines():
        match = _HEADING.match(line)
        if match:
            heading = match.group(1).strip()
    return heading


def without_hidden_tests(source: str) -> str:
    """``source`` with nbgrader's hidden test regions replaced by a short marker.

    Hidden tests are the instructor's: they never run on the student's side and the
    model never reads them, even when a student's copy of a notebook still holds them.
    """
    return _HIDDEN_TESTS.sub(lambda found: found.group(1) + HIDDEN_TESTS_LEFT_OUT, source)


def tutor_settings(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``tutor`` metadata of a cell or notebook (empty when missing or malformed)."""
    metadata = node.get("metadata")
    settings = metadata.get("tutor") if isinstance(metadata, Mapping) else None
    return settings if isinstance(settings, Mapping) else {}


def is_hidden_cell(cell: Mapping[str, Any]) -> bool:
    """Whether the instructor hid the cell from the tutor (``{"tutor": {"hidden": true}}``)."""
    return tutor_settings(cell).get("hidden") is True
