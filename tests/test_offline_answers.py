"""The offline responder on the sample course: real retrieval, the real embedding model and
the relevance cut-off the gateway ships with (measured in bench/relevance_cutoff.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from course_fixtures import CountingEmbedder, real_embedder
from psycopg_pool import ConnectionPool

from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.course.ingest import course_files, ingest_course
from jupyter_tutor_hub.course.search import search
from jupyter_tutor_hub.db import Database, EmbeddedPostgres, migrate
from jupyter_tutor_hub.gateway.offline import NOT_COVERED, NOTICE, offline_answer, relevant
from jupyter_tutor_hub.gateway.service import TutorGateway
from jupyter_tutor_hub.policy.config import read_course

COURSE = "intro-python"
CUTOFF = TutorGateway.offline_min_similarity.default_value
AVOID = read_course(sample_course_dir()).config.avoid


@pytest.fixture(scope="module")
def pool(pg_server: EmbeddedPostgres) -> Iterator[ConnectionPool]:
    url = pg_server.create_database(f"offline_{os.getpid()}")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    pool = Database(url=url).open_pool()
    ingest_course(pool, CountingEmbedder(), sample_course_dir(), COURSE)
    yield pool
    pool.close()


def answer(pool: ConnectionPool, question: str) -> str:
    hits = search(pool, real_embedder(), COURSE, question, k=4)
    return offline_answer(question, relevant(hits, CUTOFF), avoid=AVOID)


def test_a_covered_question_gets_an_extract_with_its_code_and_see_also(pool) -> None:
    text = answer(pool, "how do I add an item to the end of a list?")
    assert text.startswith(NOTICE)
    assert "From the course, **Lists and Loops › Lists**" in text
    assert "```python\nfruits.append(" in text  # code stays code, not one line of prose
    assert text.count("```") % 2 == 0
    assert "cell None" not in text


def test_off_topic_questions_are_declined_honestly(pool) -> None:
    for question in ("how do I bake sourdough bread?", "what is the capital of Peru?"):
        text = answer(pool, question)
        assert NOT_COVERED in text
        assert "From the course" not in text


def test_the_avoid_list_is_respected(pool) -> None:
    text = answer(pool, "what is a list comprehension?")
    assert "does not cover **list comprehensions** yet" in text
    assert "From the course" not in text and "See also" not in text


def test_an_error_is_explained_with_its_passage(pool) -> None:
    text = answer(pool, "KeyError: 'grace' when I look up ages['grace']")
    assert "**KeyError**:" in text
    assert "KeyError" in text.split("From the course", 1)[1]


def test_cells_are_counted_from_one_for_people(pool) -> None:
    hits = relevant(search(pool, real_embedder(), COURSE, "how do I add to a list?", k=1), CUTOFF)
    assert f"cell {hits[0].cell + 1})" in offline_answer("q", hits)


def test_readme_is_not_course_material_unless_named(tmp_path) -> None:
    (tmp_path / "README.md").write_text("# About this repository\n")
    (tmp_path / "LICENSE.md").write_text("CC0\n")
    (tmp_path / "week1.md").write_text("# Loops\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("# Reading notes\n")
    names = [p.relative_to(tmp_path).as_posix() for p in course_files(tmp_path)]
    assert names == ["week1.md", "notes/README.md"]
    named = course_files(tmp_path, index_also=["README.md"])
    assert "README.md" in [p.relative_to(tmp_path).as_posix() for p in named]
    assert "README.md" not in [p.name for p in course_files(sample_course_dir())]
