"""The toolbox: which tools the model is offered, and running one call safely.

Tools are the built-in ones (this package, one module each) and plugins: classes that
installed packages name in the ``jupyter_tutor.tools`` entry point group (docs/tools.md).
A plugin that fails to import or is not a valid :class:`~.base.Tool` is logged and
skipped at start; one that fails while running gives the model an ``is_error`` result,
like a built-in tool that fails.  Nothing a tool does can crash the answer or the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from traitlets import Float, Integer, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import ChatError, ToolError
from ..gateway import GatewayClient
from ..notebook import clip
from ..scratch import ScratchKernels
from ..student_kernel import StudentKernels
from .base import (
    Limits,
    Scope,
    Scratch,
    StudentKernel,
    Tool,
    ToolContext,
    ToolResult,
    check_tool_class,
)
from .get_last_error import GetLastError
from .inspect_variables import InspectVariables
from .read_notebook import ReadNotebook
from .run_code import RunCode
from .search_course import SearchCourse

#: The entry point group plugins register their tools in.
ENTRY_POINT_GROUP = "jupyter_tutor.tools"

#: The tools that come with the orchestrator itself (``check_exercise`` ships with the
#: project too, but as a plugin: an entry point of this distribution).
BUILT_IN: tuple[type[Tool], ...] = (
    SearchCourse,
    ReadNotebook,
    GetLastError,
    InspectVariables,
    RunCode,
)

#: Characters of a tool's output shown to the student in a ``tool_result`` event.
DISPLAY_CHARS = 1500


class Toolbox(LoggingConfigurable):
    """The tools, their limits, and running one call safely."""

    enabled = List(
        Unicode(),
        help="""Tools the model may use. Default: every built-in tool and every installed
        plugin tool; list them to switch some off (e.g. without `run_code`). A course
        can narrow this further (`tools:` in its tutor.yaml, enforced by the gateway).""",
    ).tag(config=True)

    @default("enabled")
    def _enabled_default(self) -> list[str]:
        return list(self.tools)

    timeout = Float(
        15.0, help="Seconds a tool may take (run_code has its own limit, ScratchKernels.timeout)."
    ).tag(config=True)
    output_chars = Integer(
        8000, help="Characters of a tool's output the model gets; the rest is cut."
    ).tag(config=True)

    def __init__(
        self,
        *,
        gateway: GatewayClient,
        contents_manager: Any,
        student: StudentKernels,
        scratch: ScratchKernels,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gateway = gateway
        self.contents_manager = contents_manager
        self.student = student
        self.scratch = scratch
        #: Every usable tool by name, enabled or not.
        self.tools: dict[str, Tool] = {cls.name: cls(parent=self) for cls in BUILT_IN}
        #: Plugins that could not be loaded, by entry point name: why.
        self.skipped: dict[str, str] = {}
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            self._load_plugin(entry_point)
        unknown = sorted(set(self.enabled) - set(self.tools))
        if unknown:
            self.log.warning(
                "Jupyter Tutor: Toolbox.enabled names tools that are not installed: %s",
                ", ".join(unknown),
            )
        self.log.info(
            "Jupyter Tutor tools: %s", ", ".join(n for n in self.tools if n in self.enabled)
        )

    def _load_plugin(self, entry_point: EntryPoint) -> None:
        """Load one plugin tool; log and skip it if anything about it is wrong."""
        where = f"{entry_point.name} = {entry_point.value}"
        try:
            found = check_tool_class(entry_point.load())
            if found.name in self.tools:
                if type(self.tools[found.name]) is found:
                    return  # the same distribution seen twice on the path
                raise ValueError(f"a tool named {found.name!r} is already loaded")
            self.tools[found.name] = found(parent=self)
        except (Exception, SystemExit) as err:
            self.skipped[entry_point.name] = f"{type(err).__name__}: {err}"
            self.log.error(
                "Jupyter Tutor: skipped the tool plugin %s: %s: %s",
                where,
                type(err).__name__,
                err,
                exc_info=err,
            )
            return
        self.log.info("Jupyter Tutor: loaded the tool plugin %s", where)

    def definitions(self) -> list[dict[str, Any]]:
        """The enabled tools, as the Messages API's ``tools`` parameter."""
        return [t.definition() for name, t in self.tools.items() if name in self.enabled]

    def context(self, scope: Scope) -> ToolContext:
        """What a tool may use for a question asked at ``scope``."""
        student = StudentKernel(self.student, scope.notebook_path, self.timeout)
        return ToolContext(
            scope=scope,
            contents_manager=self.contents_manager,
            student=student,
            scratch=Scratch(self.scratch, student, self.output_chars),
            gateway=self.gateway,
            limits=Limits(timeout=self.timeout, output_chars=self.output_chars),
        )

    async def call(self, name: str, args: Any, scope: Scope) -> ToolResult:
        """Run one tool call; whatever happens, return a result (cancellation aside)."""
        tool = self.tools.get(name)
        if tool is None or name not in self.enabled:
            return ToolResult(f"There is no tool named {name!r}.", is_error=True)
        if not isinstance(args, dict):
            return ToolResult("The tool input must be a JSON object.", is_error=True)
        try:
            running = _contained(tool.run(args, self.context(scope)))
            if tool.manages_time:
                returned = await running
            else:
                returned = await asyncio.wait_for(running, self.timeout)
            result = _as_result(name, returned)
        except TimeoutError:
            result = ToolResult(f"{name} did not finish within {self.timeout:g} s.", True)
        except (ToolError, ChatError) as err:
            result = ToolResult(str(err), is_error=True)
        except Exception as err:
            self.log.error("Tool %s failed", name, exc_info=err)
            result = ToolResult(f"{name} failed unexpectedly ({type(err).__name__}).", True)
        result.output = clip(result.output, self.output_chars, keep="both")
        return result

    @staticmethod
    def display(result: ToolResult) -> str:
        """A tool's output as shown to the student (trimmed)."""
        return clip(result.output, DISPLAY_CHARS, keep="both")


class ToolExited(Exception):
    """A tool called ``sys.exit()``: an error of the tool, not the end of the server."""


async def _contained(running: Coroutine[Any, Any, Any]) -> Any:
    """``running``, with a ``SystemExit`` turned into a plain exception before it reaches
    a task (asyncio lets ``SystemExit`` out of a task to stop the whole event loop)."""
    try:
        return await running
    except SystemExit as err:
        raise ToolExited(f"exit({err.code!r})") from err


def _as_result(name: str, returned: Any) -> ToolResult:
    if isinstance(returned, ToolResult) and isinstance(returned.output, str):
        return returned
    if isinstance(returned, str):
        return ToolResult(returned)
    raise ToolError(f"{name} returned {type(returned).__name__}, not text: a bug in the tool.")
