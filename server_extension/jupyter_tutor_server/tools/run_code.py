"""``run_code``: the model's code, run in a scratch kernel and never in the student's."""

from __future__ import annotations

from typing import Any

from ..scratch import ScratchKernels
from .base import Tool, ToolContext, ToolError, ToolResult, argument, object_schema


class RunCode(Tool):
    name = "run_code"
    description = (
        "Run Python code in a separate scratch kernel with the same packages as the "
        "student's (NOT in the student's kernel: their variables are not there and "
        "are never changed). Use it to check a claim or reproduce an error. State "
        "persists between runs."
    )
    input_schema = object_schema({"code": {"type": "string"}}, ("code",))
    manages_time = True  # the scratch kernel's own limit (ScratchKernels.timeout)

    def definition(self) -> dict[str, Any]:  # type: ignore[override]
        """The description, plus what this server's scratch kernels really isolate (no
        sandbox without bubblewrap: the model is told so) and their limits."""
        found = super().definition()
        scratch = getattr(self.parent, "scratch", None)
        if isinstance(scratch, ScratchKernels):
            found["description"] += " " + scratch.description()
        return found

    async def run(self, input: dict[str, Any], context: ToolContext) -> ToolResult:
        code = argument(input, "code", str)
        if not code or not code.strip():
            raise ToolError("`code` must be non-empty Python code.")
        outcome = await context.scratch.run(code)
        return ToolResult(outcome.text(), is_error=outcome.failed)
