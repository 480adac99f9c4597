"""Notebooks: their cells as blocks, along the notebook's own heading structure.

Markdown cells give the headings (a cell with several headings becomes several blocks
with the same cell index); code cells keep their text outputs, trimmed, while images,
HTML, widget views and widget state are dropped.  Cells holding graded or hidden material
(nbgrader solution and test cells, ``tutor`` cell metadata ``hidden`` or ``solution``)
become protected blocks; a notebook whose own ``tutor`` metadata says ``hidden`` is
protected as a whole.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from jupyter_tutor.text import strip_ansi

if TYPE_CHECKING:
    import nbformat

from .chunks import Block, fenced
from .errors import UnreadableFile
from .markdown import HeadingPath, clean_markdown, first_title, split_sections

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_TEXT_MIMES = ("text/plain", "text/markdown")


def read_notebook(text: str) -> nbformat.NotebookNode:
    """Parse a notebook of any nbformat version into version 4, without validating it.

    Validation is skipped on purpose: Jupyter opens many notebooks that are not strictly
    valid, and the reader below only relies on what it checks itself.
    """
    # Imported here: nbformat brings jsonschema and its format checkers (seconds to
    # import), and the gateway imports this module for cell_policy, never reading notebooks.
    import nbformat
    from nbformat.reader import NotJSONError

    try:
        notebook = nbformat.reader.reads(text)
        notebook = nbformat.convert(notebook, 4)
    except NotJSONError as err:
        cause = err.__cause__
        where = (
            f" (line {cause.lineno}, column {cause.colno}: {cause.msg})"
            if isinstance(cause, json.JSONDecodeError)
            else ""
        )
        raise UnreadableFile(
            f"not valid notebook JSON{where}; the file may be truncated or hand-edited"
        ) from err
    except Exception as err:  # nbformat raises many kinds for malformed structures
        raise UnreadableFile(f"not a Jupyter notebook ({type(err).__name__}: {err})") from err
    if not isinstance(notebook.get("cells"), list):
        raise UnreadableFile("not a Jupyter notebook (it has no list of cells)")
    return notebook


def notebook_blocks(
    notebook: nbformat.NotebookNode,
    fallback_title: str,
    output_chars: int,
    protect: frozenset[int] = frozenset(),
) -> tuple[str, list[Block]]:
    """The notebook's title and its cells as blocks, in order.

    ``protect`` are indexes of further cells to store as protected: the policy layer's
    rules found a solution in them that their metadata does not protect.
    """
    cells = [cell if isinstance(cell, dict) else {} for cell in notebook["cells"]]
    metadata = _as_dict(notebook.get("metadata"))
    notebook_hidden = bool(_as_dict(metadata.get("tutor")).get("hidden"))
    language = _language(metadata)
    found = _notebook_title(cells)
    headings = HeadingPath(found or fallback_title, title_is_heading=found is not None)
    blocks: list[Block] = []
    for index, cell in enumerate(cells):
        reason, info = cell_policy(cell)
        reason = reason or ("hidden" if notebook_hidden else None)
        if reason is None and index in protect:
            reason = "unmarked-solution"
        source = _text(cell.get("source"))
        kind = cell.get("cell_type")
        if kind == "markdown" and not reason:
            for section in split_sections(source):
                if section.level is not None:
                    headings.enter(section.level, section.title or "")
                blocks.append(
                    Block(
                        clean_markdown(section.text),
                        headings.path,
                        "markdown",
                        index,
                        starts_section=section.level is not None,
                        metadata=info,
                    )
                )
        elif kind in ("markdown", "raw"):
            text = clean_markdown(source) if kind == "markdown" else source
            blocks.append(Block(text, headings.path, kind, index, False, reason, info))
        elif kind == "code":
            text = _code_text(source, cell.get("outputs"), language, output_chars)
            blocks.append(Block(text, headings.path, "code", index, False, reason, info))
    return headings.title, blocks


def notebook_metadata(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """What the policy layer needs from the notebook's own metadata (its ``tutor`` key)."""
    tutor = _as_dict(_as_dict(notebook.get("metadata")).get("tutor"))
    return {"tutor": tutor} if tutor else {}


def cell_policy(cell: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Why a cell is protected (or None), and the cell's facts the policy layer needs."""
    metadata = _as_dict(cell.get("metadata"))
    nbgrader = _as_dict(metadata.get("nbgrader"))
    tutor = _as_dict(metadata.get("tutor"))
    if nbgrader.get("solution"):
        reason = "nbgrader-solution"
    elif nbgrader.get("grade"):
        reason = "nbgrader-grade"
    elif tutor.get("solution"):
        reason = "reference-solution"
    elif tutor.get("hidden"):
        reason = "hidden"
    else:
        reason = None
    info: dict[str, Any] = {}
    if isinstance(cell.get("id"), str):
        info["cell_id"] = cell["id"]
    exercise = nbgrader.get("grade_id") or tutor.get("exercise")
    if exercise:
        info["exercise"] = str(exercise)
    notes = tutor.get("notes")
    if notes:
        info["tutor_notes"] = [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]
    return reason, info


def _notebook_title(cells: list[dict[str, Any]]) -> str | None:
    for cell in cells:
        if cell.get("cell_type") == "markdown" and not cell_policy(cell)[0]:
            title = first_title(_text(cell.get("source")))
            if title:
                return title
    return None


def _code_text(source: str, outputs: Any, language: str, output_chars: int) -> str:
    parts = [fenced(source, language)] if source.strip() else []
    shown = _trim("\n".join(_output_texts(outputs)).strip(), output_chars)
    if shown:
        parts.append("Output:\n" + fenced(shown))
    return "\n".join(parts)


def _output_texts(outputs: Any) -> list[str]:
    texts = []
    for output in outputs if isinstance(outputs, list) else []:
        output = _as_dict(output)
        kind = output.get("output_type")
        if kind == "stream":
            texts.append(_text(output.get("text")))
        elif kind == "error":
            texts.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
        elif kind in ("execute_result", "display_data"):
            data = _as_dict(output.get("data"))
            if _WIDGET_VIEW in data:
                continue
            has_image = any(str(mime).startswith("image/") for mime in data)
            for mime in _TEXT_MIMES:
                text = _text(data.get(mime)).strip()
                # "<Figure size 640x480 with 1 Axes>" says nothing once the image is gone
                if text and not (has_image and text.startswith("<") and text.endswith(">")):
                    texts.append(text)
                    break
    return [strip_ansi(text).rstrip() for text in texts if text.strip()]


def _trim(text: str, limit: int) -> str:
    """Head and tail of a long output: the end of a log often holds what matters."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3].rstrip()
    tail = text[-(limit // 3) :].lstrip()
    return f"{head}\n[… {len(text) - len(head) - len(tail)} characters trimmed …]\n{tail}"


def _language(metadata: dict[str, Any]) -> str:
    name = _as_dict(metadata.get("language_info")).get("name") or _as_dict(
        metadata.get("kernelspec")
    ).get("language")
    return name if isinstance(name, str) and name.isidentifier() else "python"


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""
