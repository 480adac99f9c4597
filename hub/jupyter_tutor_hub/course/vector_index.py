"""The partial HNSW indexes over chunk embeddings, one per embedding dimension.

``chunk_vectors.embedding`` is an untyped ``vector`` so courses may use different models;
each dimension gets its own partial index over ``embedding::vector(N)``, made on every
course's partition of ``chunk_vectors`` (migrations 0120, 0130), so each course has a graph
of its own.  The index is defined once, in the database (``tutor_vector_index(N)``,
migration 0130): the migration makes it for the dimensions in use (384, the default model's,
always) and ingest here the first time a course brings another.  Searches must use exactly
:func:`embedding_expression` (the function's expression) and the ``embedding_dim = N``
predicate, with ``N`` a literal, or PostgreSQL cannot use the index.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

#: pgvector's HNSW indexes ``vector`` columns of up to 2000 dimensions.
MAX_INDEXED_DIMENSION = 2000

_LOCK_KEY = 7_246_315_002  # serialises index creation between concurrent ingests


def embedding_expression(dimension: int) -> sql.Composable:
    """``embedding::vector(N)``, the expression the index for ``N`` covers."""
    return sql.SQL("embedding::vector({})").format(sql.Literal(int(dimension)))


def ensure_vector_index(conn: psycopg.Connection, dimension: int, log: logging.Logger) -> None:
    """Create the HNSW index for ``dimension`` if it does not exist yet."""
    if dimension > MAX_INDEXED_DIMENSION:
        log.warning(
            "Embeddings of %d dimensions cannot have an HNSW index (pgvector's limit is %d); "
            "vector search will scan every chunk of the course. Prefer a smaller model.",
            dimension,
            MAX_INDEXED_DIMENSION,
        )
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("SELECT tutor_vector_index(%s)", (int(dimension),))
