"""Ingesting course folders into a real PostgreSQL with pgvector, with the real local model:
incremental work, deleted and broken files, switching models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from course_fixtures import CountingEmbedder, HashingEmbedder, code, md, notebook_bytes
from psycopg_pool import ConnectionPool

from jupyter_tutor_hub.course.errors import CourseError
from jupyter_tutor_hub.course.ingest import ingest_course
from jupyter_tutor_hub.course.search import search
from jupyter_tutor_hub.db import Database

WHIRLWIND = ["06-Built-in-Data-Structures.ipynb", "09-Errors-and-Exceptions.ipynb"]


@pytest.fixture
def pool(database: Database) -> Iterator[ConnectionPool]:
    pool = database.open_pool()
    yield pool
    pool.close()


@pytest.fixture
def course_dir(tmp_path: Path, shared_courses: Path) -> Path:
    """Two real notebooks, a Markdown file and a Python file, in a writable folder."""
    folder = tmp_path / "course"
    (folder / "notebooks").mkdir(parents=True)
    for name in WHIRLWIND:
        shutil.copy(shared_courses / "whirlwind" / name, folder / "notebooks" / name)
    (folder / "README.md").write_text("# Whirlwind\n\nA tour of Python.\n")  # not material
    (folder / "cheatsheet.md").write_text("# Cheat sheet\n\nLists use `append`.\n")
    (folder / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "old.ipynb").write_text("{}")
    return folder


def rows(pool: ConnectionPool, sql: str, *params: object) -> list[tuple]:
    with pool.connection() as conn:
        return conn.execute(sql, params).fetchall()


def test_ingest_then_reingest_does_no_embedding_work(pool, course_dir) -> None:
    embedder = CountingEmbedder()
    first = ingest_course(pool, embedder, course_dir, "tour")
    assert first.files == 4 and first.files_changed == 4 and not first.skipped
    assert first.chunks_added == len(embedder.texts) == first.embedded > 10
    assert rows(pool, "SELECT embedding_model, embedding_dim, title FROM courses") == [
        ("sentence-transformers/all-MiniLM-L6-v2", 384, "tour")
    ]
    paths = {r[0] for r in rows(pool, "SELECT path FROM documents")}
    assert paths == {"cheatsheet.md", "helpers.py", *(f"notebooks/{n}" for n in WHIRLWIND)}
    stored = rows(
        pool,
        "SELECT count(*), count(v.chunk_id) FILTER (WHERE v.embedding_dim = 384)"
        " FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id",
    )
    assert stored == [(first.chunks_added, first.chunks_added)]

    embedder.texts.clear()
    again = ingest_course(pool, embedder, course_dir, "tour")
    assert embedder.texts == []
    assert (again.files_changed, again.chunks_added, again.chunks_removed) == (0, 0, 0)
    assert again.chunks_kept == first.chunks_added
    assert "0 changed" in str(again)


def test_a_changed_notebook_reembeds_only_its_changed_chunks(pool, course_dir) -> None:
    embedder = CountingEmbedder()
    ingest_course(pool, embedder, course_dir, "tour")
    path = course_dir / "notebooks" / "09-Errors-and-Exceptions.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[9].source = "2 / 0  # dividing by zero on purpose"
    notebook.cells.insert(20, nbformat.v4.new_markdown_cell("## A brand-new section\n\nNew."))
    nbformat.write(notebook, path)
    ids_before = dict(rows(pool, "SELECT content_hash, id FROM chunks"))

    embedder.texts.clear()
    summary = ingest_course(pool, embedder, course_dir, "tour")
    assert summary.files_changed == 1
    assert 2 <= summary.embedded == len(embedder.texts) <= 5
    assert any("dividing by zero on purpose" in t for t in embedder.texts)
    assert any("A brand-new section" in t for t in embedder.texts)
    # unchanged chunks keep their rows (and so their ids); the moved ones their new cells
    ids_after = dict(rows(pool, "SELECT content_hash, id FROM chunks"))
    kept = ids_before.keys() & ids_after.keys()
    assert len(kept) == summary.chunks_kept and all(ids_before[h] == ids_after[h] for h in kept)
    raise_cell = rows(
        pool, "SELECT cell_index FROM chunks WHERE text LIKE %s", "%MySpecialError(ValueError)%"
    )
    assert raise_cell == [(43,)]  # was cell 42, one cell was inserted above


def test_a_moved_file_reuses_its_embeddings(pool, course_dir) -> None:
    ingest_course(pool, CountingEmbedder(), course_dir, "tour")
    (course_dir / "notebooks").rename(course_dir / "lessons")
    embedder = CountingEmbedder()
    summary = ingest_course(pool, embedder, course_dir, "tour")
    assert embedder.texts == [] and summary.embedded == 0
    assert summary.files_removed == 2 and summary.chunks_added == summary.chunks_removed > 10
    dimensions = rows(
        pool, "SELECT DISTINCT embedding_dim, vector_dims(embedding) FROM chunk_vectors"
    )
    assert dimensions == [(384, 384)]
    # Each chunk has its one vector, with its visibility; removed chunks took theirs along.
    assert rows(
        pool,
        "SELECT count(*) FROM chunks c FULL JOIN chunk_vectors v ON v.chunk_id = c.id"
        " WHERE v.chunk_id IS NULL OR c.id IS NULL OR v.visibility <> c.visibility",
    ) == [(0,)]


def test_deleted_and_broken_files(pool, course_dir) -> None:
    ingest_course(pool, CountingEmbedder(), course_dir, "tour")
    (course_dir / "helpers.py").unlink()
    (course_dir / "notebooks" / "truncated.ipynb").write_bytes(
        notebook_bytes([md("# T"), code("x = 1")])[:40]
    )
    (course_dir / "notes.md").write_bytes("caf\xe9".encode("latin-1"))
    data_structures = course_dir / "notebooks" / WHIRLWIND[0]
    data_structures.write_bytes(data_structures.read_bytes()[:-500])  # now truncated too

    summary = ingest_course(pool, CountingEmbedder(), course_dir, "tour")
    assert summary.files_removed == 1 and summary.chunks_removed >= 1
    skipped = {s.path: s.reason for s in summary.skipped}
    assert set(skipped) == {"notebooks/truncated.ipynb", "notes.md", f"notebooks/{WHIRLWIND[0]}"}
    assert "not valid notebook JSON" in skipped["notebooks/truncated.ipynb"]
    assert "not UTF-8" in skipped["notes.md"]
    paths = {r[0] for r in rows(pool, "SELECT path FROM documents")}
    assert "helpers.py" not in paths
    assert f"notebooks/{WHIRLWIND[0]}" in paths  # its last good version stays searchable
    assert rows(
        pool,
        "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id"
        " WHERE d.path = 'helpers.py'",
    ) == [(0,)]


def test_switching_model_reembeds_with_its_own_index(pool, course_dir) -> None:
    ingest_course(pool, CountingEmbedder(), course_dir, "tour")
    ingest_course(pool, CountingEmbedder(), course_dir, "other")
    hashing = HashingEmbedder()
    summary = ingest_course(pool, hashing, course_dir, "tour")
    assert summary.embedded == summary.chunks_added > 10 and summary.chunks_kept == 0
    assert rows(pool, "SELECT id, embedding_model, embedding_dim FROM courses ORDER BY id") == [
        ("other", "sentence-transformers/all-MiniLM-L6-v2", 384),
        ("tour", "test/hashing-8", 8),
    ]
    assert rows(pool, "SELECT DISTINCT course_id, embedding_dim FROM chunk_vectors ORDER BY 1") == [
        ("other", 384),
        ("tour", 8),
    ]
    indexes = {
        r[0]
        for r in rows(pool, "SELECT indexname FROM pg_indexes WHERE tablename = 'chunk_vectors'")
    }
    assert {"chunk_vectors_embedding_384", "chunk_vectors_embedding_8"} <= indexes
    hits = search(pool, hashing, "tour", "tuple object does not support item assignment", k=3)
    assert hits and all(h.course == "tour" for h in hits)
    # searching with the old model now falls back to full text instead of failing
    assert search(pool, CountingEmbedder(), "tour", "tuple item assignment", k=3)


def test_a_missing_folder_is_a_clear_error(pool, tmp_path) -> None:
    with pytest.raises(CourseError, match="does not exist"):
        ingest_course(pool, CountingEmbedder(), tmp_path / "nope", "x")
