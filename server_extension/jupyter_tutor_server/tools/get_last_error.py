"""``get_last_error``: the student's latest exception, live from their kernel or saved."""

from __future__ import annotations

from typing import Any

from jupyter_tutor.notebooks import cell_label

from ..notebook import ErrorOutput, last_error
from ..student_kernel import LAST_ERROR_EXPRESSION
from .base import Tool, ToolContext, ToolError, argument, object_schema


class GetLastError(Tool):
    name = "get_last_error"
    description = (
        "The most recent exception in the student's notebook: from their live "
        "kernel if it runs, else from the saved error outputs."
    )
    input_schema = object_schema({"path": {"type": "string"}})

    async def run(self, input: dict[str, Any], context: ToolContext) -> str:
        path = context.notebook(argument(input, "path", str))
        limit = context.limits.output_chars // 2
        try:
            live = await context.student.evaluate(LAST_ERROR_EXPRESSION, path)
        except ToolError as err:
            live, why = None, str(err)
        else:
            why = "The student's kernel has raised no exception since it started."
        if live:
            error = ErrorOutput(live["ename"], live["evalue"], live["traceback"])
            return "From the student's live kernel:\n" + error.describe(limit)
        found = last_error((await context.load_notebook(path)).get("cells", []))
        if found is None:
            return f"{why} The saved notebook shows no error output either."
        index, error = found
        return (
            f"From the saved notebook ({cell_label(index)}; the live kernel: {why})\n"
            + error.describe(limit)
        )
