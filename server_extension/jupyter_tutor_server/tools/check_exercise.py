"""``check_exercise``: the visible tests of the student's exercise, run on their code.

The notebook is read through the contents manager (as last saved, with the active cell as
the student has it now), the exercise found by :mod:`.exercises`, and its cells run in a
scratch kernel by :mod:`.exercise_runner`, never in the student's kernel.  The model
learns which tests pass and the first failure's message and line, enough to say "your
function returns None for an empty list" without writing the solution.  Hidden tests
never run here and never reach the model.

It ships with the project as a plugin (an entry point of this distribution), so it is
also the reference for plugin authors of a tool that runs code.
"""

from __future__ import annotations

import inspect
import json
import posixpath
from typing import Any

from jupyter_tutor.notebooks import cell_label

from . import exercise_runner
from .base import Tool, ToolContext, ToolResult, argument, object_schema
from .exercises import Exercise, Step, find_exercise

_RUNNER = inspect.getsource(exercise_runner)


class CheckExercise(Tool):
    name = "check_exercise"
    description = (
        "Run the visible tests of the exercise the student is working on against the "
        "student's current code (in a scratch kernel, never the student's), and report "
        "which tests pass and the first failure's message and line. Use it to see what "
        "is wrong before hinting at it; never paste the fix. Hidden tests are not run."
    )
    input_schema = object_schema(
        {
            "exercise": {
                "type": "string",
                "description": "The exercise's name or heading (default: the one the "
                "student is in).",
            },
            "path": {"type": "string", "description": "The notebook (default: the student's)."},
        }
    )
    manages_time = True  # the scratch kernel's own limit (ScratchKernels.timeout)

    async def run(self, input: dict[str, Any], context: ToolContext) -> ToolResult:
        name = argument(input, "exercise", str)
        path = context.notebook(argument(input, "path", str))
        same_notebook = path == context.notebook_path
        exercise = find_exercise(
            await context.load_notebook(path),
            name=name,
            cell_index=context.scope.cell_index if same_notebook and not name else None,
            current_code=context.scope.code if same_notebook else None,
        )
        folder = posixpath.dirname(path)
        root = getattr(context.contents_manager, "root_dir", None)
        cwd = posixpath.join(root, folder) if isinstance(root, str) else None
        steps = json.dumps([step.to_json() for step in exercise.steps])
        program = (
            f"(lambda ns: (exec(compile({_RUNNER!r}, '<tutor check_exercise>', 'exec'), ns), "
            f"ns['main']({steps!r}, {cwd!r}))[1])({{}})"
        )
        outcome = await context.scratch.run(program)
        reports = _reports(outcome.output)
        text = describe(exercise, path, reports)
        if outcome.failed and len(reports) < len(exercise.steps):
            # Stopped at the time limit, or the kernel died: the next cell is to blame.
            stuck = exercise.steps[len(reports)]
            what = f"test {stuck.test}" if stuck.test else "the student's code"
            why = " ".join(outcome.notes) or "it did not finish."
            text += f"\nThe run stopped in {cell_label(stuck.cell)} ({what}): {why}"
        return ToolResult(text)


def _reports(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.split("\n"):
        if line.startswith(exercise_runner.MARK):
            try:
                found.append(json.loads(line[len(exercise_runner.MARK) :]))
            except json.JSONDecodeError:
                break  # cut by the output cap
    return found


def describe(exercise: Exercise, path: str, reports: list[dict[str, Any]]) -> str:
    """The run's outcome as the model reads it."""
    by_cell = {r.get("cell"): r for r in reports}
    tests = exercise.tests
    passed = [t for t in tests if by_cell.get(t.cell, {}).get("ok")]
    lines = [
        f"Exercise {exercise.name!r} in {path}: {len(passed)} of {len(tests)} visible test "
        "cell(s) pass (hidden tests, if any, were not run)."
    ]
    for test in tests:
        report = by_cell.get(test.cell)
        state = "not run" if report is None else "passed" if report.get("ok") else "FAILED"
        lines.append(f"- {test.test} ({cell_label(test.cell)}): {state}")
    failed = next((by_cell[t.cell] for t in tests if _failed(by_cell, t)), None)
    if failed is not None:
        lines.append(f"First failure, in {cell_label(failed['cell'])}:")
        lines.extend(_failure_lines(failed))
    broken = [
        (step, by_cell[step.cell])
        for step in exercise.steps
        if step.test is None and _failed(by_cell, step)
    ]
    own = [(s, r) for s, r in broken if s.in_exercise]
    if own:
        step, report = own[0]
        lines.append(f"Before the tests, the student's {cell_label(step.cell)} raised an error:")
        lines.extend(_failure_lines(report))
    if len(broken) > len(own):
        cells = ", ".join(cell_label(s.cell) for s, _ in broken if not s.in_exercise)
        lines.append(f"(Earlier cells of the notebook raised errors too: {cells}.)")
    return "\n".join(lines)


def _failed(by_cell: dict[Any, dict[str, Any]], step: Step) -> bool:
    """Whether ``step`` ran and failed (a step that never ran has no report)."""
    return step.cell in by_cell and not by_cell[step.cell].get("ok")


def _failure_lines(report: dict[str, Any]) -> list[str]:
    lines = [f"  {report.get('error', 'an error')}"]
    if report.get("code"):
        lines.append(f"  at line {report.get('line')}: {report['code']}")
    if "got" in report:
        lines.append(
            f"  the left side gave {report['got']}"
            + (f", the right side {report['expected']}" if "expected" in report else "")
        )
    raised = report.get("raised_in")
    if isinstance(raised, dict):
        lines.append(
            f"  raised in the student's {cell_label(raised.get('cell'))}, "
            f"line {raised.get('line')}: "
            f"{raised.get('code', '')}"
        )
    if report.get("printed"):
        lines.append(f"  it printed: {report['printed']!r}")
    return lines

