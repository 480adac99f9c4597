"""Retrieval speed: ingest throughput, incremental re-ingest, search latency at scale.

1. Ingest throughput (chunks/s) of the shared courses into a private embedded PostgreSQL,
   with the real local model and with embedding taken out (a stand-in that makes random
   vectors), so the two numbers separate model time from parsing and database time.
2. Re-ingest: unchanged (nothing to do) and after one cell of one notebook changed.
3. Search latency p50/p95 for each method over courses of 10k and 100k chunks (synthetic:
   real chunks with perturbed text and embeddings), the query's embedding excluded
   (measured apart), and how the vector half ran: every chunk compared (a course of up to
   ``EXACT_SEARCH_CHUNKS``) or through the HNSW index.
4. A university's table: ``--courses`` courses of ``--course-chunks`` chunks each (200 x
   5,000 = 1M by default; synthetic as in 3, each course its own perturbation of the same
   real chunks, so every course's neighbours crowd every other's, the hard case for a
   filtered index): course-scoped search p50/p95 by method (hybrid, vector, text) and how
   many of the hybrid top 5 are the top 5 of the same course indexed alone in its own
   database. ``--scales 5000`` adds the single course of the same size in the same run.

Prints JSON and writes it to ``bench/results/retrieval_speed.json``.

    python bench/retrieval_speed.py [--scales 10000,100000] [--queries 100]
        [--courses 200 --course-chunks 5000 --compared-courses 5]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import psycopg
from common import BENCH, SHARED_COURSES, bench_server, load_questions, migrated_database, report
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from jupyter_tutor_hub.course.embedder import Embedder, SentenceTransformerEmbedder
from jupyter_tutor_hub.course.ingest import count_terms, ingest_course
from jupyter_tutor_hub.course.query import clean_question
from jupyter_tutor_hub.course.search import EXACT_SEARCH_CHUNKS, MODES, search
from jupyter_tutor_hub.course.vector_index import ensure_vector_index
from jupyter_tutor_hub.db import Database

log = logging.getLogger("retrieval_speed")
COURSES = ("whirlwind", "scipy-lectures")


class RandomEmbedder(Embedder):
    """Embedding taken out: a repeatable random unit vector per text, at no model cost."""

    def __init__(self, model_name: str, dimension: int) -> None:
        super().__init__(model_name=model_name)
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        vectors = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self._dimension)
            vectors.append((vector / np.linalg.norm(vector)).astype(np.float32))
        return vectors


class PrecomputedEmbedder(Embedder):
    """Query vectors computed beforehand, so latencies measure the database alone."""

    def __init__(self, model_name: str, vectors: dict[str, np.ndarray]) -> None:
        super().__init__(model_name=model_name)
        self.vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]  # keyed by the cleaned question, as search embeds it


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


def throughput(pool: ConnectionPool, embedder: Embedder, label: str) -> dict[str, Any]:
    files = chunks = 0
    seconds = 0.0
    for name in COURSES:
        summary = ingest_course(pool, embedder, SHARED_COURSES / name, f"{name}-{label}")
        files += summary.files
        chunks += summary.chunks_added
        seconds += summary.seconds
    return {
        "files": files,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "chunks_per_second": round(chunks / seconds, 1),
    }


def reingest(pool: ConnectionPool, embedder: Embedder) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        course = Path(folder) / "whirlwind"
        shutil.copytree(SHARED_COURSES / "whirlwind", course)
        ingest_course(pool, embedder, course, "reingest")
        unchanged = ingest_course(pool, embedder, course, "reingest")
        path = course / "09-Errors-and-Exceptions.ipynb"
        notebook = nbformat.read(path, as_version=4)
        notebook.cells[9].source += "  # changed"
        nbformat.write(notebook, path)
        changed = ingest_course(pool, embedder, course, "reingest")
    return {
        "unchanged_course_seconds": unchanged.seconds,
        "one_changed_notebook_seconds": changed.seconds,
        "one_changed_notebook_embedded": changed.embedded,
        "one_changed_notebook_kept": changed.chunks_kept,
    }


def seeds(pool: ConnectionPool) -> list[tuple[str, str, np.ndarray]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT c.heading, c.text, v.embedding FROM chunks c"
            " JOIN chunk_vectors v ON v.chunk_id = c.id WHERE c.course_id LIKE %s",
            ("%-model",),
        ).fetchall()


def synthetic_course(url: str, size: int, seed_rows: list) -> dict[str, Any]:
    """``size`` chunks in one course, ``big``, made as each course of the university case."""
    return {"chunks": size, **_fill(url, [("big", size)], size, seed_rows)}


def latencies(url: str, embedder: Embedder, questions: list[str]) -> dict[str, Any]:
    pool = Database(url=url).open_pool()
    try:
        for question in questions[:10]:  # warm the caches
            search(pool, embedder, "big", question, 5)
        result: dict[str, Any] = {}
        for mode in MODES:
            timings = []
            for question in questions:
                started = time.perf_counter()
                search(pool, embedder, "big", question, 5, mode=mode)
                timings.append(time.perf_counter() - started)
            result[mode] = percentiles(timings)
        with pool.connection() as conn:
            size = conn.execute("SELECT student_chunks FROM courses WHERE id = 'big'").fetchone()
            vector = embedder.embed_query(questions[0])
            plan = conn.execute(
                "EXPLAIN SELECT chunk_id FROM chunk_vectors WHERE course_id = 'big' AND"
                " visibility = 'student' AND embedding_dim = 384"
                " ORDER BY embedding::vector(384) <=> %s LIMIT 40",
                (vector,),
            ).fetchall()
        # How search ran the vector half: every chunk compared up to EXACT_SEARCH_CHUNKS,
        # beyond that through the HNSW index (if the plan uses it).
        if size[0] <= EXACT_SEARCH_CHUNKS:
            result["vector_search"] = "exact"
        elif any("Index Scan" in r[0] for r in plan):  # the course's own HNSW index
            result["vector_search"] = "hnsw"
        else:
            result["vector_search"] = "scan without the HNSW index"
        return result
    finally:
        pool.close()


def _load_course_rows(
    conn: psycopg.Connection, course: str, size: int, seed_rows: list, seed: int
) -> None:
    """``size`` chunks of ``course``: the seed chunks, words dropped and added, vectors moved
    by noise (a course of its own, and one that resembles every other)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    vocabulary = [w for _, text, _ in seed_rows for w in text.split()][:50_000]
    documents = [
        row[0]
        for row in conn.execute(
            "INSERT INTO documents (course_id, path, kind, content_hash)"
            " SELECT %s, 'nb' || n || '.ipynb', 'notebook', 'x' FROM generate_series(1, %s) n"
            " RETURNING id",
            (course, max(1, size // 40)),
        ).fetchall()
    ]
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT nextval('chunks_id_seq') FROM generate_series(1, %s)", (size,)
        ).fetchall()
    ]
    vectors = []
    with conn.cursor() as cur:
        with cur.copy(
            "COPY chunks (id, document_id, course_id, ordinal, cell_index, cell_end, heading,"
            " text, content_hash) FROM STDIN"
        ) as copy:
            for n, chunk_id in enumerate(ids):
                heading, text, vector = seed_rows[n % len(seed_rows)]
                words = [w for w in text.split() if rng.random() > 0.2]
                words += rng.sample(vocabulary, 5)
                rng.shuffle(words)
                noisy = vector.to_numpy() + noise.normal(0, 0.03, vector.dimensions())
                vectors.append((noisy / np.linalg.norm(noisy)).astype(np.float32))
                row = (chunk_id, documents[n % len(documents)], course, n, n % 60, n % 60)
                copy.write_row((*row, heading, " ".join(words), f"h{n}"))
        with cur.copy(
            "COPY chunk_vectors (chunk_id, course_id, visibility, embedding_dim, embedding)"
            " FROM STDIN"
        ) as copy:
            for chunk_id, vector in zip(ids, vectors, strict=True):
                copy.write_row((chunk_id, course, "student", 384, vector))


def _fill(url: str, courses: list[tuple[str, int]], size: int, seed_rows: list) -> dict[str, float]:
    """Load ``courses`` (name, seed) of ``size`` chunks into ``url``, then index them."""
    model = SentenceTransformerEmbedder().model_name
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("DROP INDEX chunk_vectors_embedding_384")  # built once after loading: faster
        for name, seed in courses:
            conn.execute(
                "INSERT INTO courses (id, embedding_model, embedding_dim) VALUES (%s, %s, 384)",
                (name, model),
            )
            with conn.transaction():
                _load_course_rows(conn, name, size, seed_rows, seed)
        loaded = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '4GB'")
        ensure_vector_index(conn, 384, log)
        indexed = time.perf_counter()
        for name, _ in courses:
            count_terms(conn, name)
        conn.execute("ANALYZE")
    return {
        "load_seconds": round(loaded - started, 1),
        "hnsw_build_seconds": round(indexed - loaded, 1),
        "word_counts_seconds": round(time.perf_counter() - indexed, 1),
    }


def university(
    server: Any,
    embedder: Embedder,
    questions: list[str],
    seed_rows: list,
    n_courses: int,
    size: int,
    compared: int,
) -> dict[str, Any]:
    """Course-scoped hybrid search in one table of every course, against each compared
    course indexed alone (the same rows, in a database of its own)."""
    names = [(f"course-{n:03d}", 1000 + n) for n in range(n_courses)]
    url = migrated_database(server, "university").url
    result: dict[str, Any] = {
        "courses": n_courses,
        "chunks_per_course": size,
        "chunks": n_courses * size,
        "data": "synthetic: the shared courses' chunks, perturbed per course (no model run)",
    }
    result["build"] = _fill(url, names, size, seed_rows)
    picked = [names[(n * n_courses) // compared] for n in range(compared)]
    pool = Database(url=url).open_pool()
    alone_pools = []
    try:
        for name, seed in picked:
            alone = migrated_database(server, f"alone_{name.replace('-', '_')}").url
            _fill(alone, [(name, seed)], size, seed_rows)
            alone_pools.append(Database(url=alone).open_pool())
        for question in questions[:10]:  # warm the caches
            search(pool, embedder, picked[0][0], question, 5)
        timings: dict[str, list[float]] = {mode: [] for mode in MODES}
        found: dict[tuple[str, str], set[tuple[Any, ...]]] = {}
        for name, _ in picked:
            for question in questions:
                for mode in MODES:
                    started = time.perf_counter()
                    hits = search(pool, embedder, name, question, 5, mode=mode)
                    timings[mode].append(time.perf_counter() - started)
                    if mode == "hybrid":
                        found[name, question] = {(h.path, h.cell, h.text) for h in hits}
        # The same searches on each course alone, afterwards: searched in turn with the
        # table of every course, both copies of a course compete for the CPU's caches and
        # each search took about 30% longer (40 courses of 5,000, measured both ways).
        alone_timings: list[float] = []
        overlaps = []
        for (name, _), alone_pool in zip(picked, alone_pools, strict=True):
            for question in questions[:10]:
                search(alone_pool, embedder, name, question, 5)
            for question in questions:
                started = time.perf_counter()
                truth = search(alone_pool, embedder, name, question, 5)
                alone_timings.append(time.perf_counter() - started)
                truth_hits = {(h.path, h.cell, h.text) for h in truth}
                overlaps.append(len(found[name, question] & truth_hits) / 5)
        result.update({mode: percentiles(seconds) for mode, seconds in timings.items()})
        result["hybrid_course_alone"] = percentiles(alone_timings)
        result["top5_overlap_with_course_alone"] = {
            "mean": round(float(np.mean(overlaps)), 4),
            "min": round(float(np.min(overlaps)), 4),
            "searches": len(overlaps),
        }
    finally:
        pool.close()
        for alone_pool in alone_pools:
            alone_pool.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--courses", type=int, default=200, help="0: no university case")
    parser.add_argument("--course-chunks", type=int, default=5000)
    parser.add_argument("--compared-courses", type=int, default=5)
    args = parser.parse_args()

    model = SentenceTransformerEmbedder()
    model.embed_query("warm up")
    questions = [q["question"] for q in load_questions(BENCH / "questions" / "whirlwind.jsonl")]
    questions = questions[: args.queries]
    result: dict[str, Any] = {"model": model.model_name}
    with bench_server() as server:
        pool = migrated_database(server, "bench").open_pool()
        try:
            result["ingest_with_model"] = throughput(pool, model, "model")
            result["ingest_without_model"] = throughput(
                pool, RandomEmbedder(model.model_name, model.dimension), "random"
            )
            result["reingest"] = reingest(pool, model)
            seed_rows = seeds(pool)
        finally:
            pool.close()

        timings, vectors = [], {}
        for question in questions:
            started = time.perf_counter()
            cleaned = clean_question(question)
            vectors[cleaned] = model.embed_query(cleaned)
            timings.append(time.perf_counter() - started)
        result["embed_query"] = percentiles(timings)
        precomputed = PrecomputedEmbedder(model.model_name, vectors)

        for size in (int(s) for s in args.scales.split(",") if s):
            url = migrated_database(server, f"scale{size}").url
            scale = synthetic_course(url, size, seed_rows)
            scale["search"] = latencies(url, precomputed, questions)
            result[f"scale_{size}"] = scale
        if args.courses:
            result["university"] = university(
                server,
                precomputed,
                questions,
                seed_rows,
                args.courses,
                args.course_chunks,
                args.compared_courses,
            )
    report("retrieval_speed", result)


if __name__ == "__main__":
    main()
