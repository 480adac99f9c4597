"""What the model is told about where the student is: the notebook context of a question.

The client says which notebook and cell; the orchestrator reads the notebook itself and
adds the cell's source, its error (without colour codes) and the cells around it, each
with a share of the token budget weighted by how much it matters.  The result goes to the
gateway as the caller's system notes, which the gateway ranks below the tutor's own rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jupyter_tutor.notebooks import (
    cell_label,
    cell_source,
    find_cell_index,
    without_hidden_tests,
)
from jupyter_tutor.text import strip_ansi

from .chat_request import QuestionContext
from .notebook import NotebookUnavailable, cell_errors, clip, describe_cell, load_notebook

#: A rough characters-per-token ratio for English and code; budgets are estimates.
CHARS_PER_TOKEN = 4


#: A section cut to less than this is left out: a few words of a cell help nobody.
MIN_SECTION_CHARS = 80


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    #: Which end of the text to keep when it must be cut: ``head``, ``tail`` or ``both``.
    keep: str = "both"
    #: Its claim on the budget relative to the others when not everything fits.
    weight: int = 1


@dataclass(frozen=True)
class NotebookContext:
    """The context of one question: text for the model, and where the student is."""

    notes: str
    notebook_path: str | None
    cell_index: int | None
    cell_id: str | None = None
    has_code: bool = False
    #: The exception's name, when the question comes with an error (sent or found).
    error_type: str | None = None
    #: The course the student picked for this notebook, and the one its folder names.
    course: str | None = None
    course_marker: str | None = None

    def course_header(self) -> dict[str, Any]:
        """What ``X-Tutor-Context`` says of the course (also sent with course searches)."""
        return {"course": self.course, "course_marker": self.course_marker}

    def header(self, kind: str) -> dict[str, Any]:
        """The ``X-Tutor-Context`` the gateway reads (it applies the course's policy)."""
        return self.course_header() | {
            "notebook_path": self.notebook_path,
            "cell_index": self.cell_index,
            "cell_id": self.cell_id,
            "kind": kind,
            "has_code": self.has_code,
            "has_error": self.error_type is not None,
            "error_type": self.error_type,
        }


async def build_context(
    contents_manager: Any,
    context: QuestionContext,
    notebook_path: str | None,
    *,
    token_budget: int,
    nearby_cells: int,
    course_marker: str | None = None,
) -> NotebookContext:
    """Gather the question's context and trim it to ``token_budget`` tokens.

    ``notebook_path`` is ``context.notebook_path`` already made relative to the root.
    Order of importance: the error asked about, the code asked about, the active cell
    with its error output, then neighbouring cells, nearest first.
    """
    sections: list[Section] = []
    error_type = context.error.ename if context.error else None
    has_code = bool(context.code and context.code.strip())
    cell_id = context.cell_id
    if context.error:
        tb = strip_ansi("\n".join(context.error.traceback))
        head = f"{context.error.ename}: {strip_ansi(context.error.evalue)}"
        sections.append(
            Section("The error the student asks about", f"{head}\n{tb}", "tail", weight=3)
        )
    if context.code:
        code = without_hidden_tests(context.code)
        sections.append(Section("The code the student asks about", code, weight=3))
    cell_index = context.cell_index
    if notebook_path:
        try:
            notebook = await load_notebook(contents_manager, notebook_path)
        except NotebookUnavailable as err:
            sections.append(Section("Notebook", str(err)))
        else:
            cells = notebook.get("cells", [])
            cell_index = find_cell_index(
                [cell.get("id") for cell in cells],
                cell_id=context.cell_id,
                cell_index=context.cell_index,
            )
            sections.extend(_cell_sections(cells, cell_index, nearby_cells))
            if cell_index is not None:
                cell = cells[cell_index]
                cell_id = cell.get("id") or cell_id
                has_code = has_code or bool(cell_source(cell).strip())
                errors = cell_errors(cell)
                error_type = error_type or (errors[-1].ename if errors else None)
    where = _where(notebook_path, cell_index)
    return NotebookContext(
        notes=_fit(where, sections, token_budget * CHARS_PER_TOKEN),
        notebook_path=notebook_path,
        cell_index=cell_index,
        cell_id=cell_id,
        has_code=has_code,
        error_type=error_type or None,
        course=context.course,
        course_marker=course_marker,
    )


def _cell_sections(cells: list[Any], active: int | None, nearby: int) -> list[Section]:
    if active is None:
        return []
    unlimited = 1 << 30
    sections = [
        Section("The active cell", describe_cell(active, cells[active], unlimited), weight=2)
    ]
    for distance in range(1, nearby + 1):
        for index in (active - distance, active + distance):
            if 0 <= index < len(cells):
                where = "above" if index < active else "below"
                sections.append(
                    Section(
                        f"A cell {where} it",
                        describe_cell(index, cells[index], unlimited),
                    )
                )
    return sections


def _where(notebook_path: str | None, cell_index: int | None) -> str:
    if not notebook_path:
        return "The student asks from Jupyter, outside any notebook."
    if cell_index is None:
        return f"The student is working in the notebook {notebook_path}."
    return f"The student is working in the notebook {notebook_path}, at {cell_label(cell_index)}."


def _fit(header: str, sections: list[Section], budget_chars: int) -> str:
    """``header`` and the sections, each cut to its share of the budget.

    Sections that fit in their share are kept whole and what they leave is shared again
    among the others by weight (so a long traceback cannot crowd out the cell it comes
    from); a section cut at the end that matters least, or left out if its share is tiny.
    """
    titles = [f"\n\n## {s.title}\n" for s in sections]
    room = max(0, budget_chars - len(header) - sum(map(len, titles)))
    sizes = _shares([len(s.text) for s in sections], [s.weight for s in sections], room)
    parts = [header]
    for section, title, size in zip(sections, titles, sizes, strict=True):
        if size >= len(section.text) or size >= MIN_SECTION_CHARS:
            parts.append(title + clip(section.text, size, keep=section.keep))
    return "".join(parts)


def _shares(lengths: list[int], weights: list[int], room: int) -> list[int]:
    """Weighted max-min fair shares of ``room`` for items of ``lengths``."""
    sizes = [0] * len(lengths)
    pending = list(range(len(lengths)))
    while pending:
        total = sum(weights[i] for i in pending)
        fits = [i for i in pending if lengths[i] <= room * weights[i] // total]
        if not fits:
            for i in pending:
                sizes[i] = room * weights[i] // total
            break
        for i in fits:
            sizes[i] = lengths[i]
            room -= lengths[i]
            pending.remove(i)
    return sizes
