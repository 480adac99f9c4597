"""Chunking course files: notebooks along their own structure, Markdown, Python; the
tricky cases (no headings, huge outputs, broken files, odd Unicode) and protection."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis.strategies as st
import nbformat
import pytest
from course_fixtures import code, md, notebook_bytes
from hypothesis import HealthCheck, given, settings

from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.course.chunker import Chunker, Document
from jupyter_tutor_hub.course.chunks import split_long
from jupyter_tutor_hub.course.errors import UnreadableFile
from jupyter_tutor_hub.course.query import clean_question

CHUNKER = Chunker()


def chunk(cells, name="week1/lesson.ipynb", **metadata) -> Document:
    return CHUNKER.chunk(name, notebook_bytes(cells, **metadata))


def assert_valid(document: Document, n_cells: int) -> None:
    for c in document.chunks:
        assert 0 <= c.cell_index <= c.cell_end < n_cells
        assert c.text.strip()
        assert len(c.text) <= CHUNKER.max_chars + 20
    assert [c.ordinal for c in document.chunks] == list(range(len(document.chunks)))


# --- real notebooks --------------------------------------------------------------------


def test_a_real_notebook_is_chunked_along_its_headings(shared_courses: Path) -> None:
    path = shared_courses / "whirlwind" / "09-Errors-and-Exceptions.ipynb"
    notebook = nbformat.read(path, as_version=4)
    document = CHUNKER.chunk(path.name, path.read_bytes())
    assert document.title == "Errors and Exceptions"
    assert_valid(document, len(notebook.cells))
    headings = {c.heading for c in document.chunks}
    assert "Errors and Exceptions › Runtime Errors" in headings
    assert (
        "Errors and Exceptions › Diving Deeper into Exceptions › Defining custom exceptions"
        in headings
    )
    # every cell with content is in some chunk, and the chunk cites the right cell
    covered = {i for c in document.chunks for i in range(c.cell_index, c.cell_end + 1)}
    assert {i for i, cell in enumerate(notebook.cells) if cell.source.strip()} <= covered
    runtime = next(c for c in document.chunks if "print(Q)" in c.text)
    assert runtime.cell_index <= 5 <= runtime.cell_end  # print(Q) is cell 5
    assert "NameError: name 'Q' is not defined" in runtime.text  # the error output is kept
    assert runtime.metadata.get("cell_id") == notebook.cells[runtime.cell_index].get("id")


def test_every_shared_notebook_chunks_without_error(shared_courses: Path) -> None:
    for path in sorted(shared_courses.rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        document = CHUNKER.chunk(path.name, path.read_bytes())
        assert document.chunks, path
        assert_valid(document, len(notebook.cells))
        assert "base64" not in " ".join(c.text for c in document.chunks)
        assert all(c.visibility == "student" for c in document.chunks)


# --- structure ---------------------------------------------------------------------------


def test_a_notebook_without_headings_is_titled_by_its_file_name() -> None:
    document = chunk([md("Some words."), code("x = 1"), md("More words.")], name="a/loops.ipynb")
    assert document.title == "loops"
    assert {c.heading for c in document.chunks} == {"loops"}
    assert_valid(document, 3)


def test_a_cell_with_several_headings_gives_chunks_with_its_index() -> None:
    cells = [
        md("# Title\n\nIntro."),
        md("## First\n\nOne.\n\n## Second\n\nTwo.\n\n### Deeper\n\nThree."),
        code("print(2)"),
    ]
    document = chunk(cells)
    found = [(c.heading, c.cell_index) for c in document.chunks]
    assert found == [
        ("Title", 0),
        ("Title › First", 1),
        ("Title › Second", 1),
        ("Title › Second › Deeper", 1),
    ]
    assert document.chunks[-1].cell_end == 2  # the code cell joins the open section


def test_a_hash_comment_in_a_fenced_block_is_not_a_heading() -> None:
    document = chunk([md("# Title\n\n```python\n# not a heading\nx = 1\n```"), md("Text.")])
    assert {c.heading for c in document.chunks} == {"Title"}


def test_a_lone_heading_before_its_subsection_is_not_a_chunk_of_its_own() -> None:
    document = chunk([md("# Title\n\nIntro."), md("## Part"), md("### Piece\n\nWords.")])
    assert [c.heading for c in document.chunks] == ["Title", "Title › Part › Piece"]


def test_empty_and_raw_cells() -> None:
    raw = nbformat.v4.new_raw_cell(".. note:: raw reStructuredText")
    cells = [md("# T"), code(""), md("   "), raw, code("y = 2")]
    document = chunk(cells)
    assert_valid(document, len(cells))
    text = "\n".join(c.text for c in document.chunks)
    assert "raw reStructuredText" in text and "y = 2" in text


def test_long_cells_are_split_with_their_fences_closed() -> None:
    source = "\n".join(f"value_{i} = {i} * 2  # a fairly long line of code" for i in range(200))
    document = chunk([md("# Big"), code(source)])
    assert len(document.chunks) > 5
    assert_valid(document, 2)
    for c in document.chunks:
        assert c.text.count("```") % 2 == 0, c.text
        assert c.cell_index <= 1 <= c.cell_end


def test_split_long_keeps_short_text_whole() -> None:
    assert split_long("short", 100) == ["short"]
    assert all(len(p) <= 60 for p in split_long("x" * 1000, 60))


# --- outputs -------------------------------------------------------------------------------


def test_text_outputs_are_trimmed_and_images_and_widgets_dropped() -> None:
    huge = "\n".join(f"line {i}" for i in range(50_000))
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": huge},
        {
            "output_type": "display_data",
            "data": {"image/png": "iVBORw0KGgo" * 1000, "text/plain": "<Figure size 640x480>"},
            "metadata": {},
        },
        {
            "output_type": "display_data",
            "data": {
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
                "text/plain": "IntSlider(value=3)",
            },
            "metadata": {},
        },
        {
            "output_type": "error",
            "ename": "ValueError",
            "evalue": "bad value",
            "traceback": ["\x1b[0;31mValueError\x1b[0m: bad value"],
        },
    ]
    widgets = {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {"x": "y" * 9999}}}}
    document = chunk([md("# Out"), code("run()", outputs)], widgets=widgets)
    text = "\n".join(c.text for c in document.chunks)
    assert "line 0" in text and "line 49999" in text and "characters trimmed" in text
    assert len(text) < 2 * CHUNKER.max_chars
    assert "iVBOR" not in text and "Figure size" not in text
    assert "IntSlider" not in text and "yyyy" not in text
    assert "ValueError: bad value" in text and "\x1b" not in text


# --- broken files and odd text -----------------------------------------------------------


def test_a_truncated_notebook_is_reported() -> None:
    data = notebook_bytes([md("# T"), code("x = 1")])
    with pytest.raises(UnreadableFile, match=r"not valid notebook JSON.*truncated"):
        CHUNKER.chunk("broken.ipynb", data[: len(data) // 2])


@pytest.mark.parametrize("name", ["latin1.ipynb", "latin1.md", "latin1.py"])
def test_a_file_that_is_not_utf8_is_reported(name: str) -> None:
    with pytest.raises(UnreadableFile, match="not UTF-8"):
        CHUNKER.chunk(name, "# Café\n\nthé".encode("latin-1"))


@pytest.mark.parametrize(
    "data", [b"[1, 2]", b'{"nbformat": 4, "cells": "no"}', b'{"nbformat": 99}', b""]
)
def test_json_that_is_not_a_notebook_is_reported(data: bytes) -> None:
    with pytest.raises(UnreadableFile):
        CHUNKER.chunk("odd.ipynb", data)


def test_odd_unicode_is_kept_or_cleaned() -> None:
    notebook = json.loads(notebook_bytes([md("# Ünïcödé ✓ 中文"), code("print('😀')")]))
    notebook["cells"][1]["source"] = "s = 'nul \u0000 and lone \ud800 surrogate'"
    data = json.dumps(notebook).encode("utf-8")  # \u0000 and \ud800 as JSON escapes
    document = CHUNKER.chunk("u.ipynb", data)
    text = "\n".join(c.text for c in document.chunks)
    assert document.title == "Ünïcödé ✓ 中文"
    assert "\x00" not in text and "\ud800" not in text and "lone" in text
    text.encode("utf-8")  # valid UTF-8 throughout


# --- protected cells ---------------------------------------------------------------------


def nbgrader(grade_id: str, **flags: bool) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "locked": False} | flags}


def test_graded_and_hidden_cells_become_protected_chunks_of_their_own() -> None:
    cells = [
        md("# Exercise\n\nWrite `double`.", **nbgrader("prompt", solution=False, grade=False)),
        code(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            **nbgrader("double", solution=True, grade=False),
        ),
        code("assert double(2) == 4", **nbgrader("double_tests", solution=False, grade=True)),
        code("SECRET_REFERENCE = 1", tutor={"solution": True, "exercise": "ex-1"}),
        md("Instructor only: SECRET_NOTE", tutor={"hidden": True}),
        md("Visible again.", tutor={"notes": "Watch out for strings."}),
    ]
    document = chunk(cells)
    protected = [c for c in document.chunks if c.visibility == "protected"]
    assert [(c.cell_index, c.cell_end, c.metadata["protected_reason"]) for c in protected] == [
        (1, 1, "nbgrader-solution"),
        (2, 2, "nbgrader-grade"),
        (3, 3, "reference-solution"),
        (4, 4, "hidden"),
    ]
    assert [c.metadata.get("exercise") for c in protected[:3]] == ["double", "double_tests", "ex-1"]
    assert all(c.metadata["cell_id"] == cells[c.cell_index].id for c in protected)
    student = "\n".join(c.text for c in document.chunks if c.visibility == "student")
    for secret in ("return 2 * x", "assert double", "SECRET_REFERENCE", "SECRET_NOTE"):
        assert secret not in student
    last = document.chunks[-1]
    assert last.visibility == "student"
    assert last.metadata["tutor_notes"] == ["Watch out for strings."]


def test_a_hidden_notebook_is_protected_as_a_whole() -> None:
    document = chunk([md("# Answers"), code("x = 42")], tutor={"hidden": True})
    assert {c.visibility for c in document.chunks} == {"protected"}
    assert document.metadata == {"tutor": {"hidden": True}}


def test_the_sample_course_protects_its_solutions() -> None:
    folder = sample_course_dir()
    reasons = set()
    for path in sorted(folder.glob("*.ipynb")):
        document = CHUNKER.chunk(path.name, path.read_bytes())
        for c in document.chunks:
            if "BEGIN SOLUTION" in c.text or "assert " in c.text:
                assert c.visibility == "protected", (path.name, c.text)
            reasons.add(c.metadata.get("protected_reason"))
    assert {"nbgrader-solution", "nbgrader-grade", "reference-solution", "hidden"} <= reasons


# --- Markdown and Python files -----------------------------------------------------------


def test_markdown_files_are_chunked_by_section() -> None:
    text = "# Guide\n\nIntro.\n\n## Setup\n\nInstall it.\n\n```bash\n# comment\n```\n\n"
    text += "## Use\n\nRun."
    document = CHUNKER.chunk("docs/guide.md", text.encode())
    assert [(c.heading, c.metadata["line"], c.cell_index) for c in document.chunks] == [
        ("Guide", 1, None),
        ("Guide › Setup", 5, None),
        ("Guide › Use", 13, None),
    ]


def test_python_files_are_chunked_by_definition() -> None:
    source = (
        '"""Helpers."""\nimport math\n\n\n@cache\ndef area(r):\n    return math.pi * r**2\n\n\n'
        "class Shape:\n    pass\n"
    )
    document = CHUNKER.chunk("lib/shapes.py", source.encode())
    assert [(c.heading, c.metadata["line"]) for c in document.chunks] == [
        ("shapes.py", 1),
        ("shapes.py › area()", 5),
        ("shapes.py › Shape", 10),
    ]
    broken = CHUNKER.chunk("lib/broken.py", b"def oops(:\n    pass\n")
    assert broken.chunks and "def oops" in broken.chunks[0].text


# --- questions -----------------------------------------------------------------------------


def test_traceback_noise_is_removed_from_questions() -> None:
    question = (
        "why?\n---------------------------------------------------------------------------\n"
        "\x1b[0;31mZeroDivisionError\x1b[0m                 Traceback (most recent call last)\n"
        "Cell In[3], line 1\n----> 1 average([])\n\n"
        "File /home/me/venv/lib/python3.11/site-packages/stats/core.py:12, in average(values)\n"
        '  File "/home/me/notebook.py", line 4, in average\n'
        "ZeroDivisionError: division by zero"
    )
    cleaned = clean_question(question)
    assert cleaned.splitlines() == [
        "why?",
        "ZeroDivisionError",
        "average([])",
        "ZeroDivisionError: division by zero",
    ]
    assert clean_question("11 // 2 gives 5\n  2 spaces") == "11 // 2 gives 5\n2 spaces"


# --- properties ----------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
_lines = st.lists(
    st.one_of(_text, st.sampled_from(["# H1", "## H2", "### H3", "```", "---", "    x"])),
    max_size=8,
).map("\n".join)
_flags = st.fixed_dictionaries(
    {},
    optional={
        "nbgrader": st.fixed_dictionaries(
            {"solution": st.booleans(), "grade": st.booleans(), "grade_id": st.text(max_size=5)}
        ),
        "tutor": st.fixed_dictionaries(
            {}, optional={"hidden": st.booleans(), "solution": st.booleans()}
        ),
    },
)
_cells = st.lists(
    st.tuples(st.sampled_from(["markdown", "code", "raw"]), _lines, _flags), max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=_cells, max_chars=st.integers(80, 1500))
def test_any_notebook_gives_valid_chunks(cells, max_chars) -> None:
    make = {
        "markdown": nbformat.v4.new_markdown_cell,
        "code": nbformat.v4.new_code_cell,
        "raw": nbformat.v4.new_raw_cell,
    }
    nb_cells = [make[kind](source, metadata=meta) for kind, source, meta in cells]
    document = Chunker(max_chars=max_chars).chunk("p.ipynb", notebook_bytes(nb_cells))
    for c in document.chunks:
        assert 0 <= c.cell_index <= c.cell_end < len(nb_cells)
        assert c.text.strip() and c.heading
        if c.visibility == "protected":
            assert c.cell_index == c.cell_end  # one protected cell per chunk, alone
            meta = nb_cells[c.cell_index].metadata
            assert meta.get("nbgrader") or meta.get("tutor")
