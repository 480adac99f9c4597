"""The orchestrator as a Jupyter server extension: settings, wiring and life cycle.

Under JupyterHub the spawner sets ``TUTOR_GATEWAY_URL`` and the server's own
``JUPYTERHUB_API_TOKEN`` identifies the student to the gateway.  Without a gateway URL the
server is in single-user mode: the gateway's handlers are mounted in this server (when
the ``hub`` extra is installed) and the server's own token identifies its owner.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Integer, Unicode, default

from jupyter_tutor import __version__, tracing

from .agent import AgentSettings, Orchestrator
from .course_picks import CoursePicks
from .errors import ChatError
from .gateway import GatewayClient
from .handlers import chat_api_routes
from .kernel_access import export_to_kernels, local_url, new_kernel_token
from .scratch import ScratchKernels
from .student_kernel import StudentKernels
from .tools import Toolbox

NO_GATEWAY = (
    "The tutor is not connected: this server has no tutor gateway. Under JupyterHub the "
    "hub sets TUTOR_GATEWAY_URL for every server (ask your admin); on your own machine, "
    "install the single-user mode with `pip install 'jupyter-tutor[hub]'` and restart."
)


class TutorExtension(ExtensionApp):
    """Jupyter Tutor's orchestrator: the chat API, notebook context and kernel tools."""

    name = "tutor"
    version = __version__
    description = __doc__
    load_other_extensions = True
    classes = [*ExtensionApp.classes, Toolbox, ScratchKernels]

    gateway_url = Unicode(
        help="""URL of the tutor gateway (the hub service), e.g.
        http://hub:8081/services/tutor/. Defaults to $TUTOR_GATEWAY_URL, which JupyterHub
        sets for every server it spawns. Empty: single-user mode (the gateway runs inside
        this server).""",
    ).tag(config=True)

    @default("gateway_url")
    def _gateway_url_default(self) -> str:
        return os.environ.get("TUTOR_GATEWAY_URL", "")

    gateway_token = Unicode(
        help="""Token that identifies this server's user to the gateway. Defaults to
        $JUPYTERHUB_API_TOKEN (the server's own JupyterHub token). In single-user mode the
        server's own token is used.""",
    ).tag(config=True)

    @default("gateway_token")
    def _gateway_token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    model = Unicode(
        "claude-sonnet-4-6", help="Model asked for; the gateway decides which models it allows."
    ).tag(config=True)
    max_tokens = Integer(2048, help="Longest answer per round, in tokens.").tag(config=True)
    max_tool_rounds = Integer(
        5, help="Rounds of tool use per answer (0: no tools); then the answer stops."
    ).tag(config=True)
    context_token_budget = Integer(
        2000, help="Tokens of notebook context (cell, error, nearby cells) sent with a question."
    ).tag(config=True)
    nearby_cells = Integer(
        2, help="Cells before and after the active cell offered as context."
    ).tag(config=True)
    request_timeout = Float(120.0, help="Seconds one request to the gateway may take in all.").tag(
        config=True
    )
    course_picks_file = Unicode(
        help="""JSON file where the course the student picked for each notebook is kept
        (when they are in several courses and the notebook's folder names none). Defaults
        to tutor/course_picks.json in the Jupyter data directory. Empty: kept in memory
        until the server stops.""",
    ).tag(config=True)

    @default("course_picks_file")
    def _course_picks_file_default(self) -> str:
        return os.path.join(jupyter_data_dir(), "tutor", "course_picks.json")

    #: Why the tutor cannot answer on this server, if it cannot (shown to the student).
    unavailable_reason: str | None = None

    def initialize_settings(self) -> None:
        serverapp = self.serverapp
        assert serverapp is not None  # jupyter_server sets it before initialize_settings
        tracing.configure("jupyter-tutor-server")  # no-op unless OTLP export is set up
        #: The secret kernels present to reach the chat API (see kernel_access).
        self.kernel_token = new_kernel_token()
        self._local_gateway: Any = None
        if self.gateway_url:
            url, token = self.gateway_url, self.gateway_token
            self.gateway = GatewayClient(lambda: url, token, self.request_timeout)
        else:
            self._prepare_single_user_mode()
        self.student = StudentKernels(serverapp.session_manager, serverapp.kernel_manager)
        self.scratch = ScratchKernels(
            serverapp.kernel_spec_manager, serverapp.root_dir, parent=self
        )
        self.toolbox = Toolbox(
            gateway=self.gateway,
            contents_manager=serverapp.contents_manager,
            student=self.student,
            scratch=self.scratch,
            parent=self,
        )
        self.orchestrator = Orchestrator(
            gateway=self.gateway,
            toolbox=self.toolbox,
            contents_manager=serverapp.contents_manager,
            root_dir=serverapp.root_dir,
            settings=AgentSettings(
                model=self.model,
                max_tokens=self.max_tokens,
                max_tool_rounds=self.max_tool_rounds,
                context_token_budget=self.context_token_budget,
                nearby_cells=self.nearby_cells,
            ),
            log=self.log,
            course_picks=CoursePicks(self.course_picks_file or None, serverapp.root_dir),
        )

    def _prepare_single_user_mode(self) -> None:
        try:
            from jupyter_tutor_hub.singleuser import PREFIX, STARTUP_HINT
        except ImportError as err:
            self.log.warning("Jupyter Tutor: no gateway (%s). %s", err, NO_GATEWAY)
            self.unavailable_reason = NO_GATEWAY
            # Never called: check_available() refuses every request first.
            self.gateway = GatewayClient(lambda: "", "", self.request_timeout)
            return
        self.log.info("Jupyter Tutor: single-user mode, the gateway runs in this server")
        token = getattr(getattr(self.serverapp, "identity_provider", None), "token", "") or ""

        async def ready() -> None:
            # Single-user mode only (DESIGN.md, "Modes": no hub): the gateway mounted here
            # says what to check when it cannot start. Multi-user servers never run this:
            # they get only the gateway's URL and a token.
            try:
                await self._local_gateway.ready
            except Exception as err:
                raise ChatError(
                    "unavailable",
                    f"The tutor's local service could not start: {err}. {STARTUP_HINT}",
                ) from err

        self.gateway = GatewayClient(
            lambda: local_url(self.serverapp, PREFIX), token, self.request_timeout, ready
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(chat_api_routes(self))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Now that the server listens (its port is known): tell kernels where it is, and
        mount the gateway in single-user mode (its pool opens on the running loop)."""
        export_to_kernels(serverapp, self.kernel_token)
        if not self.gateway_url and self.unavailable_reason is None:
            from jupyter_tutor_hub.singleuser import mount_gateway

            self._local_gateway = mount_gateway(serverapp)

    def check_available(self) -> None:
        """Raise the student-facing reason if this server cannot answer at all."""
        if self.unavailable_reason:
            raise ChatError("unavailable", self.unavailable_reason)

    async def stop_extension(self) -> None:
        """Shut scratch kernels down and close connections; never raises."""
        try:
            await self.scratch.shutdown()
            await self.gateway.close()
        except Exception:
            self.log.warning("Jupyter Tutor did not shut down cleanly", exc_info=True)
