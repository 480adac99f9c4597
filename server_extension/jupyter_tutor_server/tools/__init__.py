"""The tools the model may call while answering, built-in and plugins (docs/tools.md).

What a plugin imports: :class:`Tool` to subclass, the :class:`ToolContext` its ``run``
gets, :class:`ToolResult` and :class:`ToolError` to answer with, and two helpers for
input schemas and arguments.
"""

from ..errors import ToolError
from .base import (
    Limits,
    Scope,
    Scratch,
    StudentKernel,
    Tool,
    ToolContext,
    ToolResult,
    argument,
    object_schema,
)
from .toolbox import ENTRY_POINT_GROUP, Toolbox

__all__ = [
    "ENTRY_POINT_GROUP",
    "Limits",
    "Scope",
    "Scratch",
    "StudentKernel",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "Toolbox",
    "argument",
    "object_schema",
]
