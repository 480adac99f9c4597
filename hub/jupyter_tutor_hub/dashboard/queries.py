"""The dashboard's tables: one SQL query each, over one course and a period of days.

Each table is what the page shows and what its CSV export holds, column for column.
Questions come from ``tutor_questions`` (one row per question a student asked), tokens
and cost from the ``usage`` ledger, votes from ``feedback``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from traitlets import Integer
from traitlets.config import LoggingConfigurable

from .adoption import Population

_SINCE = "now() - make_interval(days => %(days)s)"


@dataclass
class Table:
    """A table of the dashboard: its columns (key, heading) and rows."""

    name: str
    title: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def csv(self) -> str:
        """The table as CSV; text cells a spreadsheet would run as a formula are quoted."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([key for key, _ in self.columns])
        for row in self.rows:
            writer.writerow([_plain(row.get(key)) for key, _ in self.columns])
        return out.getvalue()


#: A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _plain(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # students write titles and questions: never a formula
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return "" if value is None else value


@dataclass(frozen=True)
class Scope:
    """What a table covers: one course, the last ``days`` days."""

    course: str
    days: int
    #: Whether the course lets instructors read conversations (even then, only those whose
    #: student was told so when the conversation began: ``instructors_may_read``).
    conversations_visible: bool


async def _rows(
    conn: AsyncConnection, scope: Scope, sql: str, **params: Any
) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts, with ``%(course)s`` and ``%(days)s`` taken from ``scope``."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, {"course": scope.course, "days": scope.days, **params})
    return await cur.fetchall()


class Analytics(LoggingConfigurable):
    """The dashboard's queries, with the thresholds instructors may tune."""

    many_questions = Integer(
        8, help="Questions on one exercise that flag a student as maybe needing help."
    ).tag(config=True)
    repeated_errors = Integer(
        3, help="Times the same error on one exercise that flag a student."
    ).tag(config=True)
    stuck_votes = Integer(2, help="'Still stuck' votes on one exercise that flag a student.").tag(
        config=True
    )

    @property
    def tables(self) -> dict[str, Callable[[AsyncConnection, Scope], Awaitable[Table]]]:
        """Every table by name, in the order the page shows them."""
        return {
            "questions": self.questions,
            "errors": self.errors,
            "withheld": self.withheld,
            "attention": self.attention,
            "students": self.students,
            "days": self.days,
            "votes": self.votes,
            "comments": self.comments,
            "conversations": self.conversations,
        }

    async def questions(self, conn: AsyncConnection, scope: Scope) -> Table:
        return Table(
            "questions",
            "Questions per notebook and cell",
            [
                ("notebook", "Notebook"),
                ("cell", "Cell"),
                ("exercise", "Exercise"),
                ("questions", "Questions"),
                ("errors", "Errors explained"),
                ("students", "Students"),
                ("withheld", "Answers stopped by the guard"),
            ],
            await _rows(
                conn,
                scope,
                "SELECT coalesce(notebook_path, '(no notebook)') AS notebook, cell_index AS cell,"
                " exercise, count(*) AS questions,"
                " count(*) FILTER (WHERE error_type IS NOT NULL OR kind = 'explain') AS errors,"
                " count(DISTINCT user_name) AS students,"
                " count(*) FILTER (WHERE guarded) AS withheld"
                f" FROM tutor_questions WHERE course_id = %(course)s AND created_at >= {_SINCE}"
                " GROUP BY 1, 2, 3 ORDER BY questions DESC, notebook, cell NULLS FIRST",
            ),
        )

    async def withheld(self, conn: AsyncConnection, scope: Scope) -> Table:
        """Answers the output guard cut, by the exercise whose solution they reproduced."""
        return Table(
            "withheld",
            "Answers withheld by the guard, per exercise",
            [
                ("exercise", "Exercise reproduced"),
                ("answers", "Answers withheld"),
                ("students", "Students"),
            ],
            await _rows(
                conn,
                scope,
                "SELECT w.reproduced AS exercise, count(*) AS answers,"
                " count(DISTINCT q.user_name) AS students"
                " FROM tutor_questions q, unnest(q.withheld) AS w(reproduced)"
                f" WHERE q.course_id = %(course)s AND q.created_at >= {_SINCE}"
                " GROUP BY 1 ORDER BY answers DESC, exercise",
            ),
        )

    async def errors(self, conn: AsyncConnection, scope: Scope) -> Table:
        return Table(
            "errors",
            "Most frequent errors",
            [("error", "Error"), ("questions", "Questions"), ("students", "Students")],
            await _rows(
                conn,
                scope,
                "SELECT error_type AS error, count(*) AS questions,"
                " count(DISTINCT user_name) AS students FROM tutor_questions"
                f" WHERE course_id = %(course)s AND created_at >= {_SINCE}"
                " AND error_type IS NOT NULL GROUP BY 1 ORDER BY questions DESC, error LIMIT 20",
            ),
        )

    async def attention(self, conn: AsyncConnection, scope: Scope) -> Table:
        """Students with many questions, a repeated error or several "still stuck" on one
        exercise."""
        table = Table(
            "attention",
            "Students who may need help",
            [
                ("student", "Student"),
                ("notebook", "Notebook"),
                ("exercise", "Exercise"),
                ("questions", "Questions"),
                ("error", "Most repeated error"),
                ("repeats", "Times"),
                ("stuck", "Still stuck"),
                ("why", "Why"),
            ],
        )
        rows = await _rows(
            conn,
            scope,
            "WITH q AS (SELECT user_name, coalesce(notebook_path, '') AS nb,"
            "   coalesce(exercise, '') AS ex, count(*) AS questions FROM tutor_questions"
            f"   WHERE course_id = %(course)s AND created_at >= {_SINCE} GROUP BY 1, 2, 3),"
            " e AS (SELECT DISTINCT ON (user_name, nb, ex) user_name, nb, ex, error_type, n"
            "   FROM (SELECT user_name, coalesce(notebook_path, '') AS nb,"
            "     coalesce(exercise, '') AS ex, error_type, count(*) AS n FROM tutor_questions"
            f"     WHERE course_id = %(course)s AND created_at >= {_SINCE}"
            "     AND error_type IS NOT NULL GROUP BY 1, 2, 3, 4) counted"
            "   ORDER BY user_name, nb, ex, n DESC, error_type),"
            " s AS (SELECT f.user_name, coalesce(t.notebook_path, '') AS nb,"
            "   coalesce(t.exercise, '') AS ex, count(*) AS stuck FROM feedback f"
            "   JOIN LATERAL (SELECT notebook_path, exercise FROM tutor_questions t"
            "     WHERE t.conversation_id = f.conversation_id AND t.created_at <= f.created_at"
            "     ORDER BY t.created_at DESC, t.id DESC LIMIT 1) t ON true"
            f"   WHERE f.course_id = %(course)s AND f.vote = 'stuck' AND f.created_at >= {_SINCE}"
            "   GROUP BY 1, 2, 3)"
            " SELECT q.user_name AS student, nullif(q.nb, '') AS notebook,"
            " nullif(q.ex, '') AS exercise, q.questions, e.error_type AS error,"
            " coalesce(e.n, 0) AS repeats, coalesce(s.stuck, 0) AS stuck"
            " FROM q LEFT JOIN e USING (user_name, nb, ex) LEFT JOIN s USING (user_name, nb, ex)"
            " WHERE q.questions >= %(many)s OR e.n >= %(repeats)s OR s.stuck >= %(stuck)s"
            " ORDER BY q.questions + 3 * coalesce(e.n, 0) + 3 * coalesce(s.stuck, 0) DESC,"
            " student",
            many=self.many_questions,
            repeats=self.repeated_errors,
            stuck=self.stuck_votes,
        )
        for row in rows:
            reasons = []
            if row["questions"] >= self.many_questions:
                reasons.append(f"{row['questions']} questions")
            if row["repeats"] >= self.repeated_errors:
                reasons.append(f"{row['error']} {row['repeats']} times")
            if row["stuck"] >= self.stuck_votes:
                reasons.append(f"still stuck {row['stuck']} times")
            row["why"] = "; ".join(reasons)
        table.rows = rows
        return table

    async def students(self, conn: AsyncConnection, scope: Scope) -> Table:
        return Table(
            "students",
            "Tokens and cost per student",
            [
                ("student", "Student"),
                ("questions", "Questions"),
                ("input_tokens", "Input tokens"),
                ("output_tokens", "Output tokens"),
                ("cost_usd", "Cost (USD)"),
                ("last_used", "Last used"),
            ],
            await _rows(
                conn,
                scope,
                "WITH u AS (SELECT u.user_name,"
                "   sum(u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens)"
                "     AS input_tokens, sum(u.output_tokens) AS output_tokens,"
                "   sum(u.cost_usd) AS cost_usd, max(u.created_at) AS last_used"
                "   FROM usage u JOIN conversations c ON c.id = u.conversation_id"
                f"   WHERE c.course_id = %(course)s AND u.created_at >= {_SINCE} GROUP BY 1),"
                " q AS (SELECT user_name, count(*) AS questions FROM tutor_questions"
                f"   WHERE course_id = %(course)s AND created_at >= {_SINCE} GROUP BY 1)"
                " SELECT coalesce(u.user_name, q.user_name) AS student,"
                " coalesce(q.questions, 0) AS questions,"
                " coalesce(u.input_tokens, 0) AS input_tokens,"
                " coalesce(u.output_tokens, 0) AS output_tokens,"
                " coalesce(u.cost_usd, 0) AS cost_usd,"
                " u.last_used FROM u FULL JOIN q ON q.user_name = u.user_name"
                " ORDER BY cost_usd DESC, student",
            ),
        )

    async def days(self, conn: AsyncConnection, scope: Scope) -> Table:
        return Table(
            "days",
            "Use per day",
            [
                ("day", "Day (UTC)"),
                ("questions", "Questions"),
                ("students", "Students"),
                ("tokens", "Tokens"),
                ("cost_usd", "Cost (USD)"),
            ],
            await _rows(
                conn,
                scope,
                "WITH d AS (SELECT generate_series((now() AT TIME ZONE 'UTC')::date"
                "   - (%(days)s - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day')::date"
                "   AS day),"
                " q AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS questions,"
                "   count(DISTINCT user_name) AS students FROM tutor_questions"
                f"   WHERE course_id = %(course)s AND created_at >= {_SINCE} GROUP BY 1),"
                " u AS (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day,"
                "   sum(u.input_tokens + u.output_tokens + u.cache_creation_input_tokens"
                "     + u.cache_read_input_tokens) AS tokens, sum(u.cost_usd) AS cost_usd"
                "   FROM usage u JOIN conversations c ON c.id = u.conversation_id"
                f"   WHERE c.course_id = %(course)s AND u.created_at >= {_SINCE} GROUP BY 1)"
                " SELECT d.day, coalesce(q.questions, 0) AS questions,"
                " coalesce(q.students, 0) AS students, coalesce(u.tokens, 0) AS tokens,"
                " coalesce(u.cost_usd, 0) AS cost_usd"
                " FROM d LEFT JOIN q USING (day) LEFT JOIN u USING (day) ORDER BY d.day",
            ),
        )

    async def votes(self, conn: AsyncConnection, scope: Scope) -> Table:
        return Table(
            "votes",
            "Helpfulness votes",
            [
                ("notebook", "Notebook"),
                ("exercise", "Exercise"),
                ("up", "Helpful"),
                ("down", "Not helpful"),
                ("stuck", "Still stuck"),
            ],
            await _rows(
                conn,
                scope,
                "SELECT coalesce(t.notebook_path, '(no notebook)') AS notebook, t.exercise,"
                " count(*) FILTER (WHERE f.vote = 'up') AS up,"
                " count(*) FILTER (WHERE f.vote = 'down') AS down,"
                " count(*) FILTER (WHERE f.vote = 'stuck') AS stuck FROM feedback f"
                " LEFT JOIN LATERAL (SELECT notebook_path, exercise FROM tutor_questions t"
                "   WHERE t.conversation_id = f.conversation_id AND t.created_at <= f.created_at"
                "   ORDER BY t.created_at DESC, t.id DESC LIMIT 1) t ON true"
                f" WHERE f.course_id = %(course)s AND f.created_at >= {_SINCE}"
                " GROUP BY 1, 2 ORDER BY count(*) DESC, notebook",
            ),
        )

    async def comments(self, conn: AsyncConnection, scope: Scope) -> Table:
        columns = [("at", "When"), ("student", "Student"), ("vote", "Vote"), ("comment", "Comment")]
        if scope.conversations_visible:
            columns.append(("conversation", "Conversation"))
        return Table(
            "comments",
            "What students said about answers",
            columns,
            await _rows(
                conn,
                scope,
                "SELECT f.created_at AS at, f.user_name AS student, f.vote, f.comment,"
                " CASE WHEN c.instructors_may_read THEN f.conversation_id::text END"
                " AS conversation FROM feedback f"
                " JOIN conversations c ON c.id = f.conversation_id"
                f" WHERE f.course_id = %(course)s AND f.created_at >= {_SINCE}"
                " AND f.comment IS NOT NULL ORDER BY f.created_at DESC LIMIT 100",
            ),
        )

    async def conversations(self, conn: AsyncConnection, scope: Scope) -> Table:
        """Recent conversations whose students consented (the course allowed instructors
        to read them when they began); empty where the course keeps them private."""
        table = Table(
            "conversations",
            "Recent conversations",
            [
                ("updated", "Last message"),
                ("student", "Student"),
                ("title", "Title"),
                ("notebook", "Notebook"),
                ("messages", "Messages"),
                ("conversation", "Conversation"),
            ],
        )
        if not scope.conversations_visible:
            return table
        table.rows = await _rows(
            conn,
            scope,
            "SELECT c.updated_at AS updated, c.user_name AS student, c.title,"
            " c.notebook_path AS notebook, count(m.id) AS messages,"
            " c.id::text AS conversation FROM conversations c"
            " LEFT JOIN messages m ON m.conversation_id = c.id"
            f" WHERE c.course_id = %(course)s AND c.updated_at >= {_SINCE}"
            " AND c.instructors_may_read GROUP BY c.id ORDER BY c.updated_at DESC LIMIT 200",
        )
        return table

    async def users_of_tutor(self, conn: AsyncConnection, scope: Scope) -> set[str]:
        """Who asked the tutor at least one question in the period."""
        rows = await _rows(
            conn,
            scope,
            "SELECT DISTINCT user_name FROM tutor_questions"
            f" WHERE course_id = %(course)s AND created_at >= {_SINCE}",
        )
        return {row["user_name"] for row in rows}


def adoption_table(population: Population | None, used: set[str]) -> Table:
    """Students who used the tutor, among the students active on the hub.

    Using the tutor is activity too, so they count as active even when the hub has not
    seen them lately.  ``population`` is None when the hub could not be asked.
    """
    table = Table(
        "adoption",
        "Adoption",
        [
            ("active_students", "Students active"),
            ("students_using_tutor", "Of them, using the tutor"),
            ("adoption_pct", "Adoption (%)"),
        ],
    )
    if population is None:
        table.rows = [{"students_using_tutor": len(used)}]
        return table
    using = used - population.staff
    active = population.active_students | using
    table.rows = [
        {
            "active_students": len(active),
            "students_using_tutor": len(using),
            "adoption_pct": round(100 * len(using) / len(active), 1) if active else None,
        }
    ]
    return table
