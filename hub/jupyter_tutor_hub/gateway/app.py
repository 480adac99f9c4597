"""The gateway's routes under the service prefix (the dashboard adds its own, see
``jupyter_tutor_hub.apps.web``)."""

from __future__ import annotations

from .auth import Identifier
from .handlers.conversations import ConversationHandler, ConversationListHandler
from .handlers.course import CourseHandler
from .handlers.courses import CoursesHandler
from .handlers.feedback import FeedbackHandler
from .handlers.health import HealthHandler, MetricsHandler
from .handlers.messages import MessagesHandler
from .handlers.search import SearchHandler
from .handlers.usage import UsageHandler
from .service import TutorGateway


def gateway_routes(
    prefix: str, gateway: TutorGateway, identifier: Identifier
) -> list[tuple[str, type, dict]]:
    """The gateway's routes under ``prefix`` (e.g. ``/services/tutor/``).

    Returned as a list so a plain Jupyter server can mount them too (single-user mode).
    """
    prefix = normalized_prefix(prefix)
    kwargs = {"gateway": gateway, "identifier": identifier}
    routes = [
        ("v1/messages", MessagesHandler),
        ("api/conversations", ConversationListHandler),
        (r"api/conversations/([^/]+)", ConversationHandler),
        ("api/usage", UsageHandler),
        ("api/search", SearchHandler),
        ("api/feedback", FeedbackHandler),
        ("api/course", CourseHandler),
        ("api/courses", CoursesHandler),
        ("metrics", MetricsHandler),
        ("health", HealthHandler),
    ]
    return [(prefix + path, handler, kwargs) for path, handler in routes]


def normalized_prefix(prefix: str) -> str:
    return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
