"""Searching courses: hybrid retrieval over the sample course, protected cells never
returned, course scoping, the gateway's async API and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from course_fixtures import CountingEmbedder, code, md, notebook_bytes, real_embedder
from psycopg_pool import ConnectionPool

from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.course.errors import CourseNotFound
from jupyter_tutor_hub.course.ingest import ingest_course
from jupyter_tutor_hub.course.search import (
    MODES,
    aprotected_passages,
    asearch,
    search,
)
from jupyter_tutor_hub.db import Database, EmbeddedPostgres, migrate

SAMPLE = sample_course_dir()
COURSE = "intro-python"
#: Protected cells of the sample course: (notebook, cell index, reason).
PROTECTED = [
    ("02-lists-and-loops.ipynb", 15, "nbgrader-solution"),
    ("02-lists-and-loops.ipynb", 16, "nbgrader-grade"),
    ("03-functions.ipynb", 8, "nbgrader-solution"),
    ("03-functions.ipynb", 9, "nbgrader-grade"),
    ("03-functions.ipynb", 12, "reference-solution"),
    ("04-errors-and-debugging.ipynb", 15, "hidden"),
]


@pytest.fixture(scope="module")
def database_url(pg_server: EmbeddedPostgres, tmp_path_factory) -> str:
    """One database for the module: the sample course and a second, small course."""
    url = pg_server.create_database(f"course_search_{os.getpid()}")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    other = tmp_path_factory.mktemp("other-course")
    (other / "lists.ipynb").write_bytes(
        notebook_bytes(
            [
                md("# Lists in another course\n\nAppending to a list uses `append`."),
                code("items = []\nitems.append(1)"),
            ]
        )
    )
    pool = Database(url=url).open_pool()
    try:
        ingest_course(pool, CountingEmbedder(), SAMPLE, COURSE)
        ingest_course(pool, CountingEmbedder(), other, "other-course")
    finally:
        pool.close()
    return url


@pytest.fixture(scope="module")
def pool(database_url: str) -> Iterator[ConnectionPool]:
    pool = Database(url=database_url).open_pool()
    yield pool
    pool.close()


@pytest.mark.parametrize(
    ("question", "path", "cell"),
    [
        ("my function prints the right answer but the variable is None", "03-functions", 3),
        ("how do I get the last item of a list?", "02-lists-and-loops", 1),
        ('TypeError: can only concatenate str (not "int") to str', "01-variables-and-types", 11),
        ("how do I stop a loop that never ends", "02-lists-and-loops", 12),
        (
            "---------------------------------------------------------------------------\n"
            "KeyError                                  Traceback (most recent call last)\n"
            "Cell In[4], line 3\n----> 3 ages['grace']\n\nKeyError: 'grace'",
            "04-errors-and-debugging",
            7,
        ),
    ],
)
def test_hybrid_search_finds_the_passage(pool, question, path, cell) -> None:
    hits = search(pool, real_embedder(), COURSE, question, k=3)
    assert (f"{path}.ipynb", cell) in [(h.path, h.cell) for h in hits], hits
    assert all(h.course == COURSE for h in hits)
    assert hits[0].score >= hits[-1].score


def test_hits_have_the_documented_shape(pool) -> None:
    hit = search(pool, real_embedder(), COURSE, "f-strings", k=1)[0]
    assert set(hit.to_dict()) == {"course", "path", "heading", "cell", "text", "score"}
    assert hit.heading == "Variables and Types › Strings"
    json.dumps(hit.to_dict())


@pytest.mark.parametrize("mode", MODES)
def test_protected_cells_are_never_returned(pool, mode) -> None:
    embedder = real_embedder()
    probes = [
        "### BEGIN SOLUTION total += n return total sum_evens",
        "assert describe_number(-3) == 'negative'",
        "count_vowels reference solution letter in aeiou count += 1",
        "Instructor: debugging drill answers off-by-one range(1, len(words))",
    ]
    for probe in probes:
        hits = search(pool, embedder, COURSE, probe, k=50, mode=mode)
        assert hits
        cited = {
            (h.path, c) for h in hits if h.cell is not None for c in range(h.cell, h.cell_end + 1)
        }
        assert not cited & {(path, cell) for path, cell, _ in PROTECTED}
        text = "\n".join(h.text for h in hits)
        for secret in ("total += n", "assert describe_number", "off-by-one", "in text.lower()"):
            assert secret not in text


def test_search_is_scoped_to_one_course(pool) -> None:
    question = "appending to a list in another course"
    other = search(pool, real_embedder(), "other-course", question, k=10)
    assert {h.path for h in other} == {"lists.ipynb"}
    sample = search(pool, real_embedder(), COURSE, question, k=50)
    assert "lists.ipynb" not in {h.path for h in sample}
    with pytest.raises(CourseNotFound, match="jupyter-tutor ingest"):
        search(pool, real_embedder(), "no-such-course", question)


def test_text_mode_needs_no_embedder(pool) -> None:
    hits = search(pool, None, COURSE, "ZeroDivisionError", k=2, mode="text")
    assert hits[0].path == "04-errors-and-debugging.ipynb"


async def test_async_search_and_protected_passages(database_url) -> None:
    pool = await Database(url=database_url).open_async_pool()
    try:
        question = "how do I read a traceback"
        hits = await asearch(pool, real_embedder(), COURSE, question, 4)
        with Database(url=database_url).open_pool() as sync_pool:
            assert hits == search(sync_pool, real_embedder(), COURSE, question, 4)

        passages = await aprotected_passages(pool, COURSE)
        assert [(p.path, p.cell, p.reason) for p in passages] == PROTECTED
        solution = passages[0]
        assert "total += n" in solution.text and solution.exercise == "sum_evens"
        assert solution.cell_id

        one = await aprotected_passages(pool, COURSE, "03-functions.ipynb")
        assert [p.cell for p in one] == [8, 9, 12]
        # a student's server may keep the course in a subfolder
        nested = await aprotected_passages(pool, COURSE, "courses/intro/03-functions.ipynb")
        assert nested == one
        assert await aprotected_passages(pool, COURSE, "x03-functions.ipynb") == []
        assert await aprotected_passages(pool, "other-course") == []
    finally:
        await pool.close()


def test_command_line_ingest_and_search(empty_database_url, tmp_path) -> None:
    """The commands as an instructor runs them, with a configured (light) embedder."""
    env = {
        **os.environ,
        "TUTOR_DATABASE_URL": empty_database_url,
        "TUTOR_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(Path(__file__).resolve().parent),
    }
    embedder = "--CourseApp.embedder_class=course_fixtures.HashingEmbedder"
    command = [str(Path(sys.executable).parent / "jupyter-tutor")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, done.stderr
        return done

    # the course name comes from tutor.yaml; the schema is migrated on the way
    ingest = run("ingest", str(SAMPLE), "--json", "--no-progress", embedder)
    summary = json.loads(ingest.stdout)
    assert summary["course"] == COURSE and summary["chunks_added"] > 20

    questions = tmp_path / "questions.txt"
    questions.write_text("what is an f-string\n\nhow do I catch a ValueError\n")
    answers = run("search", "--course", COURSE, "--queries", str(questions), "-k", "2", embedder)
    lines = [json.loads(line) for line in answers.stdout.splitlines()]
    assert [line["question"] for line in lines] == [
        "what is an f-string",
        "how do I catch a ValueError",
    ]
    assert all(len(line["hits"]) == 2 for line in lines)
    assert {hit["path"] for line in lines for hit in line["hits"]} <= {
        path.name for path in SAMPLE.iterdir()
    }

    found = run("search", "--course", COURSE, "-k", "3", "--json", "--mode", "text", "KeyError")
    hits = json.loads(found.stdout)
    assert len(hits) == 1 and hits[0]["cell"] == 7  # the one passage with that word

    missing = subprocess.run(
        [*command, "search", "--course", "nope", "--mode", "text", "anything"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert missing.returncode == 1 and "jupyter-tutor ingest" in missing.stderr
