"""What the Tornado handlers of both sides share."""

from __future__ import annotations

from tornado.web import RequestHandler


def allowed_methods(handler: RequestHandler) -> list[str]:
    """The HTTP methods ``handler`` implements: the ``Allow`` header of a 405 (RFC 9110)."""
    return [
        method
        for method in handler.SUPPORTED_METHODS
        if getattr(type(handler), method.lower()) is not getattr(RequestHandler, method.lower())
    ]
