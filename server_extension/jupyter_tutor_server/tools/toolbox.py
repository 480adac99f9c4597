"""The tools the model may call while answering, and the rules every call follows.

Each tool has a JSON schema the model sees, a time limit and an output cap.  A tool that
cannot do its job returns an ``is_error`` result that says why, so the model can explain
or try something else; nothing a tool does can crash the answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from traitlets import Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from .errors import ChatError, ToolError
from .gateway import GatewayClient
from .notebook import ErrorOutput, clip, describe_cell, last_error, load_notebook
from .scratch import ScratchKernels
from .student_kernel import LAST_ERROR_EXPRESSION, StudentKernels, variables_expression

#: Characters of a tool's output shown to the student in a ``tool_result`` event.
DISPLAY_CHARS = 1500


@dataclass
class ToolResult:
    """What a tool gives back to the model (and, trimmed, to the student)."""

    output: str
    is_error: bool = False
    #: Course passages the tool found (``search_course``), sent as ``citation`` events.
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    """Where the question was asked: tools default to the student's notebook."""

    notebook_path: str | None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[dict[str, Any], Scope], Awaitable[ToolResult]]
    #: Its own time limit (``run_code`` manages one itself) instead of the toolbox's.
    manages_time: bool = False

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _arg(args: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = args.get(name, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ToolError(f"`{name}` must be a {kind.__name__}.")
    return value


def _notebook_path(args: dict[str, Any], scope: Scope) -> str:
    """The tool's ``path`` argument, else the notebook the question was asked from."""
    path = _arg(args, "path", str) or scope.notebook_path
    if not path:
        raise ToolError("No notebook is open; pass `path` (relative to the server root).")
    return path


class Toolbox(LoggingConfigurable):
    """The tools, their limits, and running one call safely."""

    enabled = List(
        Unicode(),
        ["search_course", "read_notebook", "get_last_error", "inspect_variables", "run_code"],
        help="Tools the model may use; remove one to switch it off (e.g. `run_code`).",
    ).tag(config=True)
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
        tools = [
            Tool(
                "search_course",
                "Search the course material (the course's notebooks and notes) for passages "
                "about a topic. Use it to ground explanations in how the course teaches it.",
                _schema(
                    {
                        "query": {"type": "string", "description": "What to look for."},
                        "k": {"type": "integer", "minimum": 1, "maximum": 10},
                    },
                    ("query",),
                ),
                self._search_course,
            ),
            Tool(
                "read_notebook",
                "Read cells of one of the student's notebooks (source and text outputs). "
                "Without `path`, reads the notebook the student is asking from.",
                _schema(
                    {
                        "path": {"type": "string", "description": "Relative to the root."},
                        "start": {"type": "integer", "minimum": 0},
                        "end": {"type": "integer", "minimum": 0, "description": "Exclusive."},
                    }
                ),
                self._read_notebook,
            ),
            Tool(
                "get_last_error",
                "The most recent exception in the student's notebook: from their live "
                "kernel if it runs, else from the saved error outputs.",
                _schema({"path": {"type": "string"}}),
                self._get_last_error,
            ),
            Tool(
                "inspect_variables",
                "Names, types, lengths/shapes and short previews of the variables in the "
                "student's live kernel, read without changing anything.",
                _schema(
                    {
                        "names": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Only these variables (default: all).",
                        }
                    }
                ),
                self._inspect_variables,
            ),
            Tool(
                "run_code",
                "Run Python code in a separate scratch kernel with the same packages as the "
                "student's (NOT in the student's kernel: their variables are not there and "
                "are never changed). Use it to check a claim or reproduce an error. It has "
                "no network, a time limit and an output cap; state persists between runs.",
                _schema({"code": {"type": "string"}}, ("code",)),
                self._run_code,
                manages_time=True,
            ),
        ]
        self.tools = {tool.name: tool for tool in tools}

    def definitions(self) -> list[dict[str, Any]]:
        """The enabled tools, as the Messages API's ``tools`` parameter."""
        return [t.definition() for name, t in self.tools.items() if name in self.enabled]

    async def call(self, name: str, args: Any, scope: Scope) -> ToolResult:
        """Run one tool call; whatever happens, return a result (cancellation aside)."""
        tool = self.tools.get(name)
        if tool is None or name not in self.enabled:
            return ToolResult(f"There is no tool named {name!r}.", is_error=True)
        if not isinstance(args, dict):
            return ToolResult("The tool input must be a JSON object.", is_error=True)
        try:
            if tool.manages_time:
                result = await tool.run(args, scope)
            else:
                result = await asyncio.wait_for(tool.run(args, scope), self.timeout)
        except TimeoutError:
            result = ToolResult(f"{name} did not finish within {self.timeout:g} s.", True)
        except (ToolError, ChatError) as err:
            result = ToolResult(str(err), is_error=True)
        except Exception as err:
            self.log.exception("Tool %s failed", name)
            result = ToolResult(f"{name} failed unexpectedly ({type(err).__name__}).", True)
        result.output = clip(result.output, self.output_chars, keep="both")
        return result

    async def _search_course(self, args: dict[str, Any], scope: Scope) -> ToolResult:
        query = _arg(args, "query", str)
        if not query or not query.strip():
            raise ToolError("`query` must be a non-empty string.")
        k = min(max(_arg(args, "k", int, 4), 1), 10)
        found = await self.gateway.post_json("api/search", {"query": query, "k": k})
        hits = found.get("hits", []) if isinstance(found, dict) else []
        if not hits:
            return ToolResult("The course material has nothing that matches this query.")
        lines = []
        for n, hit in enumerate(hits, start=1):
            where = hit.get("path", "?") + (
                f", cell {hit['cell']}" if hit.get("cell") is not None else ""
            )
            lines.append(f"[{n}] {hit.get('heading', '')} ({where})\n{hit.get('text', '')}")
        citations = [
            {
                "course": hit.get("course") or found.get("course", ""),
                "path": hit.get("path", ""),
                "cell": hit.get("cell"),
                "heading": hit.get("heading", ""),
                "text": str(hit.get("text", ""))[:300],
            }
            for hit in hits
        ]
        return ToolResult("\n\n".join(lines), citations=citations)

    async def _read_notebook(self, args: dict[str, Any], scope: Scope) -> ToolResult:
        path = _notebook_path(args, scope)
        cells = (await load_notebook(self.contents_manager, path)).get("cells", [])
        start = _arg(args, "start", int, 0)
        end = min(_arg(args, "end", int, len(cells)), len(cells))
        if not 0 <= start < max(end, 1):
            raise ToolError(f"{path} has {len(cells)} cells; ask for a range in 0..{len(cells)}.")
        per_cell = max(200, self.output_chars // max(1, end - start))
        shown = [describe_cell(i, cells[i], per_cell) for i in range(start, end)]
        return ToolResult(f"{path} ({len(cells)} cells)\n\n" + "\n\n".join(shown))

    async def _get_last_error(self, args: dict[str, Any], scope: Scope) -> ToolResult:
        path = _notebook_path(args, scope)
        try:
            live = await self.student.evaluate(path, LAST_ERROR_EXPRESSION, self.timeout)
        except ToolError as err:
            live, why = None, str(err)
        else:
            why = "The student's kernel has raised no exception since it started."
        if live:
            error = ErrorOutput(live["ename"], live["evalue"], live["traceback"])
            return ToolResult(
                "From the student's live kernel:\n" + error.describe(self.output_chars // 2)
            )
        found = last_error((await load_notebook(self.contents_manager, path)).get("cells", []))
        if found is None:
            return ToolResult(f"{why} The saved notebook shows no error output either.")
        index, error = found
        return ToolResult(
            f"From the saved notebook (cell {index}; the live kernel: {why})\n"
            + error.describe(self.output_chars // 2)
        )

    async def _inspect_variables(self, args: dict[str, Any], scope: Scope) -> ToolResult:
        names = _arg(args, "names", list, [])
        if not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise ToolError("`names` must be a list of variable names.")
        found = await self.student.evaluate(
            scope.notebook_path, variables_expression(names[:50], limit=60), self.timeout
        )
        lines = [json.dumps(item, ensure_ascii=False) for item in found["variables"]]
        if found["missing"]:
            lines.append("Not defined in the kernel: " + ", ".join(found["missing"]))
        if found["more"]:
            lines.append(f"…and {found['more']} more variables (ask for them by name).")
        return ToolResult("\n".join(lines) or "The student's kernel has no variables yet.")

    async def _run_code(self, args: dict[str, Any], scope: Scope) -> ToolResult:
        code = _arg(args, "code", str)
        if not code or not code.strip():
            raise ToolError("`code` must be non-empty Python code.")
        kernel_name = await self.student.kernel_name(scope.notebook_path)
        outcome = await self.scratch.run(code, kernel_name, self.output_chars)
        return ToolResult(outcome.text(), is_error=outcome.failed)

    @staticmethod
    def display(result: ToolResult) -> str:
        """A tool's output as shown to the student (trimmed)."""
        return clip(result.output, DISPLAY_CHARS, keep="both")
