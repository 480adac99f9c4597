"""Ingest a course folder into the database, incrementally.

Each file's bytes are hashed (with the chunker's settings): an unchanged file costs one
hash and nothing else, so re-ingesting an unchanged course needs no model at all.  A
changed file is re-chunked; chunks whose content hash is already stored keep their
embedding (even when they moved, or came from another file of the course), only new
content is embedded.  Files that vanished take their chunks with them.  A file that
cannot be read is reported and skipped, and its earlier version stays indexed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from tqdm import tqdm

from jupyter_tutor.notebooks import cell_label

from ..db import one_row
from .chunker import KINDS, Chunker, Document
from .chunks import Chunk
from .embedder import Embedder
from .errors import CourseError, UnreadableFile
from .vector_index import ensure_vector_index

_module_log = logging.getLogger(__name__)

#: Folders never indexed (besides hidden ones such as .git and .ipynb_checkpoints).
SKIPPED_FOLDERS = {"__pycache__", "node_modules"}
#: Files at a course's top level that describe the folder rather than teach (a README
#: talks about the course or the product): not indexed unless the course names them.
NOT_MATERIAL = ("README", "LICENSE", "LICENCE", "CHANGELOG", "CONTRIBUTING")

_COURSE_LOCK = 7246  # first key of the per-course advisory lock; the second is the name


@dataclass(frozen=True)
class SkippedFile:
    """A course file that could not be indexed, and why."""

    path: str
    reason: str


@dataclass
class IngestSummary:
    """What one ingest did."""

    course: str
    files: int = 0
    files_changed: int = 0
    files_removed: int = 0
    chunks_added: int = 0
    chunks_kept: int = 0
    chunks_removed: int = 0
    #: Passages actually run through the model (the rest reused stored embeddings).
    embedded: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    #: Cells ("path, cell N") stored as protected although their metadata did not say so.
    protected_solutions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        protected = (
            f"; {len(self.protected_solutions)} unmarked solution cell(s) stored as protected"
            if self.protected_solutions
            else ""
        )
        return (
            f"{self.course}: {self.files} files ({self.files_changed} changed, "
            f"{self.files_removed} removed{skipped}); chunks {self.chunks_added} added, "
            f"{self.chunks_kept} kept, {self.chunks_removed} removed; "
            f"{self.embedded} embedded{protected}; {self.seconds:.1f} s"
        )


def course_files(course_dir: Path, index_also: Sequence[str] = ()) -> list[Path]:
    """The files of a course that are indexed, in a stable order: its notebooks, Markdown
    and Python files, without the top-level README and the like unless ``index_also``
    (course-relative paths) names them."""
    found: list[Path] = []
    for root, folders, files in os.walk(course_dir):
        folders[:] = sorted(
            f for f in folders if not f.startswith(".") and f not in SKIPPED_FOLDERS
        )
        found.extend(
            Path(root, name)
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix in KINDS
        )
    named = {Path(course_dir, path).resolve() for path in index_also}
    return [
        path
        for path in found
        if path.resolve() in named
        or path.parent.resolve() != Path(course_dir).resolve()
        or not path.stem.upper().startswith(NOT_MATERIAL)
    ]


def ingest_course(
    pool: ConnectionPool,
    embedder: Embedder,
    course_dir: Path,
    course: str,
    *,
    title: str | None = None,
    index_also: Sequence[str] = (),
    chunker: Chunker | None = None,
    progress: bool = False,
    log: logging.Logger | None = None,
    protect: Mapping[str, Iterable[int]] | None = None,
) -> IngestSummary:
    """Bring the index of ``course`` in line with the files under ``course_dir``.

    ``title`` is the course's title for people (from its ``tutor.yaml``, read by the caller:
    the course layer does not read policy); the course name when not given.
    ``index_also`` names files to index that are not course material by default.
    ``protect`` maps notebook paths to cells that must be stored as protected although
    their metadata does not say so (the policy layer's validation found a solution there).
    """
    started = time.monotonic()
    log = log or _module_log
    chunker = chunker or Chunker()
    course_dir = Path(course_dir).resolve()
    if not course_dir.is_dir():
        raise CourseError(f"The course folder {course_dir} does not exist or is not a folder.")
    title = title or course
    files = course_files(course_dir, index_also)
    summary = IngestSummary(course=course, files=len(files))
    with pool.connection() as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_COURSE_LOCK, course))
        try:
            _register_course(conn, embedder, course, title, course_dir, log)
            known = _known_documents(conn, course)
            bar = tqdm(
                files, desc=f"Indexing {course}", unit="file", disable=not progress, file=sys.stderr
            )
            for file in bar:
                path = file.relative_to(course_dir).as_posix()
                bar.set_postfix_str(path, refresh=False)
                cells = frozenset((protect or {}).get(path, ()))
                summary.protected_solutions += [f"{path}, {cell_label(i)}" for i in sorted(cells)]
                _ingest_file(
                    conn, embedder, chunker, course, file, path, known, summary, log, cells
                )
            _remove_documents(conn, course, set(known) - _paths(files, course_dir), summary)
            if summary.files_changed or summary.files_removed or not _has_terms(conn, course):
                count_terms(conn, course)
        finally:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_COURSE_LOCK, course))
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _paths(files: list[Path], course_dir: Path) -> set[str]:
    return {file.relative_to(course_dir).as_posix() for file in files}


def _register_course(
    conn: psycopg.Connection,
    embedder: Embedder,
    course: str,
    title: str,
    course_dir: Path,
    log: logging.Logger,
) -> None:
    """Create or update the course row; a new embedding model drops every embedding."""
    with conn.transaction():
        row = conn.execute(
            "SELECT embedding_model, embedding_dim FROM courses WHERE id = %s FOR UPDATE",
            (course,),
        ).fetchone()
        model, dimension = row if row else (None, None)
        new_model = model != embedder.model_name or dimension is None
        if new_model:
            if model is not None:
                log.info(
                    "Course %s was embedded with %s, now %s: re-embedding it all.",
                    course,
                    model,
                    embedder.model_name,
                )
            conn.execute("DELETE FROM documents WHERE course_id = %s", (course,))
            model, dimension = embedder.model_name, embedder.dimension
        conn.execute(
            "INSERT INTO courses (id, title, root_path, embedding_model, embedding_dim)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title,"
            " root_path = EXCLUDED.root_path, embedding_model = EXCLUDED.embedding_model,"
            " embedding_dim = EXCLUDED.embedding_dim, updated_at = now()",
            (course, title, str(course_dir), model, dimension),
        )
    if new_model:
        ensure_vector_index(conn, dimension, log)


def _known_documents(conn: psycopg.Connection, course: str) -> dict[str, tuple[str, int]]:
    """Path → (content hash, number of chunks) of the documents stored for the course."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT d.path, d.content_hash, count(c.id) FROM documents d"
            " LEFT JOIN chunks c ON c.document_id = d.id"
            " WHERE d.course_id = %s GROUP BY d.id",
            (course,),
        ).fetchall()
    return {path: (content_hash, count) for path, content_hash, count in rows}


def _ingest_file(
    conn: psycopg.Connection,
    embedder: Embedder,
    chunker: Chunker,
    course: str,
    file: Path,
    path: str,
    known: dict[str, tuple[str, int]],
    summary: IngestSummary,
    log: logging.Logger,
    protect: frozenset[int] = frozenset(),
) -> None:
    try:
        data = file.read_bytes()
        # The cells to protect are part of the hash: a file indexed before they were
        # found (its solution student-visible) is re-chunked.
        salt = chunker.fingerprint + (f"-protect{sorted(protect)}" if protect else "")
        file_hash = hashlib.sha256(salt.encode() + b"\0" + data).hexdigest()
        if path in known and known[path][0] == file_hash:
            summary.chunks_kept += known[path][1]
            return
        document = chunker.chunk(path, data, protect)
    except (OSError, UnreadableFile) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        log.warning("Skipped %s: %s.", path, reason)
        summary.skipped.append(SkippedFile(path, reason))
        return
    summary.files_changed += 1
    _store_document(conn, embedder, course, document, file_hash, summary)


def _store_document(
    conn: psycopg.Connection,
    embedder: Embedder,
    course: str,
    document: Document,
    file_hash: str,
    summary: IngestSummary,
) -> None:
    """Write one document's chunks, embedding only content not stored yet."""
    with conn.transaction():
        stored = conn.execute(
            "SELECT c.id, c.content_hash FROM chunks c JOIN documents d ON d.id = c.document_id"
            " WHERE c.course_id = %(course)s AND d.course_id = %(course)s AND d.path = %(path)s",
            {"course": course, "path": document.path},
        ).fetchall()
    ids_by_hash: dict[str, list[int]] = defaultdict(list)
    for chunk_id, content_hash in stored:
        ids_by_hash[content_hash].append(chunk_id)
    kept: list[tuple[int, Chunk]] = []
    new: list[Chunk] = []
    for chunk in document.chunks:
        same = ids_by_hash.get(chunk.content_hash)
        if same:
            kept.append((same.pop(), chunk))
        else:
            new.append(chunk)
    removed = [chunk_id for ids in ids_by_hash.values() for chunk_id in ids]
    vectors = _embeddings(conn, embedder, course, new, summary)
    with conn.transaction():
        document_id = one_row(
            conn.execute(
                "INSERT INTO documents (course_id, path, kind, title, content_hash, metadata)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (course_id, path) DO UPDATE SET kind = EXCLUDED.kind,"
                " title = EXCLUDED.title, content_hash = EXCLUDED.content_hash,"
                " metadata = EXCLUDED.metadata, ingested_at = now() RETURNING id",
                (
                    course,
                    document.path,
                    document.kind,
                    document.title,
                    file_hash,
                    Jsonb(document.metadata),
                ),
            ).fetchone()
        )[0]
        with conn.cursor() as cur:
            if removed:
                cur.execute(
                    "DELETE FROM chunks WHERE course_id = %s AND id = ANY(%s)", (course, removed)
                )
            cur.executemany(
                "UPDATE chunks SET ordinal = %(ordinal)s, cell_index = %(cell_index)s,"
                " cell_end = %(cell_end)s, kind = %(kind)s, visibility = %(visibility)s,"
                " metadata = %(metadata)s WHERE course_id = %(course)s AND id = %(id)s",
                [{**_columns(chunk), "id": chunk_id, "course": course} for chunk_id, chunk in kept],
            )
            cur.executemany(
                INSERT_CHUNK,
                [
                    {
                        **_columns(chunk),
                        "document_id": document_id,
                        "course": course,
                        "embedding": vectors[chunk.content_hash],
                        "embedding_dim": len(vectors[chunk.content_hash]),
                    }
                    for chunk in new
                ],
            )
    summary.chunks_added += len(new)
    summary.chunks_kept += len(kept)
    summary.chunks_removed += len(removed)


#: A chunk and its vector (a narrow table of their own, migration 0130), in one statement
#: that returns the chunk's id (tests that fill a course by hand write rows with it too).
INSERT_CHUNK = (
    "WITH chunk AS (INSERT INTO chunks (document_id, course_id, ordinal, cell_index, cell_end,"
    " heading, kind, text, content_hash, visibility, metadata) VALUES (%(document_id)s,"
    " %(course)s, %(ordinal)s, %(cell_index)s, %(cell_end)s, %(heading)s, %(kind)s, %(text)s,"
    " %(content_hash)s, %(visibility)s, %(metadata)s) RETURNING id, course_id, visibility)"
    " INSERT INTO chunk_vectors (chunk_id, course_id, visibility, embedding_dim, embedding)"
    " SELECT id, course_id, visibility, %(embedding_dim)s, %(embedding)s::vector FROM chunk"
    " RETURNING chunk_id"
)


def _columns(chunk: Chunk) -> dict[str, Any]:
    """The chunk's own columns, as query parameters."""
    return {
        "ordinal": chunk.ordinal,
        "cell_index": chunk.cell_index,
        "cell_end": chunk.cell_end,
        "heading": chunk.heading,
        "kind": chunk.kind,
        "text": chunk.text,
        "content_hash": chunk.content_hash,
        "visibility": chunk.visibility,
        "metadata": Jsonb(chunk.metadata),
    }


def _embeddings(
    conn: psycopg.Connection,
    embedder: Embedder,
    course: str,
    chunks: list[Chunk],
    summary: IngestSummary,
) -> dict[str, Any]:
    """Content hash → vector for ``chunks``: stored ones reused, the others embedded."""
    wanted = {chunk.content_hash: chunk.embedding_text for chunk in chunks}
    if not wanted:
        return {}
    with conn.transaction():
        rows = conn.execute(
            "SELECT DISTINCT ON (c.content_hash) c.content_hash, v.embedding FROM chunks c"
            " JOIN chunk_vectors v ON v.chunk_id = c.id"
            " WHERE c.course_id = %(course)s AND v.course_id = %(course)s"
            " AND c.content_hash = ANY(%(hashes)s)",
            {"course": course, "hashes": list(wanted)},
        ).fetchall()
    vectors: dict[str, Any] = {content_hash: vector.to_numpy() for content_hash, vector in rows}
    missing = [h for h in wanted if h not in vectors]
    if missing:
        embedded = embedder.embed_documents([wanted[h] for h in missing])
        vectors.update(zip(missing, embedded, strict=True))
        summary.embedded += len(missing)
    return vectors


def _has_terms(conn: psycopg.Connection, course: str) -> bool:
    with conn.transaction():
        found = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM course_terms WHERE course_id = %s)", (course,)
        ).fetchone()
    return bool(one_row(found)[0])


def count_terms(conn: psycopg.Connection, course: str) -> None:
    """Recount the words of the course's student-visible chunks (full-text ranking)."""
    with conn.transaction():
        conn.execute("DELETE FROM course_terms WHERE course_id = %s", (course,))
        conn.execute(
            "INSERT INTO course_terms (course_id, lexeme, chunks)"
            " SELECT %(course)s, word, ndoc FROM ts_stat(format("
            "  'SELECT tsv FROM chunks WHERE course_id = %%L AND visibility = ''student''',"
            "  %(course)s::text))",
            {"course": course},
        )
        conn.execute(
            "UPDATE courses SET student_chunks = (SELECT count(*) FROM chunks"
            " WHERE course_id = %(course)s AND visibility = 'student') WHERE id = %(course)s",
            {"course": course},
        )


def _remove_documents(
    conn: psycopg.Connection, course: str, paths: set[str], summary: IngestSummary
) -> None:
    """Drop the documents (and so the chunks) of files that are gone."""
    if not paths:
        return
    with conn.transaction():
        chunks = one_row(
            conn.execute(
                "WITH gone AS (DELETE FROM documents"
                " WHERE course_id = %(course)s AND path = ANY(%(paths)s) RETURNING id)"
                " SELECT count(*) FROM chunks"
                " WHERE course_id = %(course)s AND document_id IN (SELECT id FROM gone)",
                {"course": course, "paths": sorted(paths)},
            ).fetchone()
        )[0]
    summary.files_removed += len(paths)
    summary.chunks_removed += chunks
