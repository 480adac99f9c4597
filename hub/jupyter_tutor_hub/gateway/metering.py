"""Tokens, cost, budgets and rate limits, enforced atomically in PostgreSQL.

Before a request goes upstream it *reserves* its worst case (estimated input plus
``max_tokens`` of output) under a row lock on the user's day; concurrent requests of the
same user queue on that lock, so together they can never spend more than the budget.
When the answer ends, the reservation is replaced by what was really used.  A gateway
that dies mid-request leaves a reservation that expires by itself.

Admission comes before any expensive work (policy resolution, retrieval, the model), so a
student who floods the gateway costs it little: past ``max_open_streams`` requests of the
same user in flight, the next is refused from memory, without touching the database.
The reservation is made before the gateway has built its system prompt, so it counts
``prompt_allowance_chars`` for it, and the prompt builder keeps within that bound.
A course's ``budget`` in ``tutor.yaml`` is per student per course, on top of the operator's
daily budget per student: a question in a course must fit both, the course's counted over
what the student spent in that course today (``usage_daily_course``), the operator's over
everything they spent (``usage_daily``), reservations included, under the same row lock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from traitlets import Dict, Float, Integer
from traitlets.config import LoggingConfigurable

from ..db import one_row
from ..policy.config import CourseConfig
from . import metrics
from .errors import GatewayError, rate_limited

#: USD per million tokens: input, output, cache write, cache read.  claude-sonnet-4-5
#: reaches its end of life on 2026-11-30 (the default moved to 4.6); its price stays for
#: hubs that still list it until then.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "claude-opus-4-5": {"input": 5.0, "output": 25.0, "cache_write": 6.25, "cache_read": 0.5},
    "claude-sonnet-4-6": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
    "claude-sonnet-4-5": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
    "claude-haiku-4-5": {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
}
_MILLION = Decimal(1_000_000)
#: How long a refusal at admission withholds the early embedding of a user's questions,
#: and how many refused users are remembered.
_REFUSAL_MEMORY_SECONDS = 60.0
_REFUSALS_KEPT = 10_000
#: A conservative characters-per-token ratio for estimating input before the call.
_CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Usage:
    """Tokens of one answer, as the API reports them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    @classmethod
    def from_api(cls, usage: Any) -> Usage:
        """From the SDK's usage object or a dict; missing counts are zero."""
        get = usage.get if isinstance(usage, dict) else lambda k, d=0: getattr(usage, k, d)
        return cls(*(int(get(k, 0) or 0) for k in cls.__dataclass_fields__))


@dataclass(frozen=True)
class Reservation:
    """What one admitted request may still spend."""

    id: int | None
    user_name: str
    day: dt.date
    max_output_tokens: int
    #: The course the request is in, whose per-course usage it adds to (None: none known).
    course: str | None = None


@dataclass(frozen=True)
class Budget:
    """The daily limits that apply to one request (0: no limit)."""

    tokens: int = 0
    usd: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.tokens or self.usd)


class Metering(LoggingConfigurable):
    """Prices, per-user daily budgets and request rate limits."""

    prices = Dict(
        DEFAULT_PRICES,
        help="""USD per million tokens by model: {model: {input, output, cache_write,
        cache_read}}. A model missing here is metered at the most expensive known price.""",
    ).tag(config=True)
    daily_token_budget = Integer(
        0, help="Tokens (input + output + cache) one user may use per UTC day; 0: no limit."
    ).tag(config=True)
    daily_usd_budget = Float(0.0, help="USD one user may spend per UTC day; 0: no limit.").tag(
        config=True
    )
    requests_per_minute = Integer(
        0, help="Messages requests one user may make per minute; 0: no limit."
    ).tag(config=True)
    min_output_tokens = Integer(
        256,
        help="Near the end of a budget, answers are shortened down to this many tokens "
        "before they are refused.",
    ).tag(config=True)
    reservation_seconds = Integer(
        900, help="A reservation left by a request that never finished expires after this."
    ).tag(config=True)
    max_open_streams = Integer(
        3,
        help="""Messages requests one user may have in flight at once (in this gateway
        process); more are refused at once with a 429, before any database or model work.
        0: no limit.""",
    ).tag(config=True)
    prompt_allowance_chars = Integer(
        12_000,
        help="""Characters reserved, at admission, for what the gateway adds to a request
        (the tutor's rules, the course's settings and policy, course passages). Admission
        comes before the prompt is built; passages that would exceed this are left out,
        so the reservation stays a true worst case.""",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._open: Counter[str] = Counter()
        #: When each user was last refused at admission (rate or budget), newest last.
        self._refused: OrderedDict[str, float] = OrderedDict()

    def refused_recently(self, user: str) -> bool:
        """Whether admission refused ``user`` in the last minute (in this process).

        The gateway starts embedding a question beside its admission, to take the
        embedding off the answer's critical path; a caller being refused (flooding, out of
        budget) gets no such head start, so refused requests never buy model time.
        """
        refused = self._refused.get(user)
        return refused is not None and time.monotonic() - refused < _REFUSAL_MEMORY_SECONDS

    def _note_refusal(self, user: str) -> None:
        self._refused[user] = time.monotonic()
        self._refused.move_to_end(user)
        while len(self._refused) > _REFUSALS_KEPT:
            self._refused.popitem(last=False)

    @contextmanager
    def open_slot(self, user: str) -> Iterator[None]:
        """Hold one of ``user``'s open-request slots for the block, or raise a 429."""
        if self.max_open_streams and self._open[user] >= self.max_open_streams:
            metrics.BUDGET_REJECTIONS.labels("open_streams").inc()
            raise rate_limited(
                f"You already have {self.max_open_streams} questions being answered. "
                "Wait for one of them to finish, then ask again.",
                5,
                "too_many_streams",
            )
        self._open[user] += 1
        try:
            yield
        finally:
            self._open[user] -= 1
            if not self._open[user]:
                del self._open[user]

    def budget(self) -> Budget:
        """The operator's daily budgets per student, over all courses."""
        return Budget(self.daily_token_budget, self.daily_usd_budget)

    @staticmethod
    def course_budget(course: CourseConfig | None) -> Budget:
        """``course``'s own daily budgets per student (``tutor.yaml`` ``budget``)."""
        if course is None:
            return Budget()
        return Budget(int(course.daily_tokens or 0), float(course.daily_usd or 0.0))

    def price(self, model: str) -> dict[str, float]:
        if model in self.prices:
            return self.prices[model]
        return max(self.prices.values(), key=lambda p: p["output"])

    def cost(self, model: str, usage: Usage) -> Decimal:
        """USD of ``usage`` on ``model``."""
        p = self.price(model)
        total = (
            Decimal(str(p["input"])) * usage.input_tokens
            + Decimal(str(p["output"])) * usage.output_tokens
            + Decimal(str(p["cache_write"])) * usage.cache_creation_input_tokens
            + Decimal(str(p["cache_read"])) * usage.cache_read_input_tokens
        )
        return (total / _MILLION).quantize(Decimal("0.000001"))

    async def admit(
        self,
        conn: AsyncConnection,
        user: str,
        model: str,
        input_chars: int,
        max_tokens: int,
        course: CourseConfig | None = None,
    ) -> Reservation:
        """Check the rate limit and reserve the request's worst case, or raise a 429.

        ``input_chars`` is what the caller sent; ``prompt_allowance_chars`` is added for
        what the gateway adds.  Returns the reservation, whose ``max_output_tokens`` may be
        lower than asked when the budget is nearly used up (a shorter answer rather than
        none).
        """
        name = course.name if course is not None else None
        limits = [(self.budget(), None), (self.course_budget(course), name)]
        limits = [(budget, scope) for budget, scope in limits if budget]
        if limits:
            input_chars += self.prompt_allowance_chars
        # Two round trips: the statements up to the lock and the reads in one pipeline, the
        # reservation and the commit in another.  The server runs them in order, so the
        # reservations are summed only once the user's day is locked, as before.
        try:
            async with conn.pipeline(), conn.transaction():
                today = await conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date")
                window = await self._count_request(conn, user) if self.requests_per_minute else None
                if limits:
                    await _lock_day(conn, user)
                spent = [await _spent(conn, user, scope) for _, scope in limits]
                (day,) = one_row(await today.fetchone())
                if window is not None:
                    await self._check_window(window)
                if not limits:
                    return Reservation(None, user, day, max_tokens, name)
                reserved, output_tokens = await self._reserve(
                    conn,
                    user,
                    day,
                    model,
                    input_chars,
                    max_tokens,
                    name,
                    zip(limits, spent, strict=True),
                )
        except GatewayError:  # refused: no head start for this user's next questions
            self._note_refusal(user)
            raise
        (reservation_id,) = one_row(await reserved.fetchone())
        return Reservation(reservation_id, user, day, output_tokens, name)

    async def _count_request(self, conn: AsyncConnection, user: str) -> AsyncCursor[Any]:
        """Count the request in the user's minute (see :meth:`_check_window`)."""
        return await conn.execute(
            "INSERT INTO rate_windows (user_name, window_start, count)"
            " VALUES (%s, date_trunc('minute', now()), 1)"
            " ON CONFLICT (user_name, window_start) DO UPDATE"
            " SET count = rate_windows.count + 1 WHERE rate_windows.count < %s"
            " RETURNING count",
            (user, self.requests_per_minute),
        )

    async def _check_window(self, window: AsyncCursor[Any]) -> None:
        """A 429 when the minute's count was already at the limit (no row came back)."""
        if await window.fetchone() is None:
            metrics.BUDGET_REJECTIONS.labels("rate").inc()
            wait = 60 - dt.datetime.now(dt.UTC).second
            raise rate_limited(
                f"You are asking very quickly ({self.requests_per_minute} questions a minute "
                f"at most). Take a moment to try the last hint, then ask again in {wait} s.",
                wait,
            )

    async def _reserve(
        self,
        conn: AsyncConnection,
        user: str,
        day: dt.date,
        model: str,
        input_chars: int,
        max_tokens: int,
        name: str | None,
        limits: Iterable[tuple[tuple[Budget, str | None], Spent]],
    ) -> tuple[AsyncCursor[Any], int]:
        """Check each budget against what was spent; queue the reservation's insert (its
        cursor) and return it with the answer's allowed length."""
        input_tokens = input_chars // _CHARS_PER_TOKEN + 1
        output_tokens = max_tokens
        for (budget, scope), spent in limits:
            spent_tokens, spent_usd = await spent.total()
            affordable = self._affordable_output(
                model,
                input_tokens,
                max_tokens,
                budget,
                spent_tokens=spent_tokens,
                spent_usd=spent_usd,
            )
            if affordable < min(self.min_output_tokens, max_tokens):
                exhausted = budget.usd and spent_usd >= Decimal(str(budget.usd))
                reason = "daily_usd" if exhausted else "daily_tokens"
                metrics.BUDGET_REJECTIONS.labels(
                    reason if scope is None else "course_" + reason
                ).inc()
                raise rate_limited(
                    _budget_message(scope), _seconds_to_midnight(), "budget_exceeded"
                )
            output_tokens = min(output_tokens, affordable)
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        cursor = await conn.execute(
            "INSERT INTO budget_reservations"
            " (user_name, day, tokens, cost_usd, expires_at, course_id)"
            " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s), %s) RETURNING id",
            (user, day, usage.total, self.cost(model, usage), self.reservation_seconds, name),
        )
        return cursor, output_tokens

    def _affordable_output(
        self,
        model: str,
        input_tokens: int,
        max_tokens: int,
        budget: Budget,
        *,
        spent_tokens: int,
        spent_usd: Decimal,
    ) -> int:
        allowed = max_tokens
        if budget.tokens:
            allowed = min(allowed, budget.tokens - spent_tokens - input_tokens)
        if budget.usd:
            p = self.price(model)
            left = Decimal(str(budget.usd)) - spent_usd
            left -= Decimal(str(p["input"])) * input_tokens / _MILLION
            allowed = min(allowed, int(left * _MILLION / Decimal(str(p["output"]))))
        return max(0, int(allowed))

    async def settle(
        self, conn: AsyncConnection, reservation: Reservation, model: str, usage: Usage
    ) -> Decimal:
        """Replace the reservation by what was used; return the cost in USD."""
        cost = self.cost(model, usage)
        async with conn.transaction():
            if reservation.id is not None:
                await conn.execute(
                    "DELETE FROM budget_reservations WHERE id = %s", (reservation.id,)
                )
            await conn.execute(
                "INSERT INTO usage_daily (user_name, day, tokens, cost_usd, requests)"
                " VALUES (%s, %s, %s, %s, 1) ON CONFLICT (user_name, day) DO UPDATE SET"
                " tokens = usage_daily.tokens + excluded.tokens,"
                " cost_usd = usage_daily.cost_usd + excluded.cost_usd,"
                " requests = usage_daily.requests + 1",
                (reservation.user_name, reservation.day, usage.total, cost),
            )
            if reservation.course:
                await conn.execute(
                    "INSERT INTO usage_daily_course"
                    " (user_name, course_id, day, tokens, cost_usd, requests)"
                    " VALUES (%s, %s, %s, %s, %s, 1)"
                    " ON CONFLICT (user_name, course_id, day) DO UPDATE SET"
                    " tokens = usage_daily_course.tokens + excluded.tokens,"
                    " cost_usd = usage_daily_course.cost_usd + excluded.cost_usd,"
                    " requests = usage_daily_course.requests + 1",
                    (
                        reservation.user_name,
                        reservation.course,
                        reservation.day,
                        usage.total,
                        cost,
                    ),
                )
        metrics.COST_USD.labels(model).inc(float(cost))
        for kind in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            metrics.TOKENS.labels(model, kind.removesuffix("_tokens")).inc(getattr(usage, kind))
        return cost

    async def today(self, conn: AsyncConnection, user: str) -> dict[str, Any]:
        """The caller's usage today (all courses) and what is left of the operator's budgets."""
        budget = self.budget()
        row = await (
            await conn.execute(
                "SELECT tokens, cost_usd, requests FROM usage_daily"
                " WHERE user_name = %s AND day = (now() AT TIME ZONE 'UTC')::date",
                (user,),
            )
        ).fetchone()
        tokens, cost, requests = row or (0, Decimal(0), 0)
        return {
            "user": user,
            "tokens": int(tokens),
            "cost_usd": float(cost),
            "requests": int(requests),
            "daily_token_budget": budget.tokens or None,
            "daily_usd_budget": budget.usd or None,
            "tokens_left": max(0, budget.tokens - int(tokens)) if budget.tokens else None,
            "resets_in_seconds": _seconds_to_midnight(),
        }


def _seconds_to_midnight() -> int:
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((midnight - now).total_seconds()) + 1


async def _lock_day(conn: AsyncConnection, user: str) -> None:
    """Lock the user's day: the lock serializes all of their admissions, whatever the
    course, until the reservation is committed."""
    await conn.execute(
        f"INSERT INTO usage_daily (user_name, day) VALUES (%s, {_TODAY}) ON CONFLICT DO NOTHING",
        (user,),
    )
    await conn.execute(
        f"SELECT 1 FROM usage_daily WHERE user_name = %s AND day = {_TODAY} FOR UPDATE", (user,)
    )


#: The user's day, as every statement of one admission computes it (``now()`` is the
#: transaction's start, so they agree).
_TODAY = "(now() AT TIME ZONE 'UTC')::date"


@dataclass(frozen=True)
class Spent:
    """What a user spent and holds today, as two queued queries (pipelined)."""

    used: AsyncCursor[Any]
    held: AsyncCursor[Any]

    async def total(self) -> tuple[int, Decimal]:
        used_tokens, used_usd = await self.used.fetchone() or (0, Decimal(0))
        held_tokens, held_usd = one_row(await self.held.fetchone())
        return int(used_tokens + held_tokens), Decimal(used_usd) + Decimal(held_usd)


async def _spent(conn: AsyncConnection, user: str, course: str | None) -> Spent:
    """Tokens and USD ``user`` spent or holds in reservations today: in ``course``, or in
    all courses when it is None (queued after :func:`_lock_day`)."""
    if course is None:
        used = f"SELECT tokens, cost_usd FROM usage_daily WHERE user_name = %s AND day = {_TODAY}"
        held = ""
        args: tuple[Any, ...] = (user,)
    else:
        used = (
            "SELECT tokens, cost_usd FROM usage_daily_course"
            f" WHERE user_name = %s AND day = {_TODAY} AND course_id = %s"
        )
        held = " AND course_id = %s"
        args = (user, course)
    return Spent(
        await conn.execute(used, args),
        await conn.execute(
            "SELECT coalesce(sum(tokens), 0)::bigint, coalesce(sum(cost_usd), 0)"
            f" FROM budget_reservations WHERE user_name = %s AND day = {_TODAY}"
            " AND expires_at > now()" + held,
            args,
        ),
    )


def _budget_message(course: str | None = None) -> str:
    hours, rest = divmod(_seconds_to_midnight(), 3600)
    which = f"tutor budget for the course {course}" if course else "tutor budget"
    return (
        f"You have used today's {which}. It resets at midnight UTC "
        f"(in {hours} h {rest // 60} min). Keep going with the course notes meanwhile, "
        "or ask your instructor if you need more."
    )
