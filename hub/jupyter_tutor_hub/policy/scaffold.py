"""``jupyter-tutor course init``: a new course folder that shows every setting in use.

The ``tutor.yaml`` lists each key with a comment; the example notebook sets a notebook
policy, learning objectives, an instructor note, an exercise and its protected reference
solution, so an instructor can copy from working examples.  Both validate cleanly.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .config import COURSE_FILE, course_name_from_folder

TUTOR_YAML = """\
# The tutor's settings for this course. `jupyter-tutor course validate .` checks them.
name: {name}  # course id, as given to `jupyter-tutor ingest --course`
title: {title}
language: English                # the language the tutor answers in
persona: >-
  A patient teaching assistant who answers briefly and asks questions back.
policy: hints-only               # default help: explain | hints-only | no-help (exams)
model: claude-sonnet-4-6         # default model the students' servers ask for
budget:
  daily_tokens: 200000           # per student per day
  daily_usd: 0.50
privacy:
  instructors_read_conversations: false   # students are told which it is
instructors:
  groups: [instructors, instructors-{name}]   # hub groups that see the dashboard
avoid:                           # not taught yet: the tutor will not mention them
  - list comprehensions
  - lambda
# tools:                         # the tutor's tools the model may use (default: all)
#   deny: [run_code]             # never these; `allow: [...]` offers only those
"""

EXAMPLE_NOTEBOOK = "01-first-steps.ipynb"


def example_notebook() -> nbformat.NotebookNode:
    """A small notebook using the notebook- and cell-level ``tutor`` settings."""
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["tutor"] = {
        "policy": "explain",
        "objectives": ["use variables", "write a for loop"],
        "notes": "Students often forget to initialise the total before the loop.",
    }
    notebook.cells = [
        new_markdown_cell("# First steps\n\nVariables hold values; a `for` loop repeats."),
        new_code_cell("total = 0\nfor n in [1, 2, 3]:\n    total = total + n\nprint(total)"),
        new_markdown_cell(
            "## Exercise 1: sum of squares\n\nWrite `sum_of_squares(numbers)`.\n\n"
            '<!-- The reference solution below is marked {"tutor": {"solution": true}}:'
            " the tutor never shows it, and stops answers that reproduce it. Give students a"
            " copy without it (nbgrader's release step does this). -->",
            metadata={
                "tutor": {
                    "exercise": "Exercise 1",
                    "policy": "hints-only",
                    "objectives": ["accumulate a result in a loop"],
                    "notes": "Steer towards a running total; no need for range().",
                }
            },
        ),
        new_code_cell("def sum_of_squares(numbers):\n    # YOUR CODE HERE\n    pass"),
        new_code_cell(
            "def sum_of_squares(numbers):\n"
            "    result = 0\n"
            "    for value in numbers:\n"
            "        result += value * value\n"
            "    return result",
            metadata={"tutor": {"solution": True}},
        ),
    ]
    return notebook


class ScaffoldError(Exception):
    """The folder already holds a course; nothing was written."""


def init_course(folder: Path, name: str = "", title: str = "", force: bool = False) -> list[Path]:
    """Write ``tutor.yaml`` and an example notebook into ``folder``; return what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / COURSE_FILE
    if config.exists() and not force:
        raise ScaffoldError(
            f"{config} already exists; nothing was written (pass --force to overwrite)."
        )
    name = name or course_name_from_folder(folder)
    title = title or name.replace("-", " ").capitalize()
    # JSON strings are valid YAML: any title is quoted safely.
    config.write_text(TUTOR_YAML.format(name=name, title=json.dumps(title)), encoding="utf-8")
    written = [config]
    notebook = folder / EXAMPLE_NOTEBOOK
    if not notebook.exists() or force:
        nbformat.write(example_notebook(), notebook)
        written.append(notebook)
    return written
