"""``jupyter-tutor course release``: the student version of a course holds no solution.

On the sample course and on nbgrader-style notebooks: solution regions inside a function
and whole solution cells become the stub, hidden tests and hidden cells go, the tutor's
instructor metadata is reduced to what students may see, and cell ids are kept so the
published policy still finds each cell.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from policy_fixtures import NOTE, SOLUTION, write_course

from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.policy.release import release_course
from jupyter_tutor_hub.policy.resolve import find_cell

SECRET = "instructor-only-secret"


def every_text(folder: Path) -> str:
    """Every file's text; a notebook's as its cells' sources, outputs and metadata."""
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text())
            texts += [json.dumps(nb["metadata"])]
            for cell in nb["cells"]:
                source = cell["source"]
                texts.append(source if isinstance(source, str) else "".join(source))
                texts.append(json.dumps([cell["metadata"], cell.get("outputs")]))
        else:
            texts.append(path.read_text())
    return "\n".join(texts)


def test_release_of_the_sample_course(tmp_path: Path) -> None:
    source = sample_course_dir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_tutor.cli",
            "course",
            "release",
            str(source),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # The released folder names its course, for the student's server to report.
    assert (tmp_path / "out" / ".tutor-course").read_text() == "intro-python\n"
    assert "replaced by the stub" in done.stdout
    out = tmp_path / "out"
    released = every_text(out)
    assert not re.search(r"^\s*#+ BEGIN SOLUTION", released, re.MULTILINE)
    assert "raise NotImplementedError()" in released
    assert not (out / "tutor.yaml").exists()
    for path in source.glob("*.ipynb"):
        original = json.loads(path.read_text())
        student = json.loads((out / path.name).read_text())
        for cell in student["cells"]:
            assert set(cell["metadata"].get("tutor", {})) <= {"exercise", "policy"}
        notes = [
            n
            for c in original["cells"]
            for n in [c.get("metadata", {}).get("tutor", {}).get("notes")]
            if isinstance(n, str)
        ]
        for note in notes:
            assert note not in released
        # Kept ids: the published policy of every released cell is found again.
        ids = {c.get("id") for c in original["cells"]}
        assert all(c.get("id") in ids for c in student["cells"])
    # The graded solution of the sample course is gone, the stub keeps its signature.
    assert 'return "negative"' not in released
    assert "def describe_number(n):\n    # YOUR CODE HERE" in released


def nbgrader_course(folder: Path) -> Path:
    """A course of nbgrader-style cells: a region in a function, a whole solution cell,
    a Markdown answer, hidden tests, a hidden cell and a hidden notebook."""
    write_course(folder)
    nb = new_notebook()
    nb.metadata["tutor"] = {"objectives": ["slicing"], "notes": SECRET}
    nb.cells = [
        new_markdown_cell("## Exercise 3", metadata={"tutor": {"exercise": "Exercise 3"}}),
        new_code_cell(
            "def last_two(items):\n    '''The last two items.'''\n    ### BEGIN SOLUTION\n"
            "    return items[-2:]\n    ### END SOLUTION\n",
            metadata={"nbgrader": {"solution": True, "grade_id": "last_two", "grade": False}},
        ),
        new_code_cell(
            "class Stack:\n    def __init__(self):\n        self.items = []\n",
            metadata={"nbgrader": {"solution": True, "grade_id": "stack", "grade": False}},
        ),
        new_markdown_cell(
            "Because slicing never raises.",
            metadata={"nbgrader": {"solution": True, "grade_id": "why", "grade": False}},
        ),
        new_code_cell(
            "assert last_two([1, 2, 3]) == [2, 3]\n### BEGIN HIDDEN TESTS\n"
            "assert last_two([]) == []\n### END HIDDEN TESTS\n",
            metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}},
            outputs=[new_output("stream", name="stdout", text="ok\n")],
        ),
        new_code_cell(f"# {SECRET}\nprint(42)", metadata={"tutor": {"hidden": True}}),
    ]
    nbformat.write(nb, folder / "week2.ipynb")
    hidden = new_notebook(metadata={"tutor": {"hidden": True}})
    hidden.cells = [new_markdown_cell(SECRET)]
    nbformat.write(hidden, folder / "answers.ipynb")
    (folder / "helpers.py").write_text(
        "def helper():\n    ### BEGIN SOLUTION\n    return 'secret-helper'\n    ### END SOLUTION\n"
    )
    return folder


def test_release_of_nbgrader_style_notebooks(tmp_path: Path) -> None:
    source = nbgrader_course(tmp_path / "course")
    summary = release_course(source, tmp_path / "out", stub="pass  # your code")
    out = tmp_path / "out"
    released = every_text(out)
    for secret in (SECRET, NOTE, "items[-2:]", "self.items = []", "slicing never", "([]) == []"):
        assert secret not in released, secret
    assert "secret-helper" not in released
    assert not (out / "answers.ipynb").exists()
    assert summary.notebooks_left_out == ["answers.ipynb"]
    assert summary.hidden_tests_removed == 1 and summary.cells_removed == 1
    cells = nbformat.read(out / "week2.ipynb", as_version=4).cells
    assert (
        cells[1].source
        == "def last_two(items):\n    '''The last two items.'''\n    pass  # your code\n"
    )
    assert cells[2].source == "class Stack:\n    pass  # your code\n"
    assert cells[3].source == "YOUR ANSWER HERE"
    assert cells[4].source == "assert last_two([1, 2, 3]) == [2, 3]\n" and cells[4].outputs == []
    assert len(cells) == 5  # the hidden cell is gone
    loops = nbformat.read(out / "week1" / "loops.ipynb", as_version=4)
    assert "total += 1" not in loops.cells[4].source and SOLUTION not in released
    assert "notes" not in json.dumps(loops.metadata) and "objectives" not in json.dumps(
        loops.cells[2].metadata
    )


def test_the_published_policy_finds_released_cells(tmp_path: Path) -> None:
    """Cells removed before a cell do not move its policy: lookups go by cell id."""
    from jupyter_tutor_hub.policy.config import read_course
    from jupyter_tutor_hub.policy.resolve import Situation, TurnContext

    source = nbgrader_course(tmp_path / "course")
    release_course(source, tmp_path / "out")
    published = {n.path: n for n in read_course(source).notebooks}["week2.ipynb"]
    student = nbformat.read(tmp_path / "out" / "week2.ipynb", as_version=4)
    for index, cell in enumerate(student.cells):
        situation = Situation(turn=TurnContext(cell_index=index), cell_id=cell["id"])
        assert find_cell(published, situation).id == cell["id"]


def test_the_demo_copies_the_released_course_into_homes(tmp_path: Path) -> None:
    """What a demo student's server holds (and ``read_notebook`` reads) is the release of
    the courses they are in; the demo's hub groups say who is in which course."""
    from types import SimpleNamespace

    from traitlets.config import Config

    from jupyter_tutor_hub.apps.demo import SAMPLE_COURSES, released_sample_course
    from jupyter_tutor_hub.hubconfig import apply_demo_config

    courses = [
        {"name": name, "dir": str(released_sample_course(tmp_path, name)), **members}
        for name, members in SAMPLE_COURSES.items()
    ]
    c = Config()
    env = {
        "TUTOR_DATA_DIR": str(tmp_path),
        "TUTOR_DEMO_PASSWORD": "x",
        "TUTOR_DEMO_COURSES": json.dumps(courses),
        "TUTOR_DEFAULT_COURSE": "intro-python",
    }
    apply_demo_config(c, env)
    for user in ("student1", "student2", "student3", "instructor2"):
        c.Spawner.pre_spawn_hook(SimpleNamespace(user=SimpleNamespace(name=user)))
    homes = tmp_path / "users"
    home = homes / "student1" / "intro-python"
    assert sorted(p.name for p in home.glob("*.ipynb")) == sorted(
        p.name for p in sample_course_dir().glob("*.ipynb")
    )
    copied = every_text(home)
    assert 'return "negative"' not in copied and "# YOUR CODE HERE" in copied
    assert not (home / "tutor.yaml").exists()
    # Each student holds the courses they are in, each folder marked with its course.
    held = {u: sorted(p.name for p in (homes / u).iterdir()) for u in ("student1", "student2")}
    assert held == {"student1": ["intro-python"], "student2": ["data-python"]}
    assert sorted(p.name for p in (homes / "student3").iterdir()) == [
        "data-python",
        "intro-python",
    ]
    marker = homes / "student2" / "data-python" / ".tutor-course"
    assert marker.read_text().split()[0] == "data-python"
    assert "return {key: sums[key]" not in every_text(homes / "student2" / "data-python")
    groups = c.JupyterHub.load_groups
    assert groups["nbgrader-data-python"]["users"] == ["student2", "student3"]
    assert groups["formgrade-data-python"]["users"] == ["instructor2"]
    assert "instructor2" in c.Authenticator.allowed_users
    [role] = [r for r in c.JupyterHub.load_roles if r["name"] == "tutor-instructor"]
    assert "formgrade-data-python" in role["groups"]
