"""What the gateway asks the instructor's policy for each question.

Before the model is called, :meth:`Guardrails.decide` resolves the policy where the
student is (from the published snapshot, never from the request), the rung of the hint
ladder, and whether the question came without anything to look at.  After the student's
turn is stored, :meth:`Guardrails.record_question` climbs the ladder and writes the facts
the instructors' dashboard counts.  In between, the output guard built from the course's
protected cells watches the answer.

``no-help`` (exam mode) is answered by the gateway itself, without calling the model: a
refusal that costs nothing, cannot be talked out of its rules by any prompt, and reads the
same every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from traitlets import Instance, Unicode, default
from traitlets.config import LoggingConfigurable

from ..db import one_row
from . import ladder, memory
from .canned import canned_events
from .config import CourseConfig
from .guard import AnswerGuard, ProtectedIndex, SolutionGuard
from .protected import MATERIAL_VERSION, material_version, protected_material
from .python_errors import find_error
from .resolve import Policy, Situation, resolve
from .store import load_course_config, load_notebook

#: The model name a refusal is stored and metered under (it costs nothing).
REFUSAL_MODEL = "tutor-policy"

_CODE_OR_ERROR = re.compile(r"```|Traceback \(most recent call last\)|^(?: {4}|\t)\S", re.M)


def is_new_question(messages: list[dict[str, Any]]) -> bool:
    """Whether the last message is the student asking, not a tool round of an answer."""
    last = messages[-1]
    content = last.get("content")
    if last.get("role") != "user":
        return False
    return not (
        isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def student_texts(messages: list[dict[str, Any]]) -> list[str]:
    """What the student wrote or holds, as the request shows it: the text of user turns
    and of tool results (their notebook, their kernel's output)."""
    texts: list[str] = []
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or ():
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    texts.append(inner)
                elif isinstance(inner, list):
                    texts += [b["text"] for b in inner if b.get("type") == "text"]
            elif block.get("type") == "text":
                texts.append(block["text"])
    return texts


@dataclass(frozen=True)
class Decision:
    """How the tutor answers this request, as the instructor's policy says."""

    policy: Policy
    situation: Situation
    #: The student asked (False: a tool round of an answer already under way).
    new_question: bool
    #: Rung of the hint ladder for this answer (1-based), under ``hints-only``.
    level: int | None = None
    ladder_key: str | None = None
    #: The client reports neither code nor an error, and the question holds none.
    missing_context: bool = False
    error_type: str | None = None

    @property
    def refuse(self) -> bool:
        return self.policy.name == "no-help"

    @property
    def course_id(self) -> str:
        return self.policy.course.name


class Guardrails(LoggingConfigurable):
    """Policy resolution, the hint ladder, analytics facts and the output guard."""

    guard = Instance(SolutionGuard)

    @default("guard")
    def _guard_default(self) -> SolutionGuard:
        return SolutionGuard(parent=self)

    refusal = Unicode(
        "Your instructor has switched the tutor off for this part of the course (for "
        "example during an exam), so I cannot help with it right now. If something "
        "technical is broken (the notebook or the server does not work), ask your "
        "instructor or a proctor.",
        help="The answer under a `no-help` policy (the model is not called).",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._indexes: dict[str, tuple[tuple[str | None, ...], ProtectedIndex]] = {}
        self._index_locks: dict[str, asyncio.Lock] = {}

    async def decide(
        self,
        pool: AsyncConnectionPool,
        *,
        user: str,
        course: str,
        situation: Situation,
        messages: list[dict[str, Any]],
        question: str,
        conversation_id: uuid.UUID | None,
        config: CourseConfig | None = None,
    ) -> Decision:
        """The policy for this request; reads only (``record_question`` writes).
        ``config``: the course's published settings, when the caller has read them.  A
        database connection is taken only if something must be read (often nothing is:
        the settings given, no notebook reported, no hint ladder)."""
        new_question = is_new_question(messages)
        async with contextlib.AsyncExitStack() as stack:
            conn: AsyncConnection | None = None

            async def connection() -> AsyncConnection:
                nonlocal conn
                if conn is None:
                    conn = await stack.enter_async_context(pool.connection())
                return conn

            if config is None and course:
                config = await load_course_config(await connection(), course)
            notebook = None
            if config and situation.turn.notebook_path:
                notebook = await load_notebook(
                    await connection(), course, situation.turn.notebook_path
                )
            policy = resolve(config or CourseConfig(name=course), notebook, situation)
            key = ladder.ladder_key(
                policy.notebook_path, policy.exercise, policy.cell_index, conversation_id
            )
            level = None
            if policy.name == "hints-only":
                level = await ladder.next_level(
                    await connection(), user, course, key, climb=new_question
                )
        return Decision(
            policy=policy,
            situation=situation,
            new_question=new_question,
            level=level,
            ladder_key=key,
            missing_context=situation.reports_nothing_to_look_at
            and not _CODE_OR_ERROR.search(question),
            error_type=situation.error_type or find_error(question),
        )

    async def record_question(
        self,
        conn: AsyncConnection,
        decision: Decision,
        *,
        user: str,
        conversation_id: uuid.UUID,
        request_id: str,
    ) -> None:
        """Climb the ladder and store the question's facts (new questions only), on
        ``conn`` (the gateway stores them with the student's turn, in one transaction)."""
        if not decision.new_question:
            return
        policy = decision.policy
        key = decision.ladder_key or ladder.ladder_key(None, None, None, conversation_id)
        async with conn.transaction():
            if decision.level is not None and key is not None:
                await ladder.record(conn, user, decision.course_id, key, decision.level)
            await conn.execute(
                "INSERT INTO tutor_questions (course_id, user_name, conversation_id,"
                " notebook_path, cell_index, exercise, ladder_key, policy, kind, hint_level,"
                " error_type, missing_context, request_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    decision.course_id,
                    user,
                    conversation_id,
                    policy.notebook_path or decision.situation.turn.notebook_path,
                    policy.cell_index
                    if policy.notebook_path
                    else decision.situation.turn.cell_index,
                    policy.exercise,
                    key,
                    policy.name,
                    decision.situation.turn.kind,
                    decision.level,
                    decision.error_type,
                    decision.missing_context,
                    request_id,
                ),
            )

    async def mark_guarded(
        self, pool: AsyncConnectionPool, conversation_id: uuid.UUID, withheld: list[str]
    ) -> None:
        """The guard withheld part of the answer to the conversation's latest question:
        ``withheld`` names the protected exercises it reproduced."""
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE tutor_questions SET guarded = true, withheld = ARRAY("
                " SELECT DISTINCT unnest(withheld || %s::text[])) WHERE id = ("
                " SELECT max(id) FROM tutor_questions WHERE conversation_id = %s)",
                (withheld, conversation_id),
            )

    async def answer_guard(
        self,
        pool: AsyncConnectionPool,
        course: str,
        user: str,
        messages: list[dict[str, Any]],
        config: CourseConfig | None = None,
    ) -> AnswerGuard:
        """The output guard of one answer: the course's protected texts, what ``user`` was
        shown of them lately, and what the request shows the student already holds.
        ``config``: the course's published settings, when the caller has read them."""
        if not course or not self.guard.enabled:
            return self.guard.for_answer(None, course=course)
        async with pool.connection() as conn:
            if config is None:
                config = await load_course_config(conn, course)
            hours = self.guard.memory_hours
            if config is not None and config.guard_memory_hours is not None:
                hours = config.guard_memory_hours
            # One round trip: the material's version and what the student was shown.
            async with conn.pipeline():
                versions = await conn.execute(MATERIAL_VERSION, {"course": course})
                shown = await memory.revealed(conn, user, course, hours)
                version = tuple(one_row(await versions.fetchone()))
        index = await self.protected_index(pool, course, version)
        if index is None or index.empty:
            return self.guard.for_answer(None, course=course)
        return self.guard.for_answer(index, shown, student_texts(messages), course)

    async def after_answer(
        self,
        pool: AsyncConnectionPool,
        guard: AnswerGuard,
        *,
        user: str,
        conversation_id: uuid.UUID,
    ) -> None:
        """Remember what the answer showed of protected texts (read back only within the
        course's window); flag the question with what the guard withheld."""
        await memory.remember(pool, user, guard.course, guard.new_reveals())
        if guard.withheld:
            await self.mark_guarded(pool, conversation_id, guard.withheld)

    def refusal_events(self) -> AsyncIterator[dict[str, Any]]:
        return canned_events(self.refusal, REFUSAL_MODEL)

    async def protected_index(
        self,
        pool: AsyncConnectionPool,
        course: str,
        version: tuple[str | None, ...] | None = None,
    ) -> ProtectedIndex | None:
        """The guard's index of ``course``, rebuilt when the course material changed
        (``version``: its :func:`material_version`, when the caller has read it)."""
        if not course or not self.guard.enabled:
            return None
        if version is None:
            async with pool.connection() as conn:
                version = await material_version(conn, course)
        cached = self._indexes.get(course)
        if cached and cached[0] == version:
            return cached[1]  # the usual case: no lock, no wait behind other questions
        lock = self._index_locks.setdefault(course, asyncio.Lock())
        async with lock:
            cached = self._indexes.get(course)
            if cached and cached[0] == version:
                return cached[1]  # rebuilt while this question waited
            protected, visible = await protected_material(pool, course)
            async with pool.connection() as conn:
                config = await load_course_config(conn, course)
            ratio = config.guard_trigger_ratio if config is not None else None
            index = await asyncio.to_thread(self.guard.build_index, protected, visible, ratio)
            self._indexes[course] = (version, index)
            self.log.info(
                "Output guard for %s: %d protected texts indexed", course, len(index.fingerprints)
            )
            return index
