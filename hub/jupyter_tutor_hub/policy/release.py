"""The student version of a course, as nbgrader's release makes it.

Students hold their copy of a course in their own server, where they (and the tutor's
``read_notebook`` tool) can read every byte of it; so the instructor's source must never
be that copy.  Releasing a course writes a folder in which:

- solution regions (``### BEGIN SOLUTION`` … ``### END SOLUTION``) are replaced by the
  course's stub, at the marker's indentation; a solution cell without markers keeps only
  its ``def``/``class`` line(s) above the stub (a Markdown answer cell becomes a prompt);
- hidden test regions are removed, and the outputs of solution and test cells cleared;
- hidden cells (``tutor.hidden``), and every notebook whose own metadata says ``hidden``,
  are left out;
- ``tutor`` metadata keeps only what the student's side may see (``exercise``,
  ``policy``): instructor notes, objectives and avoid-lists stay with the instructor;
- ``tutor.yaml`` is left out (the gateway reads the published policy, never the copy).

Cell ids are kept, so the gateway still finds each cell's published policy.  Python and
Markdown files get the same region treatment; other files are copied as they are.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_tutor.notebooks import cell_source
from jupyter_tutor.protocol import COURSE_MARKER_FILE

from ..course.notebooks import cell_policy
from .config import COURSE_FILE, read_course_config

DEFAULT_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MARKDOWN_STUB = "YOUR ANSWER HERE"
_REGION = re.compile(
    r"^(?P<indent>[ \t]*)#+[ \t]*BEGIN (?P<kind>SOLUTION|HIDDEN TESTS)\b[^\n]*\n"
    r"(?:.*?\n)??[ \t]*#+[ \t]*END (?P=kind)\b[^\n]*(?:\n|$)",
    re.MULTILINE | re.DOTALL,
)
_HEADER = re.compile(
    r"^(?:[ \t]*@[^\n]*\n)*[ \t]*(?:async[ \t]+)?(?:def|class)[ \t][^\n]*?:[ \t]*$", re.MULTILINE
)
#: Student-side ``tutor`` metadata keys (the rest is the instructor's); ``test`` marks
#: the visible tests ``check_exercise`` runs in the student's server.
STUDENT_KEYS = ("exercise", "policy", "test")


@dataclass
class ReleaseSummary:
    """What a release wrote, for the instructor to check."""

    notebooks: int = 0
    files: int = 0
    solutions_stubbed: int = 0
    hidden_tests_removed: int = 0
    cells_removed: int = 0
    notebooks_left_out: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        left_out = (
            f", left out {', '.join(self.notebooks_left_out)}" if self.notebooks_left_out else ""
        )
        return (
            f"{self.notebooks} notebook(s) and {self.files} other file(s) released: "
            f"{self.solutions_stubbed} solution(s) replaced by the stub, "
            f"{self.hidden_tests_removed} hidden test region(s) and {self.cells_removed} "
            f"hidden cell(s) removed{left_out}"
        )


def release_source(source: str, stub: str, summary: ReleaseSummary) -> str:
    """``source`` with solution regions stubbed and hidden test regions removed."""

    def replace(match: re.Match[str]) -> str:
        if match.group("kind") == "HIDDEN TESTS":
            summary.hidden_tests_removed += 1
            return ""
        summary.solutions_stubbed += 1
        indent = match.group("indent")
        return "".join(f"{indent}{line}\n" for line in stub.splitlines())

    return _REGION.sub(replace, source)


def _stub_cell(source: str, stub: str) -> str:
    """A solution cell without markers: its signature (if any) above the stub."""
    header = _HEADER.match(source)
    if not header:
        return stub
    return header.group() + "\n" + "".join(f"    {line}\n" for line in stub.splitlines())


def _student_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    tutor = metadata.get("tutor")
    out = {k: v for k, v in metadata.items() if k != "tutor"}
    if isinstance(tutor, dict):
        kept = {k: tutor[k] for k in STUDENT_KEYS if k in tutor}
        if kept:
            out["tutor"] = kept
    return out


def release_notebook(
    notebook: dict[str, Any], stub: str, summary: ReleaseSummary
) -> dict[str, Any] | None:
    """The student version of one notebook (None: the whole notebook is hidden)."""
    tutor = notebook.get("metadata", {}).get("tutor")
    if isinstance(tutor, dict) and tutor.get("hidden"):
        return None
    cells = []
    for cell in notebook.get("cells", []):
        reason, _ = cell_policy(cell)
        if reason == "hidden":
            summary.cells_removed += 1
            continue
        source = cell_source(cell)
        released = release_source(source, stub, summary)
        solution = reason in ("nbgrader-solution", "reference-solution")
        if solution and released == source:  # a solution cell without markers
            summary.solutions_stubbed += 1
            released = (
                MARKDOWN_STUB if cell.get("cell_type") == "markdown" else _stub_cell(source, stub)
            )
        cell = {**cell, "source": released, "metadata": _student_metadata(cell.get("metadata", {}))}
        if cell.get("cell_type") == "code" and reason is not None:
            cell |= {"outputs": [], "execution_count": None}
        cells.append(cell)
    metadata = _student_metadata(notebook.get("metadata", {}))
    return {**notebook, "metadata": metadata, "cells": cells}


def release_course(source: Path, target: Path, stub: str = DEFAULT_STUB) -> ReleaseSummary:
    """Write the student version of the course folder ``source`` into ``target``."""
    source, target = Path(source).resolve(), Path(target).resolve()
    if target == source or source in target.parents:
        raise ValueError(f"Release into a folder outside the course, not {target}.")
    summary = ReleaseSummary()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or any(p.startswith(".") for p in relative.parts):
            continue
        if relative.as_posix() == COURSE_FILE:
            continue
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".ipynb":
            released = release_notebook(json.loads(path.read_text("utf-8")), stub, summary)
            if released is None:
                summary.notebooks_left_out.append(relative.as_posix())
                continue
            out.write_text(json.dumps(released, indent=1, ensure_ascii=False) + "\n", "utf-8")
            summary.notebooks += 1
        elif path.suffix in (".py", ".md"):
            out.write_text(release_source(path.read_text("utf-8"), stub, summary), "utf-8")
            summary.files += 1
        else:
            shutil.copy2(path, out)
            summary.files += 1
    # The course's name, for the student's server to tell the gateway where a notebook is.
    name = read_course_config(source, []).name
    target.mkdir(parents=True, exist_ok=True)
    (target / COURSE_MARKER_FILE).write_text(name + "\n", "utf-8")
    return summary
