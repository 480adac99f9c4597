"""Reading the student's notebooks through Jupyter's contents manager, as text for the model.

The contents manager (not the file system) is the source: it applies the server's root,
hidden-file and permission rules, and works with any storage backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from jupyter_core.utils import ensure_async
from tornado.web import HTTPError

from jupyter_tutor.notebooks import (
    cell_label,
    cell_source,
    is_hidden_cell,
    joined,
    without_hidden_tests,
)
from jupyter_tutor.text import strip_ansi

from .errors import ToolError


class NotebookUnavailable(ToolError):
    """The notebook cannot be read; the message says why, for the student or the model."""


def clip(text: str, limit: int, keep: str = "head") -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out.

    ``keep`` is ``head``, ``tail`` (tracebacks: the last lines matter most) or ``both``.
    """
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = len(text) - limit
    marker = f"\n[… {cut} characters left out …]\n"
    if keep == "tail":
        return marker.lstrip("\n") + text[-limit:]
    if keep == "both":
        half = limit // 2
        return text[:half] + marker + text[-(limit - half) :]
    return text[:limit] + marker.rstrip("\n")


def api_path(path: str, root_dir: str) -> str:
    """``path`` relative to the server root, in the contents manager's ``/`` form.

    Kernels know their notebook by absolute path (``JPY_SESSION_NAME``); clients send it
    relative.  An absolute path outside the root is refused.
    """
    if os.path.isabs(path):
        root = os.path.realpath(root_dir)
        full = os.path.realpath(path)
        if os.path.commonpath([root, full]) != root:
            raise NotebookUnavailable(f"{path} is outside this Jupyter server's folder.")
        path = os.path.relpath(full, root)
    return path.replace(os.sep, "/").strip("/")


async def load_notebook(contents_manager: Any, path: str) -> Any:
    """The notebook at ``path`` (an nbformat node), or :class:`NotebookUnavailable`."""
    try:
        model = await ensure_async(contents_manager.get(path, content=True, type="notebook"))
    except HTTPError as err:
        reason = "it does not exist" if err.status_code == 404 else (err.log_message or "refused")
        raise NotebookUnavailable(f"The notebook {path!r} could not be read: {reason}.") from err
    except Exception as err:
        raise NotebookUnavailable(f"The notebook {path!r} could not be read: {err}.") from err
    return model["content"]


@dataclass(frozen=True)
class ErrorOutput:
    """An error output: exception name, message and traceback (no colour codes)."""

    ename: str
    evalue: str
    traceback: str

    def describe(self, limit: int) -> str:
        head = f"{self.ename}: {self.evalue}"
        return head + ("\n" + clip(self.traceback, limit, keep="tail") if self.traceback else "")


def cell_errors(cell: Any) -> list[ErrorOutput]:
    return [
        ErrorOutput(
            str(out.get("ename", "")),
            str(out.get("evalue", "")),
            strip_ansi("\n".join(out.get("traceback") or [])),
        )
        for out in cell.get("outputs") or []
        if out.get("output_type") == "error"
    ]


def output_text(output: Any) -> str:
    """The text of one output (images and HTML are named, not included)."""
    kind = output.get("output_type")
    if kind == "stream":
        return strip_ansi(joined(output.get("text", "")))
    if kind == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    data = output.get("data") or {}
    if "text/plain" in data:
        return strip_ansi(joined(data["text/plain"]))
    return "[" + ", ".join(sorted(data)) + " output]" if data else ""


def describe_cell(index: int, cell: Any, limit: int) -> str:
    """One cell as the model reads it: a header line, the source, then its outputs.

    A cell the instructor hid shows as hidden, and hidden tests are left out, even when
    the student's copy holds them.
    """
    kind = cell.get("cell_type", "code")
    if is_hidden_cell(cell):
        return f"[{cell_label(index)}, {kind}: hidden by the instructor]"
    count = cell.get("execution_count")
    header = f"[{cell_label(index)}, {kind}" + (f", run #{count}" if count else "") + "]"
    source = without_hidden_tests(cell_source(cell))
    # A cell that ran hidden tests may show them in a traceback: its outputs stay out.
    shown = (cell.get("outputs") or []) if source == cell_source(cell) else []
    outputs = "\n".join(filter(None, (output_text(o) for o in shown)))
    body = clip(source, limit if not outputs else limit * 2 // 3, keep="both")
    if outputs:
        body += "\n[output]\n" + clip(outputs, max(0, limit - len(body)), keep="both")
    return f"{header}\n{body}"


def last_error(cells: list[Any]) -> tuple[int, ErrorOutput] | None:
    """The error of the most recently run cell that has one (by execution count)."""
    best: tuple[int, int, ErrorOutput] | None = None
    for index, cell in enumerate(cells):
        errors = cell_errors(cell)
        if errors:
            count = cell.get("execution_count") or 0
            if best is None or count >= best[0]:
                best = (count, index, errors[-1])
    return (best[1], best[2]) if best else None

