"""Who is calling: the caller's JupyterHub token, checked with the hub.

The student's server sends its own JupyterHub API token (the SDK's ``auth_token``, i.e.
``Authorization: Bearer``).  A student can read that token from a kernel and call the
gateway by hand, so the token proves *who* calls and nothing more: every decision (budget,
policy, which conversations) is made from the identity the hub returns, never from what
the request claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from jupyterhub.services.auth import HubAuth

from ..scopes import ACCESS_SCOPE
from .errors import GatewayError

_AUTH_HEADER = re.compile(r"^\s*(?:bearer|token)\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Caller:
    """The identity behind a request, as the hub (or the local server) vouches for it."""

    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False

    def has_scope(self, scope: str) -> bool:
        """Whether the caller holds ``scope`` (unfiltered, or filtered to anything)."""
        return scope in self.scopes or any(s.startswith(scope + "!") for s in self.scopes)


def token_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    """The token of a request: ``Authorization: Bearer|token …``, else ``x-api-key``."""
    if authorization:
        match = _AUTH_HEADER.match(authorization)
        if match:
            return match.group(1)
    return api_key or None


class Identifier(Protocol):
    """Turns a request's token into a :class:`Caller` or raises a :class:`GatewayError`."""

    async def identify(self, token: str | None) -> Caller: ...


class HubTokenIdentifier:
    """Identify callers with JupyterHub (``HubAuth`` caches answers for a few minutes)."""

    def __init__(self, hub_auth: HubAuth | None = None) -> None:
        self.hub_auth = hub_auth or HubAuth()

    async def identify(self, token: str | None) -> Caller:
        if not token:
            raise GatewayError(
                "authentication_error",
                "No JupyterHub token was sent. The tutor is used from your Jupyter server; "
                "restart your server from the hub's home page if this persists.",
            )
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model:
            raise GatewayError(
                "authentication_error",
                "Your JupyterHub token was not accepted (it may have expired or been revoked). "
                "Restart your server from the hub's home page.",
            )
        if model.get("kind", "user") != "user":
            raise GatewayError("permission_error", "Only users can ask the tutor.")
        scopes = frozenset(model.get("scopes", []))
        if not self.hub_auth.check_scopes({ACCESS_SCOPE}, model):
            raise GatewayError(
                "permission_error",
                "Your account is not allowed to use the tutor. Ask your instructor for access.",
            )
        return Caller(
            name=model["name"],
            groups=frozenset(model.get("groups") or []),
            scopes=scopes,
            admin=bool(model.get("admin")),
        )
