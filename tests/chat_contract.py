"""The chat API's event schemas from docs/openapi/chat.yaml, for checking what a server emits.

OpenAPI 3.0 writes "may be null" as ``nullable: true``; JSON Schema as a type list. The
schemas are converted once, so jsonschema validates events exactly as the document says.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CHAT_SPEC = Path(__file__).resolve().parent.parent / "docs" / "openapi" / "chat.yaml"


@cache
def schemas() -> dict[str, Any]:
    """The spec's component schemas, as JSON Schema."""
    spec = yaml.safe_load(CHAT_SPEC.read_text())
    return _json_schema(spec["components"]["schemas"])


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items() if key != "discriminator"}
    if node.pop("nullable", False):
        node["type"] = [node["type"], "null"]
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
    return node


def validate_event(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` is one of the chat API's events."""
    defs = schemas()
    name = {
        "conversation": "ConversationEvent",
        "text": "TextEvent",
        "tool_call": "ToolCallEvent",
        "tool_result": "ToolResultEvent",
        "citation": "CitationEvent",
        "usage": "UsageEvent",
        "done": "DoneEvent",
        "error": "ErrorEvent",
    }.get(event.get("type"), "ChatEvent")
    jsonschema.validate(event, {"$defs": defs, "$ref": f"#/$defs/{name}"})
