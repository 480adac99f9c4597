"""Hybrid course search in PostgreSQL: HNSW vector search and full-text search, fused.

One statement fetches both candidate lists for a course (student-visible chunks only),
from the course's own partitions of ``chunks`` and ``chunk_vectors`` (migrations 0120 and
0130), so its cost is the course's whatever the hub holds: the nearest chunks by cosine
distance (every chunk compared, or in very large courses through the course's own HNSW
graph), and the best full-text matches.
Full-text ranking weighs each question word by its rarity in the course (BM25's inverse
document frequency, from the word counts ingest keeps in ``course_terms``) times
``ts_rank`` of the word in the chunk, in which a heading counts more than body text:
plain ``ts_rank`` of an OR query lets common words ("list", "python") drown the telling
ones.  Candidates come from the rarer words only (common ones just add to the score),
which keeps large courses fast.

The two lists are fused by a weighted sum of their scores, each min-max normalised over
its candidates; ``bench/retrieval_quality.py`` measured it against reciprocal rank
fusion and against either list alone.

``asearch`` serves the gateway (the embedding runs in a thread, off the event loop);
``search`` serves the command line and benchmarks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from .embedder import Embedder
from .errors import CourseNotFound
from .query import clean_question
from .vector_index import embedding_expression

log = logging.getLogger(__name__)

#: Question words used at most (the rarest; a long pasted log must not make it huge).
MAX_WORDS = 32
#: Words in more than this share of a course's chunks only score, never select candidates
#: (the three rarest words of a question always select).
COMMON_WORD_SHARE = 0.05
#: Selecting words are taken, rarest first, while the chunks they appear in add up to at
#: most this many (the rarest always selects): a question of common words ("should I use
#: python 2 or 3?") otherwise scores most of a large course, and a course's text search
#: takes about 5 µs a scored chunk here.  Courses of fewer chunks never reach it.
MAX_SELECTED_CHUNKS = 1000

Mode = Literal["hybrid", "vector", "text"]
MODES: tuple[Mode, ...] = ("hybrid", "vector", "text")


@dataclass(frozen=True)
class Fusion:
    """How the two candidate lists become one ranking."""

    #: Weight of the (normalised) vector similarity; full text gets the rest.
    vector_weight: float = 0.6
    #: Candidates taken from each list before fusing.
    candidates: int = 40


DEFAULT_FUSION = Fusion()


@dataclass(frozen=True)
class Hit:
    """One passage found for a question, with what it takes to cite and open it."""

    course: str
    #: File path relative to the course folder, with ``/``.
    path: str
    #: Heading path: "Notebook title › Section › Subsection".
    heading: str
    #: 0-based index of the passage's first cell in the notebook (None outside notebooks).
    cell: int | None
    text: str
    score: float
    #: Index of the passage's last cell (a passage may span a few cells).
    cell_end: int | None = None
    #: Cosine similarity of the question and the passage's embedding (``None`` when the
    #: search ran without embeddings). Unlike ``score``, which ranks passages against each
    #: other, it says how well a passage matches at all (the offline cut-off uses it).
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the gateway API and the command line."""
        return {
            "course": self.course,
            "path": self.path,
            "heading": self.heading,
            "cell": self.cell,
            "text": self.text,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class ProtectedPassage(Hit):
    """A chunk students never see (graded solution, test, hidden cell) and why."""

    reason: str = ""
    exercise: str | None = None
    cell_id: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A chunk found by either method, with its distance and/or text rank."""

    id: int
    path: str
    heading: str
    cell: int | None
    cell_end: int | None
    text: str
    distance: float | None
    text_rank: float | None


_COURSE = sql.SQL(
    "SELECT embedding_model, embedding_dim, student_chunks,"
    " set_config('hnsw.ef_search', {ef}, true),"
    " set_config('hnsw.iterative_scan', 'relaxed_order', true)"
    " FROM courses WHERE id = %s"
)

#: Both halves already keep to student-visible chunks; the chunk's own visibility is checked
#: again here, so a protected passage never depends on the copy ``chunk_vectors`` keeps.
_CANDIDATES = sql.SQL(
    "WITH vec AS MATERIALIZED ({vector}), txt AS MATERIALIZED ({text})"
    " SELECT c.id, d.path, c.heading, c.cell_index, c.cell_end, c.text,"
    " vec.distance, txt.rank"
    " FROM chunks c JOIN documents d ON d.id = c.document_id"
    " LEFT JOIN vec ON vec.id = c.id LEFT JOIN txt ON txt.id = c.id"
    " WHERE c.course_id = %(course)s AND c.visibility = 'student'"
    " AND c.id IN (SELECT id FROM vec UNION SELECT id FROM txt)"
)

_VECTOR = sql.SQL(
    "SELECT chunk_id AS id, {expr} <=> %(vector)s AS distance FROM chunk_vectors"
    " WHERE course_id = %(course)s AND visibility = 'student' AND embedding_dim = {dim}"
    " ORDER BY {expr} <=> %(vector)s LIMIT %(n)s"
)

#: Every chunk of the course compared (``OFFSET 0`` keeps the planner from ordering through
#: the HNSW index): exact, whatever share of the table the course is.  The vectors have a
#: narrow table of their own (migration 0130), so the scan reads nothing else.
_VECTOR_EXACT = sql.SQL(
    "SELECT id, distance FROM ("
    " SELECT chunk_id AS id, {expr} <=> %(vector)s AS distance FROM chunk_vectors"
    " WHERE course_id = %(course)s AND visibility = 'student' AND embedding_dim = {dim}"
    " OFFSET 0) course ORDER BY distance LIMIT %(n)s"
)

#: Courses up to this many student-visible chunks are searched exactly (a few milliseconds
#: at this size); larger ones through their partition's HNSW index, with pgvector's
#: iterative scan (which passes over the protected chunks the graph also holds).
EXACT_SEARCH_CHUNKS = 20_000

#: The course's matching chunks come from its own partition's full-text index (migration
#: 0120) and each tsvector is detoasted once (``|| ''``), then every word is scored against
#: the copy: joined to the words, each ``@@`` and ``ts_rank`` detoasted it again and the sort
#: carried it (one question at 60 courses of 5,000: 3.7 ms instead of 18).  Since the vectors
#: left the row (0130) a chunk's tsvector is in its row, compressed at most.
_TEXT = sql.SQL(
    "WITH words AS ("
    "  SELECT quote_literal(t.lexeme)::tsquery AS query, t.chunks AS df,"
    "   ln(1 + (c.student_chunks - t.chunks + 0.5) / (t.chunks + 0.5)) AS idf"
    "  FROM courses c JOIN course_terms t ON t.course_id = c.id"
    "  WHERE c.id = %(course)s"
    "   AND t.lexeme = ANY(tsvector_to_array(to_tsvector('english', %(question)s)))"
    "  ORDER BY t.chunks LIMIT {max_words}"
    "), ranked AS ("
    "  SELECT query, df, row_number() OVER w AS n, sum(df) OVER w AS reach FROM words"
    "  WINDOW w AS (ORDER BY df, query::text ROWS UNBOUNDED PRECEDING)"
    "), selecting AS ("
    "  SELECT string_agg(query::text, ' | ')::tsquery AS query FROM ranked"
    "  WHERE (df <= (SELECT {common} * student_chunks FROM courses WHERE id = %(course)s)"
    "    OR df <= coalesce((SELECT df FROM words ORDER BY df OFFSET 2 LIMIT 1), 2147483647))"
    "   AND (n = 1 OR reach <= {most})"
    "), found AS MATERIALIZED ("
    "  SELECT c.id, c.tsv || ''::tsvector AS tsv FROM chunks c"
    "  WHERE c.course_id = %(course)s AND c.visibility = 'student'"
    "   AND c.tsv @@ (SELECT query FROM selecting)"
    ")"
    " SELECT f.id, (SELECT sum(w.idf * ts_rank(f.tsv, w.query, 32)) FROM words w"
    "  WHERE f.tsv @@ w.query) AS rank"
    " FROM found f ORDER BY rank DESC, f.id LIMIT %(n)s"
).format(
    max_words=sql.Literal(MAX_WORDS),
    common=sql.Literal(COMMON_WORD_SHARE),
    most=sql.Literal(MAX_SELECTED_CHUNKS),
)

_NONE = sql.SQL("SELECT NULL::bigint AS id, NULL::float8 AS {} WHERE false")

_PROTECTED = (
    "SELECT d.path, c.heading, c.cell_index, c.cell_end, c.text,"
    " c.metadata ->> 'protected_reason', c.metadata ->> 'exercise', c.metadata ->> 'cell_id'"
    " FROM chunks c JOIN documents d ON d.id = c.document_id"
    " WHERE c.course_id = %(course)s AND c.visibility = 'protected'"
    " AND (%(path)s::text IS NULL OR d.path = %(path)s"
    "      OR right(%(path)s, length(d.path) + 1) = '/' || d.path)"
    " ORDER BY d.path, c.ordinal"
)


def search(
    pool: ConnectionPool,
    embedder: Embedder | None,
    course: str,
    question: str,
    k: int = 5,
    *,
    mode: Mode = "hybrid",
    fusion: Fusion = DEFAULT_FUSION,
) -> list[Hit]:
    """The ``k`` student-visible passages of ``course`` that best answer ``question``.

    ``embedder`` may be None in ``text`` mode.  Raises :class:`CourseNotFound` when the
    course was never ingested.
    """
    found = candidates(pool, embedder, course, question, mode=mode, fusion=fusion)
    return fuse(course, found, k, mode=mode, fusion=fusion)


async def asearch(
    pool: AsyncConnectionPool,
    embedder: Embedder | None,
    course: str,
    question: str,
    k: int = 5,
    *,
    mode: Mode = "hybrid",
    fusion: Fusion = DEFAULT_FUSION,
    vector: Any = None,
) -> list[Hit]:
    """:func:`search` for asyncio callers (the gateway).  ``vector``: the embedding of
    ``clean_question(question)`` when the caller has it (the gateway batches them);
    otherwise it is computed here, in a thread."""
    text = clean_question(question)
    if mode == "text":
        vector = None
    elif vector is None:
        vector = await asyncio.to_thread(_embed, embedder, text)
    async with pool.connection() as conn:
        row = await (await conn.execute(_course_sql(fusion), (course,))).fetchone()
        statement, params = _candidates_sql(course, row, text, embedder, vector, mode, fusion)
        rows = await (await conn.execute(statement, params)).fetchall()
    return fuse(course, [Candidate(*r) for r in rows], k, mode=mode, fusion=fusion)


def require_course(pool: ConnectionPool, course: str) -> None:
    """Raise :class:`CourseNotFound` unless ``course`` was ingested: a check to make before
    loading an embedding model (seconds) only to learn that there is nothing to search."""
    with pool.connection() as conn:
        if conn.execute("SELECT 1 FROM courses WHERE id = %s", (course,)).fetchone() is None:
            raise _not_found(course)


def _not_found(course: str) -> CourseNotFound:
    return CourseNotFound(
        f"The course {course!r} is not in the tutor's database. Ingest it first: "
        f"jupyter-tutor ingest PATH --course {course}"
    )


def candidates(
    pool: ConnectionPool,
    embedder: Embedder | None,
    course: str,
    question: str,
    *,
    mode: Mode = "hybrid",
    fusion: Fusion = DEFAULT_FUSION,
) -> list[Candidate]:
    """Both candidate lists, unfused (benchmarks fuse them several ways)."""
    text = clean_question(question)
    vector = _embed(embedder, text) if mode != "text" else None
    with pool.connection() as conn:
        row = conn.execute(_course_sql(fusion), (course,)).fetchone()
        statement, params = _candidates_sql(course, row, text, embedder, vector, mode, fusion)
        return [Candidate(*r) for r in conn.execute(statement, params).fetchall()]


def fuse(
    course: str,
    found: Sequence[Candidate],
    k: int,
    *,
    mode: Mode = "hybrid",
    fusion: Fusion = DEFAULT_FUSION,
) -> list[Hit]:
    """The top ``k`` of the candidates: by distance, by text rank, or both fused."""
    similarity = {c.id: 1.0 - c.distance for c in found if c.distance is not None}
    raw_similarity = dict(similarity)
    text = {c.id: c.text_rank for c in found if c.text_rank is not None}
    if mode == "vector":
        scores = similarity
    elif mode == "text":
        scores = text
    else:
        similarity, text = _normalised(similarity), _normalised(text, floor=0.0)
        scores = {
            i: fusion.vector_weight * similarity.get(i, 0.0)
            + (1 - fusion.vector_weight) * text.get(i, 0.0)
            for i in similarity.keys() | text.keys()
        }
    by_id = {c.id: c for c in found}
    best = sorted(scores, key=lambda i: (-scores[i], i))[:k]
    return [
        Hit(
            course=course,
            path=by_id[i].path,
            heading=by_id[i].heading,
            cell=by_id[i].cell,
            text=by_id[i].text,
            score=float(scores[i]),
            cell_end=by_id[i].cell_end,
            similarity=raw_similarity.get(i),
        )
        for i in best
    ]


def _normalised(scores: dict[int, float], floor: float | None = None) -> dict[int, float]:
    """``scores`` scaled to [0, 1] between their minimum (or ``floor``) and maximum."""
    if not scores:
        return {}
    low = min(scores.values()) if floor is None else floor
    span = max(scores.values()) - low
    return {i: (s - low) / span if span > 0 else 1.0 for i, s in scores.items()}


async def aprotected_passages(
    pool: AsyncConnectionPool, course: str, notebook_path: str | None = None
) -> list[ProtectedPassage]:
    """The protected chunks of ``course`` (of one notebook, if given), in document order.

    ``notebook_path`` is relative to the course folder, or any path that ends with it
    (a student's server may keep the course in a subfolder).
    """
    async with pool.connection() as conn:
        cursor = await conn.execute(_PROTECTED, {"course": course, "path": notebook_path})
        rows = await cursor.fetchall()
    return [
        ProtectedPassage(
            course=course,
            path=path,
            heading=heading,
            cell=cell,
            text=text,
            score=1.0,
            cell_end=cell_end,
            reason=reason or "",
            exercise=exercise,
            cell_id=cell_id,
        )
        for path, heading, cell, cell_end, text, reason, exercise, cell_id in rows
    ]


def _embed(embedder: Embedder | None, text: str) -> Any:
    if embedder is None:
        raise ValueError("Vector and hybrid search need an embedder; pass one or use mode='text'.")
    return embedder.embed_query(text)


def _course_sql(fusion: Fusion) -> sql.Composed:
    # ef_search bounds how many neighbours one HNSW scan returns: at least the candidates
    return _COURSE.format(ef=sql.Literal(str(max(40, fusion.candidates))))


def _candidates_sql(
    course: str,
    row: tuple[str | None, int | None, int, Any, Any] | None,
    question: str,
    embedder: Embedder | None,
    vector: Any,
    mode: Mode,
    fusion: Fusion,
) -> tuple[sql.Composed, dict[str, Any]]:
    if row is None:
        raise _not_found(course)
    model, dimension, size = row[0], row[1], row[2]
    if vector is not None and embedder is not None and embedder.model_name != model:
        log.warning(
            "Course %s is embedded with %s, not %s: searching its text only. Ingest it again "
            "to re-embed it with the new model.",
            course,
            model,
            embedder.model_name,
        )
        vector = None
    if vector is not None and dimension is not None:
        template = _VECTOR_EXACT if size <= EXACT_SEARCH_CHUNKS else _VECTOR
        vector_sql = template.format(
            expr=embedding_expression(dimension), dim=sql.Literal(int(dimension))
        )
    else:
        vector_sql = _NONE.format(sql.Identifier("distance"))
    text_sql = _TEXT if mode != "vector" else _NONE.format(sql.Identifier("rank"))
    params = {"course": course, "vector": vector, "question": question, "n": fusion.candidates}
    return _CANDIDATES.format(vector=vector_sql, text=text_sql), params
