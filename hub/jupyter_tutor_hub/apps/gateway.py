"""``jupyter-tutor gateway``: run the tutor gateway as a JupyterHub service.

Managed by the hub (demo, one host) it reads its URL, prefix and hub token from the
environment JupyterHub gives services; as an external service (Kubernetes, several
replicas) the same variables come from the deployment.  Settings are traitlets, from the
command line or a config file (``--config`` or ``$TUTOR_GATEWAY_CONFIG``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from urllib.parse import urlparse

from pythonjsonlogger.json import JsonFormatter
from tornado.httpserver import HTTPServer
from traitlets import Bool, Integer, Unicode, default
from traitlets.config import Application

from jupyter_tutor import __version__, tracing

from ..dashboard.queries import Analytics
from ..db import Database, DatabaseError
from ..gateway.auth import HubTokenIdentifier
from ..gateway.metering import Metering
from ..gateway.prompt import PromptBuilder
from ..gateway.request import ModelPolicy
from ..gateway.service import TutorGateway
from ..gateway.store import ConversationStore
from ..gateway.upstream import Upstream
from ..policy.guard import SolutionGuard
from ..policy.guardrails import Guardrails
from .web import make_app


class GatewayApp(Application):
    """Run the tutor gateway (the hub service that holds the API key)."""

    name = "jupyter-tutor-gateway"
    version = __version__
    description = __doc__
    classes = [
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

    def start(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        tracing.configure("jupyter-tutor-gateway")
        database = Database(parent=self)
        gateway = TutorGateway(parent=self, log=self.log)
        try:
            gateway.pool = await database.open_async_pool()
        except DatabaseError as err:
            self.log.error(str(err))
            self.exit(1)
        async with gateway.pool.connection() as conn:
            closed = await gateway.store.close_stale_answers(conn)
        if closed:
            self.log.warning("%d answers left streaming by a dead gateway: interrupted", closed)
        await asyncio.to_thread(gateway.load_embedder)
        app = make_app(self.prefix, gateway, HubTokenIdentifier())
        server = HTTPServer(app, xheaders=True, idle_connection_timeout=300)
        server.listen(self.port, self.ip)
        self.log.info(
            "Tutor gateway listening on http://%s:%d%s (model: %s)",
            self.ip,
            self.port,
            self.prefix,
            "offline responder" if gateway.upstream.offline else "Anthropic API",
        )
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        # A service started from a non-interactive shell inherits SIGINT ignored: install
        # handlers explicitly so the hub's shutdown does not wait on us.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
        self.log.info("Tutor gateway stopping")
        server.stop()
        await gateway.pool.close()
        database.close()
        tracing.shutdown()


main = GatewayApp.launch_instance

if __name__ == "__main__":
    main()
