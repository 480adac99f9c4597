"""Single-user mode: the gateway's handlers inside a plain Jupyter server.

For a student running ``jupyter lab`` on their own machine with their own API key, there
is no hub and no trust boundary to keep: the gateway's handlers are mounted in the same
server under ``{base_url}tutor/gateway/``, callers are identified by the server's own
token, and the database is the embedded one under the user's data directory.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import Any

from .db import Database
from .gateway.app import gateway_routes
from .gateway.auth import Caller
from .gateway.errors import GatewayError
from .gateway.service import TutorGateway

PREFIX = "tutor/gateway/"

#: What to check when the gateway mounted here cannot start (shown to the server's user, who
#: in this mode owns the server, the key and the local database alike).
STARTUP_HINT = "Check the server's log, and TUTOR_DATABASE_URL if you set it."


class ServerTokenIdentifier:
    """The caller is this server's owner if they present this server's token."""

    def __init__(self, token: str, name: str) -> None:
        self._token = token
        self.caller = Caller(name=name, admin=True)

    async def identify(self, token: str | None) -> Caller:
        if self._token and not (token and hmac.compare_digest(token, self._token)):
            raise GatewayError("authentication_error", "This Jupyter server's token is required.")
        return self.caller


def mount_gateway(serverapp: Any) -> TutorGateway:
    """Mount the gateway in ``serverapp``; its pool opens in the background.

    Returns the gateway; its URL is ``{base_url}tutor/gateway/``.
    """
    database = Database(parent=serverapp)
    gateway = TutorGateway(parent=serverapp, log=serverapp.log)
    token = getattr(serverapp.identity_provider, "token", "") or ""
    identifier = ServerTokenIdentifier(token, os.environ.get("USER", "me"))
    base = serverapp.base_url.rstrip("/") + "/" + PREFIX
    serverapp.web_app.add_handlers(".*$", gateway_routes(base, gateway, identifier))

    async def open_resources() -> None:
        gateway.pool = await database.open_async_pool()
        await asyncio.to_thread(gateway.load_embedder, await gateway.has_courses())

    gateway.ready = asyncio.ensure_future(open_resources())  # type: ignore[attr-defined]
    return gateway
