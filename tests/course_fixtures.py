"""Helpers shared by the course tests (tests/test_course_*.py).

The real embedding model takes seconds to load, so it is loaded once per test process
(``real_embedder``) and shared by every module's fixtures; the vectors of passages already
embedded in this process are reused, so tests that ingest the same notebooks stay fast.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import nbformat
import numpy as np
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from psycopg.types.json import Jsonb
from traitlets import default

from jupyter_tutor_hub.course.embedder import Embedder, SentenceTransformerEmbedder
from jupyter_tutor_hub.course.ingest import INSERT_CHUNK


@functools.cache
def real_embedder() -> SentenceTransformerEmbedder:
    """The default local model (all-MiniLM-L6-v2), loaded once."""
    embedder = SentenceTransformerEmbedder()
    embedder.embed_query("warm up")
    return embedder


_VECTORS: dict[str, np.ndarray] = {}


def embed_cached(texts: Sequence[str]) -> list[np.ndarray]:
    """The real model's vectors for ``texts``, each computed once per process."""
    missing = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
    _VECTORS.update(zip(missing, real_embedder().embed_documents(missing), strict=True))
    return [_VECTORS[t] for t in texts]


class CountingEmbedder(Embedder):
    """The real model, recording every passage it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(model_name=real_embedder().model_name)
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return real_embedder().dimension

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        self.texts.extend(texts)
        return embed_cached(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return real_embedder().embed_query(text)


class HashingEmbedder(Embedder):
    """Another "model" with another dimension (8): switching models, and a light embedder
    for command-line tests (configured as ``CourseApp.embedder_class``)."""

    @default("model_name")
    def _model_name_default(self) -> str:
        return "test/hashing-8"

    @property
    def dimension(self) -> int:
        return 8

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        vectors = []
        for text in texts:
            vector = np.full(8, 1e-3, dtype=np.float32)
            for word in text.lower().split():
                vector[hashlib.sha256(word.encode()).digest()[0] % 8] += 1
            vectors.append(vector / np.linalg.norm(vector))
        return vectors


def notebook_bytes(cells: list[Any], **metadata: Any) -> bytes:
    """A notebook file's bytes."""
    notebook = new_notebook(cells=cells)
    notebook.metadata.update(metadata)
    return nbformat.writes(notebook).encode("utf-8")


def md(source: str, **metadata: Any) -> Any:
    return new_markdown_cell(source, metadata=metadata)


def code(source: str, outputs: list[dict[str, Any]] | None = None, **metadata: Any) -> Any:
    cell = new_code_cell(source, metadata=metadata)
    cell.outputs = [nbformat.from_dict(o) for o in outputs or []]
    return cell


def insert_chunk(
    conn: Any,
    document: int,
    course: str,
    text: str,
    vector: Any,
    dimension: int,
    **columns: Any,
) -> int:
    """Store one chunk and its vector by hand with ingest's own statement; ``columns``:
    other columns of ``chunks`` (the rest get the values the table defaults to).  Returns
    its id."""
    row = {
        "ordinal": 0,
        "cell_index": None,
        "cell_end": None,
        "heading": "",
        "kind": "markdown",
        "content_hash": "h",
        "visibility": "student",
        "metadata": Jsonb({}),
        **columns,
        "document_id": document,
        "course": course,
        "text": text,
        "embedding": vector,
        "embedding_dim": dimension,
    }
    return int(conn.execute(INSERT_CHUNK, row).fetchone()[0])
