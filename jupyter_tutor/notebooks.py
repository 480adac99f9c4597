"""Reading nbformat cells the same way on both sides of the trust boundary.

The gateway's policy (which cell's settings hold) and the orchestrator's context (which cell
the student is in) must agree on what "the cell the student is in" means, so the lookup lives
once, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def joined(value: Any) -> str:
    """An nbformat multiline string (a list of lines, or one string) as one string."""
    return "".join(value) if isinstance(value, list) else str(value)


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string."""
    return joined(cell.get("source", ""))


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
