"""The request surface the gateway accepts: what the tutor's orchestrator sends, nothing more.

The caller is a student's server, so every field is chosen by a possible adversary.  An
allow-list, not a deny-list: content blocks are text, base64 images, and the tool calls
and results of the tutor's own client tools; tools are plain client tools (no Anthropic
server tools such as web search or web fetch, which would send data to the open web on
the university's key and bill outside the budget), few and small; sources are inline,
never URLs.  ``thinking`` is refused: the orchestrator does not use it, and a model's
reasoning is where it works the solution out in full.  Everything refused gets a 400 that
names the field, so a developer sees at once what to remove.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

#: Keys each content block type may carry, by the role of its message.
_BLOCK_KEYS = {
    "user": {
        "text": {"type", "text", "cache_control"},
        "image": {"type", "source", "cache_control"},
        "tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
    },
    "assistant": {
        "text": {"type", "text", "cache_control"},
        "tool_use": {"type", "id", "name", "input", "cache_control"},
    },
}
#: Blocks a tool result may hold.
_RESULT_BLOCKS = {"text": {"type", "text", "cache_control"}, "image": {"type", "source"}}
_TOOL_KEYS = {"name", "description", "input_schema", "cache_control", "type"}
_TOOL_CHOICES = {"auto", "any", "tool", "none"}
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: Parameters refused outright (rather than silently dropped), with the reason.
REFUSED_PARAMS = {
    "thinking": "extended thinking is not available through the tutor",
    "mcp_servers": "MCP servers are not available through the tutor",
    "container": "code execution containers are not available through the tutor",
}


@dataclass(frozen=True)
class SurfaceLimits:
    """How many tools, and how large, a request may declare."""

    max_tools: int
    max_tool_bytes: int


def check_surface(body: Mapping[str, Any], limits: SurfaceLimits) -> None:
    """Raise a 400 naming the first field outside the allowed surface."""
    for name, why in REFUSED_PARAMS.items():
        if name in body:
            raise bad_request(f"`{name}` is refused: {why}. Remove it from the request.")
    for n, message in enumerate(body["messages"]):
        content = message.get("content")
        if isinstance(content, list):
            for m, block in enumerate(content):
                _check_block(block, f"messages[{n}].content[{m}]", _BLOCK_KEYS[message["role"]])
    if isinstance(body.get("system"), list):
        for m, block in enumerate(body["system"]):
            _check_block(block, f"system[{m}]", {"text": _BLOCK_KEYS["user"]["text"]})
    names = _check_tools(body.get("tools"), limits)
    _check_tool_choice(body.get("tool_choice"), names)


def _check_block(block: dict[str, Any], where: str, allowed: Mapping[str, set[str]]) -> None:
    kind = block["type"]
    if kind not in allowed:
        raise bad_request(
            f"`{where}` is a `{kind}` block; only {', '.join(sorted(allowed))} blocks are "
            "accepted here."
        )
    extra = sorted(set(block) - allowed[kind])
    if extra:
        raise bad_request(f"`{where}.{extra[0]}` is not accepted on a `{kind}` block.")
    if kind == "image":
        _check_image(block.get("source"), f"{where}.source")
    elif kind == "tool_use":
        if not isinstance(block.get("name"), str) or not _TOOL_NAME.match(block["name"]):
            raise bad_request(f"`{where}.name` must be a tool name (letters, digits, _ or -).")
        if not isinstance(block.get("input"), dict):
            raise bad_request(f"`{where}.input` must be an object.")
    elif kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            for m, inner in enumerate(content):
                if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
                    raise bad_request(f"`{where}.content[{m}]` must be a typed content block.")
                _check_block(inner, f"{where}.content[{m}]", _RESULT_BLOCKS)
        elif content is not None and not isinstance(content, str):
            raise bad_request(f"`{where}.content` must be a string or a list of blocks.")


def _check_image(source: Any, where: str) -> None:
    """Images only inline (base64): a URL source makes the provider fetch the open web."""
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise bad_request(f"`{where}` must be an inline base64 image; URL sources are refused.")
    if source.get("media_type") not in _IMAGE_TYPES:
        raise bad_request(f"`{where}.media_type` must be one of {', '.join(sorted(_IMAGE_TYPES))}.")
    if not isinstance(source.get("data"), str) or set(source) != {"type", "media_type", "data"}:
        raise bad_request(f"`{where}` must hold exactly `type`, `media_type` and `data`.")


def _check_tools(tools: Any, limits: SurfaceLimits) -> set[str]:
    """Client tools only, at most ``max_tools``, each at most ``max_tool_bytes``."""
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise bad_request("`tools` must be a list.")
    if len(tools) > limits.max_tools:
        raise bad_request(f"`tools` lists {len(tools)} tools; at most {limits.max_tools} allowed.")
    names = set()
    for n, tool in enumerate(tools):
        where = f"tools[{n}]"
        if not isinstance(tool, dict):
            raise bad_request(f"`{where}` must be an object.")
        if tool.get("type", "custom") != "custom":
            raise bad_request(
                f"`{where}` is the server tool `{tool.get('type')}`; only the tutor's own "
                "client tools are accepted."
            )
        extra = sorted(set(tool) - _TOOL_KEYS)
        if extra:
            raise bad_request(f"`{where}.{extra[0]}` is not accepted on a tool.")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise bad_request(f"`{where}.name` must be a tool name (letters, digits, _ or -).")
        if not isinstance(tool.get("input_schema"), dict):
            raise bad_request(f"`{where}.input_schema` must be a JSON Schema object.")
        size = len(json.dumps(tool))
        if size > limits.max_tool_bytes:
            raise bad_request(
                f"`{where}` ({name}) is {size} bytes; a tool may take at most "
                f"{limits.max_tool_bytes}."
            )
        names.add(name)
    return names


def _check_tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICES:
        raise bad_request("`tool_choice.type` must be one of auto, any, tool or none.")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise bad_request("`tool_choice.name` must name one of the request's `tools`.")
