"""The interface every tool implements, built-in or plugin (see docs/tools.md).

A tool is a :class:`Tool` subclass: a name, a description and a JSON schema the model
sees, and an async :meth:`Tool.run` that gets the model's input and a
:class:`ToolContext`.  The context is all a tool may use, and the same for every tool:
the question's position, Jupyter's contents manager, the student's live kernel read-only,
a scratch kernel for running code, the course search of the gateway, and the limits.

A tool that cannot do its job raises :class:`ToolError` with a message for the model;
any other exception is logged and reported to the model as an unexpected failure.
Either way the answer goes on (the :class:`~.toolbox.Toolbox` sees to it).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from traitlets.config import LoggingConfigurable

from ..errors import ToolError
from ..gateway import GatewayClient
from ..notebook import load_notebook
from ..scratch import Outcome, ScratchKernels
from ..student_kernel import StudentKernels

#: What the Messages API accepts as a tool's name.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class ToolResult:
    """What a tool gives back to the model (and, trimmed, to the student)."""

    output: str
    is_error: bool = False
    #: Course passages the tool found (``search_course``), sent as ``citation`` events.
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    """Where the question was asked (as the student's client reported it)."""

    #: The notebook, relative to the server root; None outside any notebook.
    notebook_path: str | None
    #: The active cell, as found in the saved notebook (by id, else by index).
    cell_index: int | None = None
    cell_id: str | None = None
    #: The code the question is about (the active cell as the student sees it now,
    #: possibly not saved yet); None if the client sent none.
    code: str | None = None
    #: What ``X-Tutor-Context`` says of the question's course (searches stay in it).
    course: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """The operator's limits for one tool call (``c.Toolbox.*``)."""

    #: Seconds the call may take (cut off by the toolbox unless the tool manages time).
    timeout: float
    #: Characters of output the model gets; the toolbox cuts the rest.
    output_chars: int


class StudentKernel:
    """The student's live kernel of the question's notebook, read-only.

    Nothing here executes the student's cells or changes their namespace: an expression
    is evaluated silently, without history, and its value comes back as JSON.  An
    expression must not change anything either (see ``student_kernel.py`` for the rules
    the built-in expressions keep).
    """

    def __init__(self, kernels: StudentKernels, notebook_path: str | None, timeout: float):
        self._kernels = kernels
        self._notebook_path = notebook_path
        self._timeout = timeout

    async def kernel_name(self, notebook_path: str | None = None) -> str:
        """The kernel spec (environment) of the notebook (default: the question's), else
        the server's default."""
        return await self._kernels.kernel_name(notebook_path or self._notebook_path)

    async def evaluate(self, expression: str, notebook_path: str | None = None) -> Any:
        """The JSON value of a side-effect-free ``expression`` that returns JSON text, in
        the kernel of the notebook (default: the question's); a :class:`ToolError` when
        no kernel runs for it, or it is busy."""
        path = notebook_path or self._notebook_path
        return await self._kernels.evaluate(path, expression, self._timeout)


class Scratch:
    """A scratch kernel in the environment of the student's notebook, never theirs.

    Separate process, no tokens in its environment, sandboxed where bubblewrap is
    installed, interrupted at ``ScratchKernels.timeout`` and replaced if it dies.  Its
    state persists between runs of the same answer and the next ones.
    """

    def __init__(self, kernels: ScratchKernels, student: StudentKernel, output_chars: int):
        self._kernels = kernels
        self._student = student
        self._output_chars = output_chars

    @property
    def timeout(self) -> float:
        """Seconds one run may take before it is interrupted."""
        return float(self._kernels.timeout)

    async def run(self, code: str) -> Outcome:
        """Run ``code``; its output (cut to the output cap), error and notes."""
        kernel_name = await self._student.kernel_name()
        return await self._kernels.run(code, kernel_name, self._output_chars)


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool may use during one call."""

    scope: Scope
    #: Jupyter's contents manager: the student's files under the server's root, with its
    #: hidden-file and permission rules (prefer :meth:`load_notebook`).
    contents_manager: Any
    student: StudentKernel
    scratch: Scratch
    #: The tutor gateway, as this student (``post_json("api/search", …)``).
    gateway: GatewayClient
    limits: Limits

    @property
    def notebook_path(self) -> str | None:
        return self.scope.notebook_path

    def notebook(self, path: str | None = None) -> str:
        """``path`` if the model gave one, else the question's notebook."""
        path = path or self.scope.notebook_path
        if not path:
            raise ToolError("No notebook is open; pass `path` (relative to the server root).")
        return path

    async def load_notebook(self, path: str | None = None) -> Any:
        """A notebook (an nbformat node) through the contents manager."""
        return await load_notebook(self.contents_manager, self.notebook(path))


class Tool(LoggingConfigurable):
    """A tool the model may call.  Subclass it, set the class attributes, write ``run``.

    Tools are traitlets configurables whose parent is the toolbox, so a plugin can offer
    its own settings (``c.MyTool.some_limit = …``) and logs through ``self.log``.
    """

    #: The name the model calls it by: letters, digits, ``_`` and ``-``, at most 64.
    name: ClassVar[str] = ""
    #: What it does and when to use it, written for the model.
    description: ClassVar[str] = ""
    #: JSON schema of its input (an object); the model is shown it as is.
    input_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    #: True when ``run`` keeps its own time limit (a scratch kernel's), so the toolbox's
    #: ``timeout`` does not cut it off.
    manages_time: ClassVar[bool] = False

    async def run(self, input: dict[str, Any], context: ToolContext) -> ToolResult | str:
        """Do the job for the model's ``input`` (already a dict, not yet validated).

        Return the text for the model (or a :class:`ToolResult`); raise
        :class:`ToolError` with a message for the model when the job cannot be done.
        Never block the event loop: use ``await asyncio.to_thread(…)`` for slow work.
        """
        raise NotImplementedError

    @classmethod
    def definition(cls) -> dict[str, Any]:
        """The tool as the Messages API's ``tools`` parameter lists it."""
        return {"name": cls.name, "description": cls.description, "input_schema": cls.input_schema}


def check_tool_class(found: Any) -> type[Tool]:
    """``found`` (what an entry point loaded) as a usable :class:`Tool` subclass, or a
    ``TypeError``/``ValueError`` saying what is wrong with it."""
    if not (isinstance(found, type) and issubclass(found, Tool)):
        raise TypeError(f"{found!r} is not a subclass of jupyter_tutor_server.tools.Tool")
    if not isinstance(found.name, str) or not TOOL_NAME.match(found.name):
        raise ValueError(f"its name {found.name!r} is not letters, digits, _ or -, at most 64")
    if not isinstance(found.description, str) or not found.description.strip():
        raise ValueError("it has no description (the model needs one to use it)")
    schema = found.input_schema
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ValueError("its input_schema must be a JSON schema of type object")
    if not inspect.iscoroutinefunction(found.run) or found.run is Tool.run:
        raise TypeError("it must define `async def run(self, input, context)`")
    return found


def object_schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON schema of an input object with ``properties`` and nothing else."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def argument(args: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """``args[name]`` if it is a ``kind`` (booleans are not numbers), else a ToolError."""
    value = args.get(name, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ToolError(f"`{name}` must be a {kind.__name__}.")
    return value
