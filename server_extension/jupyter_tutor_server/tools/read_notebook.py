"""``read_notebook``: cells of one of the student's notebooks, through the contents manager."""

from __future__ import annotations

from typing import Any

from ..notebook import describe_cell
from .base import Tool, ToolContext, ToolError, argument, object_schema


class ReadNotebook(Tool):
    name = "read_notebook"
    description = (
        "Read cells of one of the student's notebooks (source and text outputs). "
        "Without `path`, reads the notebook the student is asking from."
    )
    input_schema = object_schema(
        {
            "path": {"type": "string", "description": "Relative to the root."},
            "start": {"type": "integer", "minimum": 0},
            "end": {"type": "integer", "minimum": 0, "description": "Exclusive."},
        }
    )

    async def run(self, input: dict[str, Any], context: ToolContext) -> str:
        path = context.notebook(argument(input, "path", str))
        cells = (await context.load_notebook(path)).get("cells", [])
        start = argument(input, "start", int, 0)
        end = min(argument(input, "end", int, len(cells)), len(cells))
        if not 0 <= start < max(end, 1):
            raise ToolError(f"{path} has {len(cells)} cells; ask for a range in 0..{len(cells)}.")
        per_cell = max(200, context.limits.output_chars // max(1, end - start))
        shown = [describe_cell(i, cells[i], per_cell) for i in range(start, end)]
        return f"{path} ({len(cells)} cells)\n\n" + "\n\n".join(shown)
