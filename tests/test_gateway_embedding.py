"""Question embeddings shared by concurrent questions: batched, cached, same vectors.

Unit tests of ``QuestionEmbedder`` with an embedder that records its calls; no model, no
database. Nothing here measures time (``bench/gateway_overhead.py`` does).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from course_fixtures import HashingEmbedder

from jupyter_tutor_hub.gateway import metrics
from jupyter_tutor_hub.gateway.embedding import QuestionEmbedder


class RecordingEmbedder(HashingEmbedder):
    """Records each call (its texts and thread); fails on a text containing "boom"."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        self.calls.append(list(texts))
        self.threads.add(threading.get_ident())
        if any("boom" in t for t in texts):
            raise RuntimeError("the model failed")
        return super().embed_documents(texts)


def questions(embedder: Any, **settings: Any) -> QuestionEmbedder:
    return QuestionEmbedder(embedder, **settings)


async def test_concurrent_questions_are_embedded_in_one_call_off_the_loop() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=50)
    texts = [f"why does loop {n} never end" for n in range(20)]
    vectors = await asyncio.gather(*(shared.embed(t) for t in texts))
    assert embedder.calls == [texts]
    assert threading.get_ident() not in embedder.threads
    # The same vectors as one question at a time.
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(vector, HashingEmbedder().embed_query(text))


async def test_batches_are_bounded() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=20, batch_max=8)
    await asyncio.gather(*(shared.embed(f"question {n}") for n in range(20)))
    assert [len(c) for c in embedder.calls] == [8, 8, 4]


async def test_recent_questions_come_from_the_cache_and_the_cache_is_bounded() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=0, cache_size=2)
    first = await shared.embed("what is a list")
    again = await shared.embed("what is a list")
    assert embedder.calls == [["what is a list"]]
    np.testing.assert_array_equal(first, again)
    await shared.embed("what is a dict")
    await shared.embed("what is a set")
    await shared.embed("what is a list")  # pushed out by the two newer ones
    assert embedder.calls[-1] == ["what is a list"]
    assert len(shared._cache) == 2


async def test_the_same_question_asked_at_once_is_embedded_once() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=20)
    vectors = await asyncio.gather(*(shared.embed("same question") for _ in range(5)))
    assert embedder.calls == [["same question"]]
    assert all(np.array_equal(v, vectors[0]) for v in vectors)


async def test_a_failed_batch_fails_its_questions_and_the_next_batch_works() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=20, cache_size=0)
    results = await asyncio.gather(
        shared.embed("boom"), shared.embed("fine"), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert (await shared.embed("fine")).shape == (8,)


async def test_a_caller_that_leaves_does_not_cancel_the_others() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=50)
    leaving = asyncio.ensure_future(shared.embed("shared question"))
    staying = asyncio.ensure_future(shared.embed("shared question"))
    await asyncio.sleep(0)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert (await staying).shape == (8,)


async def test_a_prefetched_question_is_embedded_once_and_counted_as_embedded() -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=0)
    cached = metrics.QUESTION_EMBEDDINGS.labels("cached")
    before = cached._value.get()
    shared.prefetch("why does my loop never end")
    shared.prefetch("why does my loop never end")  # asked twice at once: queued once
    vector = await shared.embed("why does my loop never end")
    assert embedder.calls == [["why does my loop never end"]]
    np.testing.assert_allclose(vector, HashingEmbedder().embed_query("why does my loop never end"))
    assert cached._value.get() == before  # embedded for this question, not a cache hit
    await shared.embed("why does my loop never end")  # asked again later: the cache
    assert cached._value.get() == before + 1


async def test_a_prefetch_nobody_asks_for_fails_quietly(caplog: pytest.LogCaptureFixture) -> None:
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=0)
    shared.prefetch("boom")  # refused at admission after all: nobody awaits it
    for _ in range(20):
        await asyncio.sleep(0.01)
        if embedder.calls:
            break
    await asyncio.sleep(0.01)
    assert embedder.calls == [["boom"]]
    assert "never retrieved" not in caplog.text


async def test_a_huge_question_is_embedded_from_its_start_only() -> None:
    """A 2 MB paste: the model reads its first 256 tokens anyway; embedding (tokenizing)
    all of it would hold the one embedding thread for seconds, and key the cache with it."""
    embedder = RecordingEmbedder()
    shared = questions(embedder, batch_window_ms=0, max_chars=1000)
    huge = "why does my loop never end " * 80_000
    shared.prefetch(huge)
    vector = await shared.embed(huge)
    assert embedder.calls == [[huge[:1000]]]
    np.testing.assert_allclose(vector, HashingEmbedder().embed_query(huge[:1000]))
    assert all(len(text) <= 1000 for text in shared._cache)
