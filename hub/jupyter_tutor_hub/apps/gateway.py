"""``jupyter-tutor gateway``: run the tutor gateway as a JupyterHub service.

Managed by the hub (demo, one host) it reads its URL, prefix and hub token from the
environment JupyterHub gives services; as an external service (Kubernetes, several
replicas) the same variables come from the deployment.  Settings are traitlets, from the
command line or a config file (``--config`` or ``$TUTOR_GATEWAY_CONFIG``).

It starts fast, in this order: the port opens at once (``health`` says ``starting``,
see :mod:`.startup`); the heavy modules are imported and the database pool opened; the
real routes take over, answering with text-only retrieval while the embedding model loads
in the background (``health`` says ``starting`` until it is loaded).  So this module
imports nothing heavy at its top: not the Anthropic SDK, not the dashboard, not torch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pythonjsonlogger.json import JsonFormatter
from tornado.httpserver import HTTPServer
from traitlets import Bool, Integer, Unicode, default
from traitlets.config import Application, Configurable

from jupyter_tutor import __version__

from .startup import SwitchingRouter, in_daemon_thread, starting_app

if TYPE_CHECKING:
    from tornado.web import Application as WebApplication

    from ..db import Database
    from ..gateway.auth import HubTokenIdentifier
    from ..gateway.service import TutorGateway

#: Seconds the gateway keeps the hub's answer for a token unless ``c.HubAuth.cache_max_age``
#: says otherwise (JupyterHub's default, 300 s, would let a revoked token in for 5 min).
TOKEN_CACHE_SECONDS = 60


def configurable_classes() -> list[type[Configurable]]:
    """The classes whose settings the gateway reads (importing them is the slow part)."""
    from ..dashboard.queries import Analytics
    from ..db import Database
    from ..gateway.metering import Metering
    from ..gateway.prompt import PromptBuilder
    from ..gateway.request import ModelPolicy
    from ..gateway.service import TutorGateway
    from ..gateway.store import ConversationStore
    from ..gateway.upstream import Upstream
    from ..policy.guard import SolutionGuard
    from ..policy.guardrails import Guardrails

    return [
        TutorGateway,
        Upstream,
        Metering,
        ModelPolicy,
        PromptBuilder,
        ConversationStore,
        Guardrails,
        SolutionGuard,
        Analytics,
        Database,
    ]


class GatewayApp(Application):
    """Run the tutor gateway (the hub service that holds the API key)."""

    name = "jupyter-tutor-gateway"
    version = __version__
    description = __doc__
    # The configurable classes join when the command line names any (``--help-all``,
    # ``--Class.trait=...``); the hub starts the service without arguments, and importing
    # them first would delay the open port by seconds.
    classes: list[type[Configurable]] = []

    aliases = {
        "ip": "GatewayApp.ip",
        "port": "GatewayApp.port",
        "prefix": "GatewayApp.prefix",
        "config": "GatewayApp.config_file",
        "log-level": "Application.log_level",
    }
    flags = {
        "plain-logs": ({"GatewayApp": {"json_logs": False}}, "Log as text, not JSON."),
    }

    ip = Unicode(help="Interface to listen on (from $JUPYTERHUB_SERVICE_URL).").tag(config=True)
    port = Integer(help="Port to listen on (from $JUPYTERHUB_SERVICE_URL).").tag(config=True)
    prefix = Unicode(
        help="URL prefix of the routes (from $JUPYTERHUB_SERVICE_PREFIX, else /services/tutor/)."
    ).tag(config=True)
    config_file = Unicode(help="A Python config file ($TUTOR_GATEWAY_CONFIG).").tag(config=True)
    json_logs = Bool(True, help="Structured JSON logs, one object per line.").tag(config=True)

    @default("ip")
    def _ip_default(self) -> str:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return urlparse(url).hostname if url else "127.0.0.1"

    @default("port")
    def _port_default(self) -> int:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return (urlparse(url).port or 80) if url else 8090

    @default("prefix")
    def _prefix_default(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/tutor/")

    @default("config_file")
    def _config_file_default(self) -> str:
        return os.environ.get("TUTOR_GATEWAY_CONFIG", "")

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
        if self.json_logs:
            handler = logging.StreamHandler()
            handler.setFormatter(JsonFormatter("{asctime}{levelname}{name}{message}", style="{"))
            self.log.handlers = [handler]
            self.log.propagate = False

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        argv = sys.argv[1:] if argv is None else argv
        if argv:
            self.classes = [*self.classes, *configurable_classes()]
        super().parse_command_line(argv)

    def start(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        router = SwitchingRouter(starting_app(self.prefix))
        server = HTTPServer(router, xheaders=True, idle_connection_timeout=300)
        server.listen(self.port, self.ip)
        self.log.info("Tutor gateway listening on http://%s:%d%s", self.ip, self.port, self.prefix)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        # A service started from a non-interactive shell inherits SIGINT ignored: install
        # handlers explicitly so the hub's shutdown does not wait on us.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        resources: list[Any] = []
        starting = asyncio.ensure_future(self._start_gateway(router, resources))
        stop = asyncio.ensure_future(stopped.wait())
        await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
        failed = starting.done() and starting.exception() is not None
        if not failed:
            await stop
        self.log.info("Tutor gateway stopping")
        server.stop()
        starting.cancel()
        await self._close(resources)
        if failed:
            self.log.error("The tutor gateway could not start: %s", starting.exception())
            self.exit(1)

    async def _start_gateway(self, router: SwitchingRouter, resources: list[Any]) -> None:
        """Import, open the database, switch to the real routes, then load the model."""
        started = time.monotonic()
        await in_daemon_thread(configurable_classes)
        from jupyter_tutor import tracing

        from ..db import Database

        tracing.configure("jupyter-tutor-gateway")
        database = Database(parent=self)
        resources.append(database)
        gateway = await self._open_gateway(database)
        resources.append(gateway)
        router.target = await in_daemon_thread(lambda: self._make_app(gateway))
        self.log.info(
            "Tutor gateway ready in %.1f s (model: %s)",
            time.monotonic() - started,
            "offline responder" if gateway.upstream.offline else "Anthropic API",
        )
        has_courses = await gateway.has_courses()
        await in_daemon_thread(lambda: gateway.load_embedder(has_courses))

    async def _open_gateway(self, database: Database) -> TutorGateway:
        from ..gateway.service import TutorGateway

        gateway = TutorGateway(parent=self, log=self.log)
        gateway.pool = await database.open_async_pool()
        async with gateway.pool.connection() as conn:
            closed = await gateway.store.close_stale_answers(conn)
        if closed:
            self.log.warning("%d answers left streaming by a dead gateway: interrupted", closed)
        return gateway

    def _make_app(self, gateway: TutorGateway) -> WebApplication:
        from .web import make_app

        return make_app(self.prefix, gateway, self.identifier())

    def identifier(self) -> HubTokenIdentifier:
        """Callers identified by the hub; ``HubAuth`` is this app's child, so ``c.HubAuth``
        settings apply: ``cache_max_age`` is how long the gateway keeps the hub's answer
        for a token (60 s unless configured: a revoked token is refused within it)."""
        from jupyterhub.services.auth import HubAuth

        from ..gateway.auth import HubTokenIdentifier

        hub_auth = HubAuth(parent=self)
        if "cache_max_age" not in self.config.HubAuth:
            hub_auth.cache_max_age = TOKEN_CACHE_SECONDS
        return HubTokenIdentifier(hub_auth)

    async def _close(self, resources: list[Any]) -> None:
        """Close what was opened (the pool, the embedded database); never raises."""
        from jupyter_tutor import tracing

        from ..db import Database

        for resource in reversed(resources):
            try:
                if isinstance(resource, Database):
                    resource.close()
                elif resource.pool is not None:
                    await resource.pool.close()
            except Exception:
                self.log.warning("Closing %r failed", resource, exc_info=True)
        tracing.shutdown()


main = GatewayApp.launch_instance

if __name__ == "__main__":
    main()
