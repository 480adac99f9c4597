"""The chat API's handlers under ``{base_url}tutor/api/`` (see docs/chat-api.md).

They are Jupyter ``APIHandler``s, so the server's own authentication, XSRF and origin
rules apply; in addition they accept the kernel token of :mod:`.kernel_access` (and are
the only handlers that do).  Errors are JSON ``{"error": {"type", "message"}}`` written
for the student; tracebacks go to the server's log only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any, Protocol

from jupyter_server.base.handlers import APIHandler
from tornado import web

from jupyter_tutor import events
from jupyter_tutor.chat import API_PATH, KERNEL_TOKEN_HEADER
from jupyter_tutor.handlers import allowed_methods
from jupyter_tutor.sse import ClientGone, EventStreamMixin

from .agent import Orchestrator
from .chat_request import BadRequest, ChatRequest, parse_conversation_id
from .errors import ChatError
from .feedback import parse_course_query, parse_feedback
from .gateway import GatewayClient
from .kernel_access import KernelTokenIdentity, server_owner
from .notebook import NotebookUnavailable, api_path


class ChatServices(Protocol):
    """What the handlers need of the extension (``TutorExtension`` provides it)."""

    serverapp: Any
    gateway: GatewayClient
    orchestrator: Orchestrator
    kernel_token: str

    def check_available(self) -> None: ...


class ChatAPIHandler(APIHandler):
    """What the chat API's handlers share."""

    def initialize(self, tutor: ChatServices) -> None:
        #: The extension: settings, the orchestrator and the gateway client.
        self.tutor = tutor

    @property
    def identity_provider(self) -> Any:
        provider = super().identity_provider
        presented = self.request.headers.get(KERNEL_TOKEN_HEADER)
        if presented and hmac.compare_digest(presented, self.tutor.kernel_token):
            return KernelTokenIdentity(provider, server_owner())
        return provider

    def json_body(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as err:
            raise ChatError("bad_request", f"The body is not valid JSON: {err}.") from err

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BadRequest):
            exc = ChatError("bad_request", str(exc))
        if isinstance(exc, ChatError):
            self.set_status(exc.status)
            error: dict[str, str | int] = {"type": exc.code, "message": exc.message}
            if exc.retry_after is not None:
                error["retry_after"] = exc.retry_after
                self.set_header("Retry-After", str(exc.retry_after))
        elif isinstance(exc, web.HTTPError):
            if status_code == 405:
                self.set_header("Allow", ", ".join(allowed_methods(self)))
            code = {401: "unauthorized", 403: "unauthorized"}.get(status_code, "bad_request")
            message = exc.log_message or self._reason
            if code == "unauthorized" and not getattr(self, "_jupyter_current_user", None):
                message = "You are not signed in to this Jupyter server (or the token is wrong)."
            elif code == "unauthorized":  # signed in by cookie, but without the XSRF token
                message = f"The request was refused ({message}); reload the page."
            error = {"type": code if status_code < 500 else "internal", "message": message}
        else:
            error = {
                "type": "internal",
                "message": "The tutor hit an unexpected problem. Try again; if it persists, "
                "tell your instructor.",
            }
        self.finish(json.dumps({"error": error}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refusals are expected: log them in one line, keep tracebacks for real crashes."""
        if isinstance(value, ChatError | BadRequest):
            self.log.info("Tutor %s refused: %s", self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


class ChatHandler(EventStreamMixin, ChatAPIHandler):
    """``POST chat``: a question in, the answer as an event stream."""

    _answer: asyncio.Future[None] | None = None

    @web.authenticated
    async def post(self) -> None:
        request = ChatRequest.parse(self.json_body())
        self.tutor.check_available()
        self.start_event_stream()
        answer = self.tutor.orchestrator.answer(request, self.send_chat_event)
        self._answer = asyncio.ensure_future(answer)
        try:
            await self._answer
        except (ClientGone, asyncio.CancelledError):
            self.log.info("The client left before the tutor's answer ended")
            return
        self.finish()

    async def send_chat_event(self, event: events.ChatEvent) -> None:
        await self.send_event(event.wire())

    def on_connection_close(self) -> None:
        """The client left: stop working on an answer nobody reads."""
        if self._answer is not None:
            self._answer.cancel()


class ChatStopHandler(ChatAPIHandler):
    """``POST stop``: stop the answer running in a conversation."""

    @web.authenticated
    def post(self) -> None:
        body = self.json_body()
        conversation_id = parse_conversation_id(
            body.get("conversation_id") if isinstance(body, dict) else None
        )
        if conversation_id is None:
            raise ChatError("bad_request", "`conversation_id` is required: which answer to stop.")
        if not self.tutor.orchestrator.stop(conversation_id):
            raise ChatError(
                "bad_request", "Nothing is being answered in this conversation.", status=404
            )
        self.finish(json.dumps({"stopped": True}))


class ChatConversationListHandler(ChatAPIHandler):
    """``GET conversations``: the student's conversations, newest first.

    ``?notebook=PATH`` keeps those asked from that notebook (``%tutor history``).
    """

    @web.authenticated
    async def get(self) -> None:
        self.tutor.check_available()
        found = await self.tutor.gateway.get_json("api/conversations")
        notebook = self.get_argument("notebook", None)
        if notebook and isinstance(found, dict):
            try:
                wanted = api_path(notebook, self.tutor.serverapp.root_dir)
            except NotebookUnavailable as err:
                raise ChatError("bad_request", str(err)) from err
            found["conversations"] = [
                c for c in found.get("conversations", []) if c.get("notebook_path") == wanted
            ]
        self.finish(json.dumps(found))


class ChatConversationHandler(ChatAPIHandler):
    """``GET conversations/{id}``: one conversation with its messages."""

    @web.authenticated
    async def get(self, conversation_id: str) -> None:
        self.tutor.check_available()
        key = parse_conversation_id(conversation_id)
        self.finish(json.dumps(await self.tutor.gateway.get_json(f"api/conversations/{key}")))


class ChatFeedbackHandler(ChatAPIHandler):
    """``POST feedback``: 👍/👎 or "still stuck" on an answer, forwarded to the gateway.

    The gateway's refusals keep their status (404: not an answer of the caller's).
    """

    @web.authenticated
    async def post(self) -> None:
        body = parse_feedback(self.json_body())
        self.tutor.check_available()
        stored = await self.tutor.gateway.post_json("api/feedback", body)
        self.set_status(201)
        self.finish(json.dumps(stored))


class ChatCourseHandler(ChatAPIHandler):
    """``GET course``: the course's title, policy and privacy notice, and the policy where
    the student is (``?notebook_path=&cell_index=&cell_id=``)."""

    @web.authenticated
    async def get(self) -> None:
        params = parse_course_query(
            lambda name: self.get_argument(name, None), self.tutor.serverapp.root_dir
        )
        self.tutor.check_available()
        self.finish(json.dumps(await self.tutor.gateway.get_json("api/course", **params)))


class ChatCoursesHandler(ChatAPIHandler):
    """``GET courses``: the student's courses (the gateway's ``api/courses``, from their hub
    groups) and, with ``?notebook=PATH``, the course picked for that notebook."""

    @web.authenticated
    async def get(self) -> None:
        self.tutor.check_available()
        found = await self.tutor.gateway.get_json("api/courses")
        notebook = self.get_argument("notebook", None)
        if notebook and isinstance(found, dict):
            try:
                path = api_path(notebook, self.tutor.serverapp.root_dir)
            except NotebookUnavailable as err:
                raise ChatError("bad_request", str(err)) from err
            found["picked"] = self.tutor.orchestrator.course_picks.get(path)
        self.finish(json.dumps(found))


def chat_api_routes(tutor: ChatServices) -> list[tuple[str, type, dict[str, Any]]]:
    """The routes, relative to the server's base URL."""
    kwargs = {"tutor": tutor}
    return [
        (f"/{API_PATH}chat", ChatHandler, kwargs),
        (f"/{API_PATH}stop", ChatStopHandler, kwargs),
        (f"/{API_PATH}conversations", ChatConversationListHandler, kwargs),
        (f"/{API_PATH}conversations/([^/]+)", ChatConversationHandler, kwargs),
        (f"/{API_PATH}feedback", ChatFeedbackHandler, kwargs),
        (f"/{API_PATH}course", ChatCourseHandler, kwargs),
        (f"/{API_PATH}courses", ChatCoursesHandler, kwargs),
    ]
