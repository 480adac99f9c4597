"""``inspect_variables``: what the student's live kernel holds, read without changing it."""

from __future__ import annotations

import json
from typing import Any

from ..student_kernel import variables_expression
from .base import Tool, ToolContext, ToolError, argument, object_schema


class InspectVariables(Tool):
    name = "inspect_variables"
    description = (
        "Names, types, lengths/shapes and short previews of the variables in the "
        "student's live kernel, read without changing anything."
    )
    input_schema = object_schema(
        {
            "names": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only these variables (default: all).",
            }
        }
    )

    async def run(self, input: dict[str, Any], context: ToolContext) -> str:
        names = argument(input, "names", list, [])
        if not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise ToolError("`names` must be a list of variable names.")
        found = await context.student.evaluate(variables_expression(names[:50], limit=60))
        lines = [json.dumps(item, ensure_ascii=False) for item in found["variables"]]
        if found["missing"]:
            lines.append("Not defined in the kernel: " + ", ".join(found["missing"]))
        if found["more"]:
            lines.append(f"…and {found['more']} more variables (ask for them by name).")
        return "\n".join(lines) or "The student's kernel has no variables yet."
