"""The gateway's Tornado application: its routes under the service prefix."""

from __future__ import annotations

from tornado.web import Application

from .auth import Identifier
from .handlers.conversations import ConversationHandler, ConversationListHandler
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
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    kwargs = {"gateway": gateway, "identifier": identifier}
    routes = [
        ("v1/messages", MessagesHandler),
        ("api/conversations", ConversationListHandler),
        (r"api/conversations/([^/]+)", ConversationHandler),
        ("api/usage", UsageHandler),
        ("api/search", SearchHandler),
        ("metrics", MetricsHandler),
        ("health", HealthHandler),
    ]
    return [(prefix + path, handler, kwargs) for path, handler in routes]


def make_app(prefix: str, gateway: TutorGateway, identifier: Identifier) -> Application:
    return Application(gateway_routes(prefix, gateway, identifier))
