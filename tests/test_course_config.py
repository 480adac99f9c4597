"""Course authoring: reading tutor.yaml and notebook metadata, validation, init, publish."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import psycopg
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from policy_fixtures import NOTE, publish_course, write_course

from jupyter_tutor_hub.apps.course import CourseAuthoringApp, InitApp, PublishApp, ValidateApp
from jupyter_tutor_hub.policy.config import CourseConfig, read_course
from jupyter_tutor_hub.policy.store import PolicyError


@pytest.fixture
def run(capsys):
    """``jupyter-tutor course ARGS`` in this process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        for app in (CourseAuthoringApp, ValidateApp, InitApp, PublishApp):
            app.clear_instance()
        app = CourseAuthoringApp()
        try:
            app.initialize(list(args))
            app.start()
            code = 0
        except SystemExit as exit:
            code = exit.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_the_course_command_is_registered() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_tutor.cli", "course", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "validate" in done.stdout and "publish" in done.stdout


def test_course_settings_are_read_with_their_defaults(tmp_path: Path) -> None:
    course = read_course(write_course(tmp_path / "c", read_conversations=True))
    assert course.errors == []
    config = course.config
    assert config.name == "policy-test"
    assert config.policy == "hints-only"
    assert config.instructors_read_conversations is True
    assert config.avoid == ("list comprehensions",)
    assert config.groups_of_instructors == ("instructors",)
    assert "can read your conversations" in config.privacy_notice
    assert CourseConfig.from_json(config.to_json()) == config
    bare = CourseConfig(name="x")
    assert bare.policy == "hints-only"
    assert bare.groups_of_instructors == ("instructors", "instructors-x")
    assert "cannot read your conversations" in bare.privacy_notice


def test_cell_settings_hold_until_the_next_heading(tmp_path: Path) -> None:
    course = read_course(write_course(tmp_path / "c"))
    loops = next(n for n in course.notebooks if n.path == "week1/loops.ipynb")
    cells = loops.cells
    assert loops.objectives == ("write for loops",)
    assert cells[1].exercise is None and cells[1].policy is None  # a section, not an exercise
    # The student's stub below "Exercise 1" inherits the exercise's settings.
    assert cells[3].exercise == "Exercise 1"
    assert cells[3].notes == (NOTE,)
    assert cells[3].objectives == ("loop over the characters of a string",)
    assert cells[4].protected and not cells[3].protected
    assert (cells[6].exercise, cells[6].policy) == ("Exercise 2: graded", "no-help")
    assert (cells[8].exercise, cells[8].policy, cells[8].notes) == (None, "explain", ())
    exam = next(n for n in course.notebooks if n.path == "exam.ipynb")
    assert exam.policy == "no-help"


def _bad_course(folder: Path) -> Path:
    folder.mkdir()
    (folder / "tutor.yaml").write_text(
        "name: Intro Python\npolcy: explain\npolicy: hint-only\n"
        "budget: {daily_tokens: -1}\nprivacy: {instructors_read_conversations: 'yes'}\n"
    )
    notebook = new_notebook()
    notebook.metadata["tutor"] = {"policy": "exam", "objectives": 3}
    notebook.cells = [
        new_markdown_cell("# Week 1"),
        new_code_cell(
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
            metadata={"tutor": {"hiden": True}},
        ),
        new_code_cell("x = 1", metadata={"tutor": {"solution": "yes", "policy": "hints"}}),
    ]
    nbformat.write(notebook, folder / "week1.ipynb")
    (folder / "broken.ipynb").write_text("{not json")
    return folder


def test_validation_reports_every_problem_with_file_and_cell(tmp_path: Path) -> None:
    course = read_course(_bad_course(tmp_path / "bad"))
    lines = [str(p) for p in course.problems]
    ids = [c["id"] for c in nbformat.read(tmp_path / "bad" / "week1.ipynb", 4).cells]

    def has(fragment: str) -> bool:
        return any(fragment in line for line in lines)

    assert has("tutor.yaml: error: 'name' 'Intro Python' is not a valid course id")
    assert has("tutor.yaml: warning: unknown key 'polcy' in tutor.yaml (did you mean 'policy'?)")
    assert has("not 'hint-only'. Did you mean 'hints-only'?")
    assert has("budget 'daily_tokens' must be a whole number")
    assert has("'instructors_read_conversations' must be true or false")
    assert has("broken.ipynb: error: not a readable notebook")
    assert has("week1.ipynb: error: notebook 'policy' must be one of")
    assert has("week1.ipynb: error: notebook 'objectives' must be a list of texts")
    assert has(f"week1.ipynb, cell 2 (id {ids[1]}): warning: unknown key 'hiden'")
    assert has(f"week1.ipynb, cell 2 (id {ids[1]}): error: this cell holds a '### BEGIN SOLUTION'")
    assert has(f"week1.ipynb, cell 3 (id {ids[2]}): error: cell 'solution' must be true or false")
    assert has(f"week1.ipynb, cell 3 (id {ids[2]}): error: cell 'policy' must be one of")
    assert len(course.errors) == 10


def test_validate_command_exit_codes(tmp_path: Path, run) -> None:
    code, out, _ = run("validate", str(_bad_course(tmp_path / "bad")))
    assert code == 1
    assert "week1.ipynb, cell 2" in out
    code, out, err = run("validate", str(write_course(tmp_path / "good")))
    assert code == 0, out + err
    assert "0 error(s)" in err
    code, out, _ = run("validate", "--json", str(tmp_path / "bad"))
    assert {p["severity"] for p in json.loads(out)} == {"error", "warning"}
    assert run("validate")[0] == 2  # no folder given: says how to call it
    assert run("validate", "--strict", str(tmp_path / "good"))[0] == 0


def test_init_scaffolds_a_course_that_validates(tmp_path: Path, run) -> None:
    folder = tmp_path / "new-course"
    code, _, err = run("init", str(folder), "--title", "Data: a first look")
    assert code == 0, err
    assert (folder / "tutor.yaml").exists() and (folder / "01-first-steps.ipynb").exists()
    course = read_course(folder)
    assert course.problems == []
    assert (course.config.name, course.config.title) == ("new-course", "Data: a first look")
    assert any(c.protected for c in course.notebooks[0].cells)
    code, _, err = run("init", str(folder))
    assert code == 1 and "already exists" in err


def test_publish_refuses_errors_and_replaces_the_snapshot(tmp_path: Path, database_url) -> None:
    with pytest.raises(PolicyError, match="error"):
        publish_course(database_url, _bad_course(tmp_path / "bad"), "bad")
    folder = write_course(tmp_path / "c")
    assert publish_course(database_url, folder, "course-a") == "course-a"
    (folder / "exam.ipynb").unlink()
    publish_course(database_url, folder, "course-a")
    with psycopg.connect(database_url) as conn:
        paths = conn.execute(
            "SELECT path FROM notebook_policies WHERE course_id = 'course-a'"
        ).fetchall()
        name = conn.execute("SELECT config->>'name' FROM course_policies").fetchone()[0]
    assert paths == [("week1/loops.ipynb",)]
    assert name == "course-a"


def test_a_course_tunes_its_output_guard(tmp_path: Path) -> None:
    folder = write_course(tmp_path / "course")
    with (folder / "tutor.yaml").open("a") as config:
        config.write("guard: {trigger_ratio: 0.5, memory_hours: 48}\n")
    course = read_course(folder)
    assert (course.config.guard_trigger_ratio, course.config.guard_memory_hours) == (0.5, 48)
    assert CourseConfig.from_json(course.config.to_json()) == course.config
    (folder / "tutor.yaml").write_text("name: x\nguard: {trigger_ratio: 2, window: 3}\n")
    problems = [str(p) for p in read_course(folder).problems]
    assert any("'trigger_ratio' must be more than 0 and at most 1" in p for p in problems)
    assert any("window" in p for p in problems)
