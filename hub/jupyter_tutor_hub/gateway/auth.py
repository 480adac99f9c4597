"""Who is calling: the caller's JupyterHub token, checked with the hub.

The student's server sends its own JupyterHub API token (the SDK's ``auth_token``, i.e.
``Authorization: Bearer``).  A student can read that token from a kernel and call the
gateway by hand, so the token proves *who* calls and nothing more: every decision (budget,
policy, which conversations) is made from the identity the hub returns, never from what
the request claims.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jupyterhub.services.auth import HubAuth

from ..scopes import ACCESS_SCOPE
from . import metrics
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
    """Identify callers with JupyterHub, remembering each token's answer briefly.

    The hub is asked once per token per ``HubAuth.cache_max_age`` seconds (the gateway
    sets it to 60 unless configured): a class asking at once costs the hub one lookup per
    student, not per question, and one student's concurrent questions share one lookup.
    A token the hub revokes, or that expires, is refused at most that long after: the
    hub's answer is kept no longer, refusals included.  Answers are kept by the token's
    hash in a cache of at most ``max_entries``, the least recently used dropped first.
    """

    def __init__(
        self,
        hub_auth: HubAuth | None = None,
        *,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub_auth = hub_auth or HubAuth()
        self.max_entries = max_entries
        self._clock = clock
        #: token hash → (when the answer expires, the hub's user model or None)
        self._answers: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()
        self._asking: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    async def identify(self, token: str | None) -> Caller:
        if not token:
            raise GatewayError(
                "authentication_error",
                "No JupyterHub token was sent. The tutor is used from your Jupyter server; "
                "restart your server from the hub's home page if this persists.",
            )
        model = await self._user_model(token)
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

    async def _user_model(self, token: str) -> dict[str, Any] | None:
        """The hub's answer for ``token``: remembered, being asked, or asked now."""
        key = hashlib.sha256(token.encode("utf8", "replace")).hexdigest()
        known = self._answers.get(key)
        if known is not None and known[0] > self._clock():
            self._answers.move_to_end(key)
            metrics.HUB_TOKEN_LOOKUPS.labels("cached").inc()
            return known[1]
        asking = self._asking.get(key)
        if asking is None:
            asking = asyncio.ensure_future(self._ask_hub(key, token))
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        # Shielded: one caller leaving must not cancel the lookup the others wait for.
        return await asyncio.shield(asking)

    async def _ask_hub(self, key: str, token: str) -> dict[str, Any] | None:
        metrics.HUB_TOKEN_LOOKUPS.labels("asked").inc()
        model = await self.hub_auth.user_for_token(token, use_cache=False, sync=False)
        self._answers[key] = (self._clock() + self.hub_auth.cache_max_age, model)
        self._answers.move_to_end(key)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)
        return model
