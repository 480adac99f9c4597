"""``search_course``: the course search of the gateway (student-visible passages only)."""

from __future__ import annotations

import json
from typing import Any

from jupyter_tutor.notebooks import cell_label
from jupyter_tutor.protocol import CONTEXT_HEADER

from .base import Tool, ToolContext, ToolError, ToolResult, argument, object_schema


class SearchCourse(Tool):
    name = "search_course"
    description = (
        "Search the course material (the course's notebooks and notes) for passages "
        "about a topic. Use it to ground explanations in how the course teaches it."
    )
    input_schema = object_schema(
        {
            "query": {"type": "string", "description": "What to look for."},
            "k": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        ("query",),
    )

    async def run(self, input: dict[str, Any], context: ToolContext) -> ToolResult:
        query = argument(input, "query", str)
        if not query or not query.strip():
            raise ToolError("`query` must be a non-empty string.")
        k = min(max(argument(input, "k", int, 4), 1), 10)
        found = await context.gateway.post_json(
            "api/search",
            {"query": query, "k": k},
            headers={CONTEXT_HEADER: json.dumps(context.scope.course)},
        )
        hits = found.get("hits", []) if isinstance(found, dict) else []
        if not hits:
            return ToolResult("The course material has nothing that matches this query.")
        lines = []
        for n, hit in enumerate(hits, start=1):
            cell = hit.get("cell")
            where = hit.get("path", "?")
            if isinstance(cell, int):
                where += f", {cell_label(cell)}"
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
