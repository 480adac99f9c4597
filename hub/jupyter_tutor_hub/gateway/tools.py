"""Which tools the model is offered: the course decides, the student's server only asks.

The orchestrator sends the tools its server has in ``params["tools"]``.  Before anything
goes upstream the gateway keeps only those the course's ``tools:`` (``tutor.yaml``)
allows, so a student who edits their own server cannot hand the model a tool the
instructor switched off: the model never learns that tool exists, and so never asks for it.
"""

from __future__ import annotations

from typing import Any

from ..policy.config import CourseConfig


def strip_disallowed_tools(params: dict[str, Any], course: CourseConfig) -> list[str]:
    """Remove from ``params`` the tools ``course`` does not allow; return their names.

    Anything in ``tools`` that is not a named tool the course allows goes too (an
    allow-list), and a ``tool_choice`` that names a removed tool, or that is left without
    any tool, is dropped with it (the Messages API refuses either).
    """
    if (course.tools_allowed is None and not course.tools_denied) or "tools" not in params:
        return []
    offered = params["tools"] if isinstance(params["tools"], list) else []
    kept = [
        tool
        for tool in offered
        if isinstance(tool, dict)
        and isinstance(tool.get("name"), str)
        and course.allows_tool(tool["name"])
    ]
    removed = [
        str(tool.get("name", "?")) if isinstance(tool, dict) else "?"
        for tool in offered
        if not any(tool is k for k in kept)
    ]
    choice = params.get("tool_choice")
    chosen = choice.get("name") if isinstance(choice, dict) else None
    if kept:
        params["tools"] = kept
        if chosen is not None and chosen not in {t["name"] for t in kept}:
            params.pop("tool_choice")
    else:
        params.pop("tools")
        params.pop("tool_choice", None)
    return removed
