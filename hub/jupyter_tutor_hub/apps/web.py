"""The gateway service's Tornado application: the gateway's API and the instructors'
dashboard, composed here because the dashboard sits above the gateway in the layering."""

from __future__ import annotations

from tornado.web import Application

from ..dashboard.handlers import cookie_secret, dashboard_routes
from ..gateway.app import gateway_routes, normalized_prefix
from ..gateway.auth import HubTokenIdentifier, Identifier
from ..gateway.service import TutorGateway


def make_app(prefix: str, gateway: TutorGateway, identifier: Identifier) -> Application:
    """The gateway as a hub service: its API, and the instructors' dashboard (hub sign-in)."""
    routes = gateway_routes(prefix, gateway, identifier)
    if not isinstance(identifier, HubTokenIdentifier):
        return Application(routes)
    routes += dashboard_routes(normalized_prefix(prefix), gateway, identifier)
    return Application(routes, cookie_secret=cookie_secret(identifier.hub_auth.api_token))
