"""Retrieval speed: ingest throughput, incremental re-ingest, search latency at scale.

1. Ingest throughput (chunks/s) of the shared courses into a private embedded PostgreSQL,
   with the real local model and with embedding taken out (a stand-in that makes random
   vectors), so the two numbers separate model time from parsing and database time.
2. Re-ingest: unchanged (nothing to do) and after one cell of one notebook changed.
3. Search latency p50/p95 for each method over courses of 10k and 100k chunks (synthetic:
   real chunks with perturbed text and embeddings) through the HNSW index, the query's
   embedding excluded (measured apart), and whether the plan used the HNSW index.

Prints JSON and writes it to ``bench/results/retrieval_speed.json``.

    python bench/retrieval_speed.py [--scales 10000,100000] [--queries 100]
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
from jupyter_tutor_hub.course.search import MODES, search
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
            "SELECT heading, text, embedding FROM chunks WHERE course_id LIKE %s",
            ("%-model",),
        ).fetchall()


def synthetic_course(url: str, size: int, seed_rows: list) -> dict[str, Any]:
    """``size`` chunks in one course: real chunks with shuffled-out words and noisy vectors."""
    rng = random.Random(size)
    noise = np.random.default_rng(size)
    vocabulary = [w for _, text, _ in seed_rows for w in text.split()][:50_000]
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(
            "INSERT INTO courses (id, embedding_model, embedding_dim) VALUES ('big', %s, 384)",
            (SentenceTransformerEmbedder().model_name,),
        )
        documents = [
            conn.execute(
                "INSERT INTO documents (course_id, path, kind, content_hash)"
                " VALUES ('big', %s, 'notebook', 'x') RETURNING id",
                (f"nb{n:04d}.ipynb",),
            ).fetchone()[0]
            for n in range(max(1, size // 40))
        ]
        conn.execute("DROP INDEX chunks_embedding_384")  # built once after loading: faster
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY chunks (document_id, course_id, ordinal, cell_index, cell_end, heading, text,"
                " content_hash, embedding, embedding_dim) FROM STDIN"
            ) as copy,
        ):
            for n in range(size):
                heading, text, vector = seed_rows[n % len(seed_rows)]
                words = [w for w in text.split() if rng.random() > 0.2]
                words += rng.sample(vocabulary, 5)
                rng.shuffle(words)
                noisy = vector.to_numpy() + noise.normal(0, 0.03, vector.dimensions())
                copy.write_row(
                    (
                        documents[n % len(documents)],
                        "big",
                        n,
                        n % 60,
                        n % 60,
                        heading,
                        " ".join(words),
                        f"h{n}",
                        (noisy / np.linalg.norm(noisy)).astype(np.float32),
                        384,
                    )
                )
        loaded = time.perf_counter()
        # The HNSW graph must fit in memory while it is built, or the build crawls: 1M
        # chunks of 384 floats need ~2 GB.
        conn.execute("SET maintenance_work_mem = '4GB'")
        ensure_vector_index(conn, 384, log)
        count_terms(conn, "big")
        conn.execute("ANALYZE")
    return {
        "chunks": size,
        "load_seconds": round(loaded - started, 1),
        "index_and_word_counts_seconds": round(time.perf_counter() - loaded, 1),
    }


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
            vector = embedder.embed_query(questions[0])
            plan = conn.execute(
                "EXPLAIN SELECT id FROM chunks WHERE course_id = 'big' AND"
                " visibility = 'student' AND embedding_dim = 384"
                " ORDER BY embedding::vector(384) <=> %s LIMIT 40",
                (vector,),
            ).fetchall()
        result["vector_plan_uses_hnsw"] = any("chunks_embedding_384" in r[0] for r in plan)
        return result
    finally:
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
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

        for size in (int(s) for s in args.scales.split(",")):
            url = migrated_database(server, f"scale{size}").url
            scale = synthetic_course(url, size, seed_rows)
            scale["search"] = latencies(url, precomputed, questions)
            result[f"scale_{size}"] = scale
    report("retrieval_speed", result)


if __name__ == "__main__":
    main()
