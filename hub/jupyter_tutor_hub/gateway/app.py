"""The gateway's Tornado application: its routes under the service prefix."""

from __future__ import annotations

from tornado.web import Application

from ..dashboard.handlers import cookie_secret, dashboard_routes
from .auth import HubTokenIdentifier, Identifier
from .handlers.conversations import ConversationHandler, ConversationListHandler
from .handlers.course import CourseHandler
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
    prefix = _normalized(prefix)
    kwargs = {"gateway": gateway, "identifier": identifier}
    routes = [
        ("v1/messages", MessagesHandler),
        ("api/conversations", ConversationListHandler),
        (r"api/conversations/([^/]+)", ConversationHandler),
        ("api/usage", UsageHandler),
        ("api/search", SearchHandler),
        ("api/feedback", FeedbackHandler),
        ("api/course", CourseHandler),
        ("metrics", MetricsHandler),
        ("health", HealthHandler),
    ]
    return [(prefix + path, handler, kwargs) for path, handler in routes]


def make_app(prefix: str, gateway: TutorGateway, identifier: Identifier) -> Application:
    """The gateway as a hub service: its API, and the instructors' dashboard (hub sign-in)."""
    routes = gateway_routes(prefix, gateway, identifier)
    if not isinstance(identifier, HubTokenIdentifier):
        return Application(routes)
    routes += dashboard_routes(_normalized(prefix), gateway, identifier)
    return Application(routes, cookie_secret=cookie_secret(identifier.hub_auth.api_token))


def _normalized(prefix: str) -> str:
    return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
