"""Tool plugins, end to end: a real Jupyter server with the tutor finds the tools installed
packages register, offers them to the model (the fake Anthropic API behind the session's
gateway) and runs the ones it calls, and a broken plugin never takes anything down.

The example package (examples/tutor-tool-example) is pip-installed into a folder on the
server's ``PYTHONPATH``, as an admin installs it into the students' image; two broken
plugins are installed beside it by hand (a dist-info folder naming their entry points).
``check_exercise`` (shipped with the project) runs on the sample course's exercises.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from fake_anthropic import Reply
from server_harness import serve_student

from jupyter_tutor_hub.apps.demo import sample_course_dir

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "tutor-tool-example"
BUILT_IN = {"search_course", "read_notebook", "get_last_error", "inspect_variables", "run_code"}
#: Text of hidden tests and hidden cells: it must never run, nor reach events or the model.
SECRET = "HIDDEN-TEST-SECRET-7731"
FUNCTIONS = "intro-python/03-functions.ipynb"
ANSWER_CELL = 8  # describe_number's solution cell in the sample course

BROKEN_PLUGINS = {
    "broken_at_import.py": 'raise RuntimeError("this plugin is broken at import")\n',
    "broken_in_run.py": textwrap.dedent(
        """
        import sys

        from jupyter_tutor_server.tools import Tool


        class ExplodesInRun(Tool):
            name = "explodes_in_run"
            description = "A tool whose run raises."

            async def run(self, input, context):
                raise ValueError("boom in run")


        class ExitsInRun(Tool):
            name = "exits_in_run"
            description = "A tool whose run exits the process."

            async def run(self, input, context):
                sys.exit(3)


        not_a_tool = "just a string"
        """
    ),
}
BROKEN_ENTRY_POINTS = """[jupyter_tutor.tools]
explodes_at_import = broken_at_import:Anything
explodes_in_run = broken_in_run:ExplodesInRun
exits_in_run = broken_in_run:ExitsInRun
not_a_tool = broken_in_run:not_a_tool
"""


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    """A site folder holding the example plugin (pip-installed) and the broken ones."""
    site = tmp_path_factory.mktemp("plugins")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(site), str(EXAMPLE)],
        check=True,
        timeout=300,
    )  # fmt: skip
    for name, source in BROKEN_PLUGINS.items():
        (site / name).write_text(source)
    info = site / "broken_tools-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-tools\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(BROKEN_ENTRY_POINTS)
    return site


@pytest.fixture(scope="module")
def server(hub, plugins, tmp_path_factory):
    servers = serve_student(
        hub,
        tmp_path_factory.mktemp("plugins-server"),
        "student2",
        config="c.ScratchKernels.timeout = 5\n"
        "c.TutorExtension.max_tool_rounds = 3\n"
        "c.DescribeDataset.preview_rows = 2\n",  # a plugin's own setting
        env={"PYTHONPATH": str(plugins)},
    )
    running = next(servers)
    (running.root / "data").mkdir()
    (running.root / "data" / "grades.csv").write_text("name,grade\nada,5\ngrace,6\nalan,4\n")
    (running.root / "intro-python").mkdir()
    yield running
    next(servers, None)


def ask(server, fake_upstream, *calls, context=None) -> tuple[list[dict], list[dict]]:
    """Script one tool call per reply, then a final text; the events and tool results."""
    fake_upstream.script(*(Reply.tool_use(n, args) for n, args in calls), Reply.text("Done."))
    events = server.chat({"message": "Check it", "context": context or {}})
    return events, [e for e in events if e["type"] == "tool_result"]


def sent_results(fake_upstream) -> list[dict]:
    """The tool results of the model's last request."""
    return list(fake_upstream.requests[-1].body["messages"][-1]["content"])


def test_installed_plugins_are_offered_and_broken_ones_skipped(server, fake_upstream) -> None:
    ask(server, fake_upstream)
    offered = {t["name"] for t in fake_upstream.requests[-1].body["tools"]}
    assert offered == BUILT_IN | {
        "check_exercise",
        "describe_dataset",
        "explodes_in_run",
        "exits_in_run",
    }
    log = server.log()
    assert "skipped the tool plugin explodes_at_import" in log
    assert "this plugin is broken at import" in log
    assert "skipped the tool plugin not_a_tool" in log and "not a subclass" in log
    assert "loaded the tool plugin describe_dataset" in log


def test_the_example_plugin_is_called_by_the_model(server, fake_upstream) -> None:
    events, results = ask(server, fake_upstream, ("describe_dataset", {"path": "data/grades.csv"}))
    assert results[0]["is_error"] is False
    assert "3 rows, 2 columns: name, grade" in results[0]["output"]
    sent = sent_results(fake_upstream)[0]
    assert sent["tool_use_id"] == results[0]["id"] and "ada, 5" in sent["content"]
    assert "grace, 6" in sent["content"] and "alan" not in sent["content"]  # preview_rows
    assert events[-1] == {"type": "done", "stop_reason": "end_turn"}


def test_a_plugin_failing_in_run_is_an_error_result(server, fake_upstream) -> None:
    events, results = ask(
        server,
        fake_upstream,
        ("explodes_in_run", {}),
        ("exits_in_run", {}),
        ("describe_dataset", {"path": "missing.csv"}),
    )
    assert [r["is_error"] for r in results] == [True, True, True]
    assert "explodes_in_run failed unexpectedly (ValueError)" in results[0]["output"]
    assert "exits_in_run failed unexpectedly (ToolExited)" in results[1]["output"]
    assert "could not be read" in results[2]["output"]
    assert events[-1] == {"type": "done", "stop_reason": "end_turn"}
    assert server.process.poll() is None  # the server is still up
    assert "boom in run" in server.log()  # the real exception is in the server's log


def student_notebook(server, answer: str) -> None:
    """The sample course's functions notebook as the student has it: their answer in the
    exercise's cell, and hidden tests plus a hidden cell the instructor left in."""
    notebook = nbformat.read(sample_course_dir() / "03-functions.ipynb", as_version=4)
    notebook.cells[ANSWER_CELL].source = answer
    tests = notebook.cells[ANSWER_CELL + 1]
    tests.source += (
        "\n### BEGIN HIDDEN TESTS\n"
        f'assert describe_number(-0.5) == "never", "{SECRET}"\n'
        "### END HIDDEN TESTS\n"
    )
    hidden = nbformat.v4.new_code_cell(f'raise RuntimeError("{SECRET} cell")')
    hidden.metadata["tutor"] = {"hidden": True}
    notebook.cells.insert(ANSWER_CELL, hidden)
    nbformat.write(notebook, server.root / FUNCTIONS)


RIGHT = """def describe_number(n):
    if n < 0:
        return "negative"
    elif n == 0:
        return "zero"
    return "positive"
"""
WRONG = """def describe_number(n):
    if n < 0:
        return "negative"
    return "positive"
"""
CRASHING = """def describe_number(n):
    return "positive" if len(n) else "zero"
"""
ENDLESS = """def describe_number(n):
    while True:
        pass
"""


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (RIGHT, ["1 of 1 visible test cell(s) pass", "describe_number_tests (cell 11): passed"]),
        (
            WRONG,
            [
                "0 of 1 visible test cell(s) pass",
                "describe_number_tests (cell 11): FAILED",
                "AssertionError",
                'at line 2: assert describe_number(0) == "zero"',
                "the left side gave 'positive', the right side 'zero'",
            ],
        ),
        (
            CRASHING,
            [
                "FAILED",
                "TypeError: object of type 'int' has no len()",
                "at line 1: assert describe_number(-3)",
                "raised in the student's cell 10, line 2",
            ],
        ),
        (ENDLESS, ["not run", "The run stopped in cell 11 (test describe_number_tests)"]),
    ],
    ids=["right", "wrong", "crashing", "endless"],
)
def test_check_exercise_runs_the_visible_tests(server, fake_upstream, answer, expected) -> None:
    student_notebook(server, answer)
    context = {"notebook_path": FUNCTIONS, "cell_index": ANSWER_CELL + 1}
    events, results = ask(server, fake_upstream, ("check_exercise", {}), context=context)
    output = results[0]["output"]
    assert results[0]["is_error"] is False
    assert "Exercise 'describe-number'" in output
    for text in expected:
        assert text in output, output
    assert "hidden by the instructor" not in output  # the hidden cell did not run
    assert SECRET not in json.dumps(events)
    assert all(SECRET not in json.dumps(r.body) for r in fake_upstream.requests)


def test_check_exercise_uses_the_code_the_student_has_now(server, fake_upstream) -> None:
    student_notebook(server, WRONG)  # saved: wrong; in the editor: fixed, not saved yet
    context = {"notebook_path": FUNCTIONS, "cell_index": ANSWER_CELL + 1, "code": RIGHT}
    _, results = ask(server, fake_upstream, ("check_exercise", {}), context=context)
    assert "1 of 1 visible test cell(s) pass" in results[0]["output"]
    # Named, from elsewhere in the notebook; and an exercise without tests says what exists.
    _, results = ask(
        server,
        fake_upstream,
        ("check_exercise", {"exercise": "Describe-Number"}),
        ("check_exercise", {}),
        context={"notebook_path": FUNCTIONS, "cell_index": 12},
    )
    assert "0 of 1 visible test cell(s) pass" in results[0]["output"]
    assert results[1]["is_error"] is True
    assert "has no visible tests" in results[1]["output"]
    assert "'describe-number'" in results[1]["output"]
    assert all(SECRET not in json.dumps(r.body) for r in fake_upstream.requests)


def test_reading_the_notebook_leaves_hidden_tests_out(server, fake_upstream) -> None:
    student_notebook(server, RIGHT)
    events, _ = ask(
        server,
        fake_upstream,
        ("read_notebook", {"path": FUNCTIONS}),
        context={"notebook_path": FUNCTIONS, "cell_index": ANSWER_CELL + 1},
    )
    read = sent_results(fake_upstream)[0]["content"]  # what the model got (untrimmed)
    assert "[hidden tests left out]" in read and "hidden by the instructor" in read
    assert SECRET not in json.dumps(events)
    assert all(SECRET not in json.dumps(r.body) for r in fake_upstream.requests)
