"""The dashboard's routes: the page, CSV exports, a conversation (where allowed), OAuth.

A browser signs in through JupyterHub's OAuth (the service needs no confirmation page);
a script may send a hub token as ``Authorization: token …`` instead.  Either way the
token is checked with the hub, and the caller must instruct the course asked for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from psycopg.rows import dict_row
from tornado.web import HTTPError, RedirectHandler

from ..gateway.errors import GatewayError
from ..gateway.handlers.base import GatewayHandler
from ..policy.config import CourseConfig
from .access import visible_courses
from .adoption import HubDirectory
from .page import build_charts, fmt, headline
from .queries import Analytics, Scope, Table, adoption_table

TEMPLATES = Path(__file__).with_name("templates")
MAX_DAYS = 365


class DashboardHandler(HubOAuthenticated, GatewayHandler):
    """What every dashboard route shares: sign-in, the course asked for, HTML errors."""

    def initialize(
        self,
        gateway: Any,
        identifier: Any,
        hub_auth: HubOAuth,
        directory: HubDirectory,
        analytics: Analytics,
    ) -> None:
        super().initialize(gateway, identifier)
        self.hub_auth = hub_auth
        self.directory = directory
        self.analytics = analytics

    def get_template_path(self) -> str:
        return str(TEMPLATES)

    async def prepare(self) -> None:
        super().prepare()
        header_token = self.hub_auth.get_token(self, in_cookie=False)
        token = header_token or self.hub_auth.get_token(self)
        if not token:
            self.redirect(self.get_login_url())  # the hub's OAuth, then back here
            return
        try:
            self.caller = await self.identifier.identify(token)
        except GatewayError as err:
            if header_token or err.error_type != "authentication_error":
                raise
            self.hub_auth.clear_cookie(self)  # an expired sign-in: sign in again
            self.redirect(self.get_login_url())

    async def course(self) -> tuple[CourseConfig, list[CourseConfig]]:
        """The course asked for (``?course=``, else the first one), if the caller instructs it."""
        async with self.gateway.pool.connection() as conn:
            courses = await visible_courses(
                conn, self.caller, self.gateway.default_course, self.gateway.course_groups
            )
        if not courses:
            raise GatewayError(
                "permission_error",
                f"{self.caller.name} is not an instructor of any course here. Instructors "
                "belong to the course's formgrade-COURSE group or a hub group its tutor.yaml "
                "names (by default `instructors`) and hold the custom:tutor:instructor "
                "scope; ask your hub's admin to add you.",
            )
        wanted = self.get_argument("course", None) or self.gateway.default_course
        for course in courses:
            if course.name == wanted:
                return course, courses
        if self.get_argument("course", None):
            raise GatewayError(
                "permission_error", f"You are not an instructor of the course {wanted!r}."
            )
        return courses[0], courses

    def days(self) -> int:
        value = self.get_argument("days", "30")
        if not value.isdigit() or not 1 <= int(value) <= MAX_DAYS:
            raise GatewayError(
                "invalid_request_error", f"`days` must be a whole number from 1 to {MAX_DAYS}."
            )
        return int(value)

    async def tables(self, scope: Scope, course: CourseConfig) -> dict[str, Table]:
        """Every table of the dashboard, adoption included."""
        async with self.gateway.pool.connection() as conn:
            tables = {
                name: await query(conn, scope) for name, query in self.analytics.tables.items()
            }
            used = await self.analytics.users_of_tutor(conn, scope)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=scope.days)
        try:
            population = await self.directory.population(course, since)
        except (httpx.HTTPError, KeyError, ValueError) as err:
            self.log.warning("Could not list the hub's users for adoption: %s", err)
            population = None
        tables["adoption"] = adoption_table(population, used)
        return tables

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, GatewayError):
            message = exc.message
        elif isinstance(exc, HTTPError):
            message = exc.log_message or self._reason
        else:
            if exc is not None:
                self.log.error("Unexpected error in the dashboard", exc_info=exc)
            message = f"The dashboard hit an unexpected problem (request id {self.request_id})."
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.render("error.html", status=status_code, message=message)


class DashboardPage(DashboardHandler):
    """``GET dashboard/``: the page."""

    route = "dashboard"

    async def get(self) -> None:
        course, courses = await self.course()
        days = self.days()
        scope = Scope(course.name, days, course.instructors_read_conversations)
        tables = await self.tables(scope, course)
        self.render(
            "dashboard.html",
            course=course,
            courses=courses,
            days=days,
            tables=tables,
            charts=build_charts(tables),
            headline=headline(tables),
            fmt=fmt,
            caller=self.caller,
        )


class ExportHandler(DashboardHandler):
    """``GET dashboard/export/<table>.csv``: one table as CSV."""

    route = "dashboard_export"

    async def get(self, name: str) -> None:
        course, _ = await self.course()
        days = self.days()
        if name not in (*self.analytics.tables, "adoption"):
            raise GatewayError("not_found_error", f"There is no table called {name!r}.")
        scope = Scope(course.name, days, course.instructors_read_conversations)
        if name == "adoption":
            table = (await self.tables(scope, course))["adoption"]
        else:
            async with self.gateway.pool.connection() as conn:
                table = await self.analytics.tables[name](conn, scope)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header(
            "Content-Disposition", f'attachment; filename="{course.name}-{name}-{days}d.csv"'
        )
        self.finish(table.csv())


class ConversationPage(DashboardHandler):
    """``GET dashboard/conversations/<id>``: one conversation, where the course allows."""

    route = "dashboard_conversation"

    async def get(self, conversation_id: str) -> None:
        course, _ = await self.course()
        if not course.instructors_read_conversations:
            raise GatewayError(
                "permission_error",
                "This course keeps students' conversations private (privacy: "
                "instructors_read_conversations is false in its tutor.yaml).",
            )
        try:
            key = uuid.UUID(conversation_id)
        except ValueError as err:
            raise GatewayError("not_found_error", "No such conversation.") from err
        async with self.gateway.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT id, user_name, title, notebook_path, created_at FROM conversations"
                " WHERE id = %s AND course_id = %s AND instructors_may_read",
                (key, course.name),
            )
            conversation = await cur.fetchone()
            if conversation is None:
                raise GatewayError("not_found_error", "No such conversation in this course.")
            await cur.execute(
                "SELECT role, content, status, created_at FROM messages"
                " WHERE conversation_id = %s ORDER BY id",
                (key,),
            )
            messages = [{**m, "text": _message_text(m["content"])} for m in await cur.fetchall()]
        self.render(
            "conversation.html",
            course=course,
            conversation=conversation,
            messages=[m for m in messages if m["text"]],
            fmt=fmt,
        )


class OAuthCallback(HubOAuthCallbackHandler):
    """Where the hub sends the browser back after sign-in."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth


def _message_text(content: Any) -> str:
    """The readable text of a stored message (the student's turn wraps its content)."""
    if isinstance(content, dict):
        content = content.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def dashboard_routes(prefix: str, gateway: Any, identifier: Any) -> list[tuple[str, type, dict]]:
    """The dashboard's routes under ``prefix``, and the hub's OAuth callback."""
    hub = identifier.hub_auth
    hub_auth = HubOAuth(api_url=hub.api_url, api_token=hub.api_token, cache_max_age=60)
    kwargs = {
        "gateway": gateway,
        "identifier": identifier,
        "hub_auth": hub_auth,
        "directory": HubDirectory(hub.api_url, hub.api_token),
        "analytics": Analytics(parent=gateway),
    }
    to_dashboard = {"url": prefix + "dashboard/"}
    return [
        (prefix, RedirectHandler, to_dashboard),  # the hub's "Services" menu links here
        (prefix + "dashboard", RedirectHandler, to_dashboard),
        (prefix + "dashboard/", DashboardPage, kwargs),
        (prefix + r"dashboard/export/([a-z_]+)\.csv", ExportHandler, kwargs),
        (prefix + r"dashboard/conversations/([^/]+)", ConversationPage, kwargs),
        (prefix + "oauth_callback", OAuthCallback, {"hub_auth": hub_auth}),
    ]


def cookie_secret(api_token: str) -> bytes:
    """The secret signing the dashboard's sign-in cookie.

    Derived from the gateway's hub token, so every replica of the gateway accepts the
    cookies of the others; random when there is no token (then only this process does).
    """
    if not api_token:
        return os.urandom(32)
    return hmac.new(api_token.encode(), b"jupyter-tutor dashboard cookie", hashlib.sha256).digest()
