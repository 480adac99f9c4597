"""``jupyter-tutor ingest`` applies ``course validate``'s protection rules.

A cell holding a ``### BEGIN SOLUTION`` marker that its metadata does not protect is an
error for ``validate`` and ``publish``; ``ingest`` stores it as protected (never
student-visible), reports it by file and cell and counts it in its summary, and with
``--strict`` refuses the course.  ``search`` then never returns the solution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import psycopg
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SECRET_LINE = "return sorted(set(words), key=str.lower)"


def unprotected_course(folder: Path) -> Path:
    folder.mkdir()
    (folder / "tutor.yaml").write_text("name: leaky\ntitle: Leaky course\n")
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Words\n\n## Exercise: unique words\n\nReturn the unique words."),
        new_code_cell(
            "def unique_words(words):\n    ### BEGIN SOLUTION\n"
            f"    {SECRET_LINE}\n    ### END SOLUTION\n"
        ),
    ]
    nbformat.write(nb, folder / "words.ipynb")
    return folder


def test_ingest_protects_an_unprotected_solution(empty_database_url, tmp_path) -> None:
    course = unprotected_course(tmp_path / "course")
    env = {
        **os.environ,
        "TUTOR_DATABASE_URL": empty_database_url,
        "TUTOR_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(Path(__file__).resolve().parent),
    }
    embedder = "--CourseApp.embedder_class=course_fixtures.HashingEmbedder"
    command = [str(Path(sys.executable).parent / "jupyter-tutor")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=240, check=False
        )

    strict = run("ingest", str(course), "--strict", "--no-progress", embedder)
    assert strict.returncode == 1
    assert "words.ipynb, cell 2" in strict.stderr and "unprotected solution" in strict.stderr

    done = run("ingest", str(course), "--json", "--no-progress", embedder)
    assert done.returncode == 0, done.stderr
    assert "words.ipynb, cell 2 holds a solution marker" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["protected_solutions"] == ["words.ipynb, cell 2"]
    with psycopg.connect(empty_database_url) as conn:
        visibility = conn.execute(
            "SELECT visibility, metadata->>'protected_reason' FROM chunks WHERE text LIKE %s",
            (f"%{SECRET_LINE}%",),
        ).fetchall()
    assert visibility == [("protected", "unmarked-solution")]
    found = run("search", "--course", "leaky", "--json", "--mode", "text", "unique words sorted")
    assert found.returncode == 0, found.stderr
    assert SECRET_LINE not in found.stdout
    text = run("ingest", str(course), "--no-progress", embedder)
    assert "1 unmarked solution cell(s) stored as protected" in text.stdout
