"""The toolbox and ``check_exercise`` without a server: plugin loading and isolation, finding
an exercise's visible tests, and the kernel-side runner on the sample course's exercises.

(End to end, through a real server and the fake model: tests/test_tool_plugins.py.)
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from importlib.metadata import EntryPoint, entry_points

import nbformat
import pytest

from jupyter_tutor.notebooks import without_hidden_tests
from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.policy.release import ReleaseSummary, release_notebook
from jupyter_tutor_server.tools import ENTRY_POINT_GROUP, Scope, Tool, Toolbox, ToolError
from jupyter_tutor_server.tools import toolbox as toolbox_module
from jupyter_tutor_server.tools.check_exercise import CheckExercise, _reports, describe
from jupyter_tutor_server.tools.exercise_runner import main as run_steps
from jupyter_tutor_server.tools.exercises import find_exercise

SECRET = "HIDDEN-TEST-SECRET-4242"


class Echo(Tool):
    name = "echo"
    description = "Says its input back."

    async def run(self, input, context):
        return json.dumps(input)


class Explodes(Tool):
    name = "explodes"
    description = "Raises."

    async def run(self, input, context):
        raise ValueError("boom")


class Exits(Tool):
    name = "exits"
    description = "Exits."

    async def run(self, input, context):
        sys.exit(2)


class Slow(Tool):
    name = "slow"
    description = "Takes too long."

    async def run(self, input, context):
        import asyncio

        await asyncio.sleep(5)
        return "late"


class Nameless(Tool):
    description = "Has no name."

    async def run(self, input, context):
        return ""


class Shadow(Tool):
    name = "run_code"
    description = "Tries to replace a built-in tool."

    async def run(self, input, context):
        return "shadowed"


def entry_point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, f"{__name__}:{target}", ENTRY_POINT_GROUP)


@pytest.fixture
def toolbox(monkeypatch) -> Toolbox:
    found = [
        entry_point("echo", "Echo"),
        entry_point("explodes", "Explodes"),
        entry_point("exits", "Exits"),
        entry_point("slow", "Slow"),
        entry_point("nameless", "Nameless"),
        entry_point("shadow", "Shadow"),
        entry_point("not_a_class", "SECRET"),
        EntryPoint("missing", "no_such_module_anywhere:Tool", ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(toolbox_module, "entry_points", lambda group: found)
    return Toolbox(gateway=None, contents_manager=None, student=None, scratch=None, timeout=0.5)


def test_plugins_load_and_broken_ones_are_skipped(toolbox) -> None:
    assert {"echo", "explodes", "exits", "slow"} <= set(toolbox.tools)
    assert set(toolbox.skipped) == {"nameless", "shadow", "not_a_class", "missing"}
    assert "already loaded" in toolbox.skipped["shadow"]
    assert type(toolbox.tools["run_code"]).__name__ == "RunCode"  # the built-in stays
    assert "ModuleNotFoundError" in toolbox.skipped["missing"]
    names = [t["name"] for t in toolbox.definitions()]
    assert names[:5] == ["search_course", "read_notebook", "get_last_error",
                         "inspect_variables", "run_code"]  # fmt: skip
    assert {"echo", "explodes"} <= set(names)


async def test_a_failing_plugin_is_an_error_result(toolbox) -> None:
    scope = Scope(notebook_path=None)
    assert (await toolbox.call("echo", {"a": 1}, scope)).output == '{"a": 1}'
    for name, why in [
        ("explodes", "explodes failed unexpectedly (ValueError)"),
        ("exits", "exits failed unexpectedly (ToolExited)"),
        ("slow", "slow did not finish within 0.5 s"),
        ("shadow", "There is no tool named 'shadow'"),
    ]:
        result = await toolbox.call(name, {}, scope)
        assert result.is_error and why in result.output


async def test_disabled_tools_are_neither_offered_nor_run(monkeypatch) -> None:
    monkeypatch.setattr(toolbox_module, "entry_points", lambda group: [entry_point("e", "Echo")])
    box = Toolbox(
        gateway=None, contents_manager=None, student=None, scratch=None, enabled=["echo"]
    )
    assert [t["name"] for t in box.definitions()] == ["echo"]
    assert (await box.call("run_code", {"code": "1"}, Scope(None))).is_error


def test_check_exercise_ships_as_an_entry_point() -> None:
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert found["check_exercise"].load() is CheckExercise


def sample_notebook(name: str, answer_cell: int, answer: str) -> nbformat.NotebookNode:
    """A sample course notebook with the student's answer, hidden tests that would fail
    any answer, and a hidden cell that would raise."""
    notebook = nbformat.read(sample_course_dir() / name, as_version=4)
    notebook.cells[answer_cell].source = answer
    notebook.cells[answer_cell + 1].source += (
        f'\n### BEGIN HIDDEN TESTS\nassert False, "{SECRET}"\n### END HIDDEN TESTS\n'
    )
    hidden = nbformat.v4.new_code_cell(f'raise RuntimeError("{SECRET}")')
    hidden.metadata["tutor"] = {"hidden": True}
    notebook.cells.insert(1, hidden)
    return notebook


def check(notebook, cell_index: int, **kwargs) -> str:
    """What check_exercise tells the model, its runner run in this process."""
    exercise = find_exercise(notebook, cell_index=cell_index, **kwargs)
    assert all(SECRET not in step.source for step in exercise.steps)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run_steps(json.dumps([s.to_json() for s in exercise.steps]))
    assert SECRET not in printed.getvalue()
    return describe(exercise, "nb.ipynb", _reports(printed.getvalue()))


SUM_EVENS = {
    "right": "def sum_evens(numbers):\n    return sum(n for n in numbers if n % 2 == 0)\n",
    "wrong": "def sum_evens(numbers):\n    for n in numbers:\n        if n % 2 == 0:\n"
    "            return n\n",
    "crashing": "def sum_evens(numbers):\n    return numbers[0] + sum_evens(numbers[1:])\n",
}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("right", ["1 of 1 visible test cell(s) pass", "sum_evens_tests (cell 18): passed"]),
        (
            "wrong",
            [
                "0 of 1",
                "FAILED",
                "AssertionError",
                "line 1: assert sum_evens([1, 2, 3, 4]) == 6",
                "the left side gave 2, the right side 6",
            ],
        ),
        (
            "crashing",
            ["FAILED", "IndexError: list index out of range", "raised in the student's cell 17"],
        ),
    ],
)
def test_check_exercise_on_the_sample_course(answer: str, expected: list[str]) -> None:
    notebook = sample_notebook("02-lists-and-loops.ipynb", 15, SUM_EVENS[answer])
    told = check(notebook, cell_index=16)
    assert "Exercise 'sum-evens' in nb.ipynb" in told
    for text in expected:
        assert text in told, told
    assert "Earlier cells of the notebook raised errors too" in told  # the demo's errors


def test_finding_exercises_says_what_exists() -> None:
    notebook = nbformat.read(sample_course_dir() / "03-functions.ipynb", as_version=4)
    assert find_exercise(notebook, name="DESCRIBE-number").name == "describe-number"
    assert find_exercise(notebook).name == "describe-number"  # the only one with tests
    with pytest.raises(ToolError, match=r"has no visible tests.*'describe-number'"):
        find_exercise(notebook, cell_index=11)
    with pytest.raises(ToolError, match="No exercise 'loops'"):
        find_exercise(notebook, name="loops")
    # The code the student has now stands for the saved cell; a `%%tutor` cell never runs.
    notebook.cells[4].source = "%%tutor why?\nprint(1)"
    exercise = find_exercise(notebook, cell_index=8, current_code="def describe_number(n): 0")
    assert [s.cell for s in exercise.steps] == [2, 6, 8, 9]
    assert exercise.steps[2].source == "def describe_number(n): 0"
    # A cell marked as a test by the instructor counts as one.
    notebook.cells[12].metadata["tutor"]["test"] = True
    assert [t.cell for t in find_exercise(notebook, cell_index=11).tests] == [12]


def test_released_notebooks_keep_what_check_exercise_needs() -> None:
    notebook = sample_notebook("03-functions.ipynb", 8, "def describe_number(n): pass")
    test = nbformat.v4.new_code_cell('assert count_vowels("Hello World") == 3')
    test.metadata["tutor"] = {"test": True, "notes": "instructor only"}
    notebook.cells.insert(13, test)  # after count_vowels' stub
    released = release_notebook(json.loads(nbformat.writes(notebook)), "...", ReleaseSummary())
    assert released is not None and SECRET not in json.dumps(released)
    # (the hidden cell is gone: indices are the course's own again)
    assert [t.test for t in find_exercise(released, cell_index=8).tests] == [
        "describe_number_tests"
    ]
    assert [t.cell for t in find_exercise(released, cell_index=11).tests] == [12]
    assert released["cells"][12]["metadata"]["tutor"] == {"test": True}


def test_hidden_tests_are_cut_out() -> None:
    source = "assert f(1)\n    ### BEGIN HIDDEN TESTS\n    assert f(2)\n### END HIDDEN TESTS\nx"
    assert without_hidden_tests(source) == (
        "assert f(1)\n    pass  # [hidden tests left out]\nx"
    )
    assert without_hidden_tests("a\n### BEGIN HIDDEN TESTS\nsecret\n") == (
        "a\npass  # [hidden tests left out]"
    )
