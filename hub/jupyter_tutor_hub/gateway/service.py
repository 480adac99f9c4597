"""The gateway's resources and settings, shared by all its handlers.

One ``TutorGateway`` per process: the database pool, the upstream client, the course
retriever and the policies.  Handlers stay thin and ask it for what they need.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Instance, Integer, Unicode, default, observe
from traitlets.config import LoggingConfigurable

from jupyter_tutor import tracing

from ..policy.guardrails import Guardrails
from ..policy.membership import CourseGroups
from ..policy.store import published_courses
from . import metrics
from .embedding import QuestionEmbedder
from .metering import Metering
from .prompt import PromptBuilder
from .request import ModelPolicy
from .store import ConversationStore
from .upstream import Upstream
from .upstreams.router import Router

if TYPE_CHECKING:
    from ..course.search import Mode


class TutorGateway(LoggingConfigurable):
    """Settings of the gateway as a whole, and its shared resources."""

    default_course = Unicode(
        help="Course whose material grounds answers ($TUTOR_DEFAULT_COURSE).",
    ).tag(config=True)

    @default("default_course")
    def _default_course_default(self) -> str:
        return os.environ.get("TUTOR_DEFAULT_COURSE", "")

    passages = Integer(
        4, help="Course passages retrieved and added to each question (0: none)."
    ).tag(config=True)
    offline_min_similarity = Float(
        0.325,
        help="""Without a model, a course passage is shown only when its embedding similarity
        to the question reaches this; below it for every passage, the offline answer says
        the course does not cover the question (yet). Measured in bench/relevance_cutoff.py.""",
    ).tag(config=True)
    retrieval_timeout = Integer(
        5, help="Seconds retrieval may take before the question goes on without passages."
    ).tag(config=True)

    embedding_threads = Integer(
        1,
        help="""CPU threads the embedding model may use for questions (ONNX Runtime's, and
        torch's for this process if torch embeds them); 0: one per core. One leaves the
        other cores to the event loop and the database: concurrent questions are embedded
        in shared batches (QuestionEmbedder), which is what makes a burst cheap, and
        threads fighting for busy cores made each embedding several times slower.""",
    ).tag(config=True)

    max_preparing = Integer(
        16,
        help="""Questions prepared at once (admission, policy, retrieval, storing the turn)
        before their answer streams; more wait their turn in memory, in order. A burst
        (a whole class asking at once) then queues here instead of timing out in the
        database pool (Database.pool_timeout); keep it near Database.pool_max_size.""",
    ).tag(config=True)
    record_timeout = Integer(
        60,
        help="""Seconds storing a finished answer may wait for a database connection (longer
        than Database.pool_timeout: under a burst the answer is stored late, not lost).""",
    ).tag(config=True)

    pool = Instance(
        AsyncConnectionPool,
        help="The database pool, set once it is open (requests are served only after that).",
    )
    embedder = AnyTrait(None, allow_none=True, help="The course embedder (loaded at start).")
    questions = Instance(
        QuestionEmbedder, allow_none=True, help="Batches and caches question embeddings."
    )
    embedder_loading = Bool(
        False, help="True while the embedder loads: retrieval is text-only, health 'starting'."
    )
    upstream = Instance(Upstream)
    router = Instance(Router)
    metering = Instance(Metering)
    policy = Instance(ModelPolicy)
    prompt = Instance(PromptBuilder)
    store = Instance(ConversationStore)
    guardrails = Instance(Guardrails)
    course_groups = Instance(CourseGroups)

    @default("upstream")
    def _upstream_default(self) -> Upstream:
        return Upstream(parent=self)

    @default("router")
    def _router_default(self) -> Router:
        return Router(parent=self, anthropic=self.upstream)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The upstreams' own prices complete the price table (budgets, costs, dashboards).
        self.metering.prices = {**self.metering.prices, **self.router.prices()}

    @default("metering")
    def _metering_default(self) -> Metering:
        return Metering(parent=self)

    @default("policy")
    def _policy_default(self) -> ModelPolicy:
        return ModelPolicy(parent=self)

    @default("store")
    def _store_default(self) -> ConversationStore:
        return ConversationStore(parent=self)

    @default("prompt")
    def _prompt_default(self) -> PromptBuilder:
        return PromptBuilder(parent=self)

    @default("course_groups")
    def _course_groups_default(self) -> CourseGroups:
        return CourseGroups(parent=self)

    @default("guardrails")
    def _guardrails_default(self) -> Guardrails:
        return Guardrails(parent=self)

    @property
    def preparing(self) -> asyncio.Semaphore:
        """The slots of :attr:`max_preparing` (waiters are served in order)."""
        if self._preparing is None:
            self._preparing = asyncio.Semaphore(self.max_preparing)
        return self._preparing

    _preparing: asyncio.Semaphore | None = None

    @observe("embedder")
    def _embedder_changed(self, change: Any) -> None:
        if self.questions is not None:
            self.questions.close()
        embedder = change["new"]
        self.questions = QuestionEmbedder(embedder, parent=self) if embedder else None

    @property
    def offline_cutoff(self) -> float | None:
        """The offline relevance cut-off, or ``None`` when retrieval runs without embeddings
        (then nothing can say how well a passage matches)."""
        return self.offline_min_similarity if self.embedder is not None else None

    async def has_courses(self) -> bool:
        """Whether any course can ground answers: a default course, or a published one."""
        if self.default_course:
            return True
        async with self.pool.connection() as conn:
            return bool(await published_courses(conn))

    def load_embedder(self, has_courses: bool = True) -> None:
        """Load the course embedder (seconds of CPU: call it in a thread once serving).

        Until it is loaded, retrieval runs on full text only.  Without a course
        (``has_courses``) there is nothing to retrieve, so nothing is loaded.
        """
        if not has_courses:
            self.log.warning(
                "No course is configured (TutorGateway.default_course or "
                "$TUTOR_DEFAULT_COURSE) or published: answers get no course passages."
            )
            return
        self.embedder_loading = True
        self.log.info("Loading the embedding model; retrieval is text-only until it is loaded")
        started = time.monotonic()
        try:
            from ..course.embedder import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder(
                parent=self, query_threads=self.embedding_threads
            )
            embedder.embed_query("warm up")
            if self.embedding_threads and "torch" in sys.modules:  # questions on torch
                import torch

                torch.set_num_threads(self.embedding_threads)
            self.embedder = embedder
            self.log.info(
                "Embedding model loaded in %.1f s; retrieval is hybrid",
                time.monotonic() - started,
            )
        except Exception:
            self.log.error(
                "The embedding model could not be loaded; retrieval stays text-only",
                exc_info=True,
            )
        finally:
            self.embedder_loading = False

    async def retrieve(self, course: str, question: str, k: int | None = None) -> Sequence[Any]:
        """Student-visible course passages for ``question``; empty on any failure."""
        k = self.passages if k is None else k
        if not (course and question.strip() and k):
            return []
        mode: Mode = "hybrid" if self.questions is not None else "text"
        started = time.monotonic()
        try:
            with tracing.span("gateway.retrieval", course=course, k=k, mode=mode) as span:
                hits = await asyncio.wait_for(
                    self._search(course, question, k, mode), timeout=self.retrieval_timeout
                )
                span.set_attribute("tutor.passages", len(hits))
                return hits
        except Exception:
            self.log.warning("Retrieval failed; answering without passages", exc_info=True)
            return []
        finally:
            metrics.RETRIEVAL_SECONDS.observe(time.monotonic() - started)

    def prefetch_question(self, user: str, question: str) -> None:
        """Start embedding ``question`` as it arrives, beside its admission and policy,
        unless nothing would search with it or ``user`` was just refused admission."""
        if not (self.questions is not None and self.passages and question.strip()):
            return
        if self.metering.refused_recently(user):
            return
        from ..course.query import clean_question

        self.questions.prefetch(clean_question(question))

    async def _search(self, course: str, question: str, k: int, mode: Mode) -> list[Any]:
        """Hybrid search with the question embedded in a shared batch."""
        from ..course.query import clean_question
        from ..course.search import asearch

        vector = None
        if mode != "text" and self.questions is not None:
            vector = await self.questions.embed(clean_question(question))
        return await asearch(
            self.pool, self.embedder, course, question, k, mode=mode, vector=vector
        )


def citation_items(course: str, passages: Sequence[Any]) -> list[dict[str, Any]]:
    """The passages as citations: the response header's items, stored with the answer."""
    return [
        {
            "course": course,
            "path": hit.path,
            "cell": hit.cell,
            "heading": hit.heading,
            "text": hit.text[:300],
        }
        for hit in passages
    ]
