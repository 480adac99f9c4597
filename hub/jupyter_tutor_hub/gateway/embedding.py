"""Question embeddings for the gateway: batched across concurrent questions, cached.

Embedding a question is milliseconds of CPU, and done one question at a time it is the
largest part of what a burst of questions costs the gateway (``bench/profiles/``): each
call pays the model's fixed cost, and calls from several threads fight each other and the
event loop for the cores.  So questions that arrive together are embedded together: the
first waits at most ``batch_window_ms`` for others, then one worker thread, off the event
loop, embeds up to ``batch_max`` of them in one call; questions arriving while it works
form the next batch.  A question asked again (the same exercise handed to a whole class,
a student retrying) is answered from a small cache of recent questions.

The vectors are the same as one at a time: the model embeds each text of a batch
independently.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from ..course.embedder import Embedder
from . import metrics


class QuestionEmbedder(LoggingConfigurable):
    """Embeds questions for retrieval in shared batches, with a cache of recent ones."""

    batch_window_ms = Float(
        3.0,
        help="""Milliseconds the first question of a batch waits for others to embed with it
        (bounded: a lone question waits this long at most).""",
    ).tag(config=True)
    batch_max = Integer(64, help="Most questions embedded in one model call.").tag(config=True)
    cache_size = Integer(
        2048,
        help="Recent questions whose embeddings are kept (about 1.5 KiB each); 0: no cache.",
    ).tag(config=True)

    max_chars = Integer(
        16_384,
        help="""Characters of a question that are embedded (and key the cache). The model
        reads its first 256 tokens only; a 2 MB paste would otherwise cost seconds of the
        one embedding thread that every student's question waits for, and megabytes of
        cache.""",
    ).tag(config=True)

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embedder = embedder
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        #: The batch being embedded now.
        self._running: dict[str, asyncio.Future[Any]] = {}
        #: Questions embedded ahead of their search (:meth:`prefetch`), not yet searched.
        self._prefetched: OrderedDict[str, bool] = OrderedDict()
        self._worker: asyncio.Task[None] | None = None
        # One thread: batches run one after another, never competing for the cores.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tutor-embed")

    async def embed(self, text: str) -> Any:
        """The vector of ``text`` (a cleaned question)."""
        text = text[: self.max_chars]
        cached = self._cache.get(text)
        prefetched = self._prefetched.pop(text, False)
        if cached is not None:
            self._cache.move_to_end(text)
            if not prefetched:  # embedded for this very question, counted as embedded
                metrics.QUESTION_EMBEDDINGS.labels("cached").inc()
            return cached
        # Shielded: one caller leaving (its client gone) must not cancel the others' vector.
        return await asyncio.shield(self._queued(text))

    def prefetch(self, text: str) -> None:
        """Start embedding ``text`` now; a later :meth:`embed` of it waits for this one.

        The gateway calls it as a question arrives, so the embedding runs while the
        question is admitted and its policy read, not after."""
        text = text[: self.max_chars]
        if self.cache_size > 0 and text not in self._cache:  # the cache hands it over
            self._queued(text)
            self._prefetched[text] = True
            while len(self._prefetched) > max(self.cache_size, self.batch_max):
                self._prefetched.popitem(last=False)  # never asked for (refused)

    def _queued(self, text: str) -> asyncio.Future[Any]:
        """The future of ``text``'s vector, queued for the next batch if it is not yet."""
        future = self._waiting.get(text) or self._running.get(text)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # a prefetched question nobody asks for after all (refused at admission):
            # its failure is nobody's to raise
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._waiting[text] = future
            if self._worker is None:
                self._worker = asyncio.create_task(self._work())
        return future

    async def _work(self) -> None:
        """Embed what is waiting, batch after batch, until nothing is."""
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                await asyncio.sleep(self.batch_window_ms / 1000)
                texts = list(self._waiting)[: self.batch_max]
                futures = [self._waiting.pop(t) for t in texts]
                # still found by a caller asking for one of them while the batch runs
                self._running = dict(zip(texts, futures, strict=True))
                try:
                    vectors = await loop.run_in_executor(
                        self._executor, self.embedder.embed_queries, texts
                    )
                except Exception as err:
                    for future in futures:
                        if not future.done():
                            future.set_exception(err)
                    continue
                metrics.QUESTION_EMBEDDINGS.labels("embedded").inc(len(texts))
                metrics.EMBEDDING_BATCH_SIZE.observe(len(texts))
                for text, future, vector in zip(texts, futures, vectors, strict=True):
                    self._remember(text, vector)
                    if not future.done():
                        future.set_result(vector)
        finally:
            self._running = {}
            self._worker = None

    def _remember(self, text: str, vector: Any) -> None:
        if self.cache_size <= 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def close(self) -> None:
        """Stop the worker thread (pending batches finish first)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
