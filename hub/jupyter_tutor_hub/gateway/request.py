"""Validating a Messages API request before anything is spent on it.

Only the parameters a tutor needs pass through (an allow-list, so a student cannot switch
on costly server-side features), and only the content blocks and tools the orchestrator
sends (``surface.py``); the model must be allowed and ``max_tokens`` is capped.
Simple questions may be routed to a cheaper model when the operator says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from traitlets import Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from . import metrics
from .errors import GatewayError, bad_request
from .surface import SurfaceLimits, check_surface

#: Messages API parameters forwarded upstream; anything else is dropped (sampling knobs
#: such as ``temperature`` too: current models and SDKs no longer take them).
FORWARDED_PARAMS = (
    "model",
    "messages",
    "max_tokens",
    "system",
    "tools",
    "tool_choice",
    "stop_sequences",
    "metadata",
)


@dataclass
class MessagesRequest:
    """A validated request: the upstream parameters and what the gateway needs from it."""

    params: dict[str, Any]
    stream: bool
    question: str

    @property
    def model(self) -> str:
        return self.params["model"]

    @property
    def max_tokens(self) -> int:
        return self.params["max_tokens"]

    @property
    def input_chars(self) -> int:
        """Characters of everything sent upstream that counts as input."""
        return sum(
            len(json.dumps(self.params.get(key) or ""))
            for key in ("system", "messages", "tools")
        )


def latest_question(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message that has text (tool results are skipped)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str) and content.strip():
            return content
        if isinstance(content, list):
            text = "\n".join(
                b.get("text", "")
                for b in content
                if isinstance(b, dict) and b.get("type") == "text"
            )
            if text.strip():
                return text
    return ""


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object whose text PostgreSQL can store; else a 400.

    PostgreSQL's text and jsonb refuse NUL characters and lone surrogates (valid in JSON
    escapes), so they are refused here, with a reason, before anything is stored.
    """
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise bad_request(f"The request body is not valid JSON: {err}.") from err
    except RecursionError as err:
        raise bad_request("The request body is nested too deeply.") from err
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    for text in _strings(body):
        if "\x00" in text:
            raise bad_request("The request contains a NUL character (\\u0000); remove it.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise bad_request("The request contains invalid Unicode (a lone surrogate).") from err
    return body


def context_header(value: str | None) -> dict[str, Any]:
    """``X-Tutor-Context`` as a JSON object (empty without one); else a 400."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except (json.JSONDecodeError, RecursionError) as err:
        raise bad_request("X-Tutor-Context is not valid JSON.") from err
    if not isinstance(data, dict):
        raise bad_request("X-Tutor-Context must be a JSON object.")
    return data


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def count_tool_results(messages: list[dict[str, Any]]) -> None:
    """Count the tool results this request reports (each once: only the newest message's).

    The orchestrator resends the whole history every round, so only the ``tool_result``
    blocks of the last user message are new; their tool's name comes from the matching
    ``tool_use`` block of the assistant message before it.
    """
    last = messages[-1]
    if last.get("role") != "user" or not isinstance(last.get("content"), list):
        return
    names = {}
    if len(messages) > 1 and isinstance(messages[-2].get("content"), list):
        names = {
            b.get("id"): str(b.get("name", "unknown"))[:64]
            for b in messages[-2]["content"]
            if isinstance(b, dict) and b.get("type") == "tool_use"
        }
    for block in last["content"]:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            tool = names.get(block.get("tool_use_id"), "unknown")
            outcome = "true" if block.get("is_error") else "false"
            metrics.TOOL_RESULTS.labels(tool, outcome).inc()


def _check_content(content: Any, what: str) -> None:
    """A string, or a non-empty list of typed blocks whose text (if any) is a string."""
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise bad_request(f"{what} must be a string or a non-empty list of content blocks.")
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise bad_request("Each content block must be an object with a string `type`.")
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise bad_request("A text block's `text` must be a string.")


class ModelPolicy(LoggingConfigurable):
    """Which models may be used, how long answers may be, and cheap-model routing."""

    allowed_models = List(
        Unicode(),
        ["claude-sonnet-4-6", "claude-haiku-4-5"],
        help="Models callers may ask for; others are refused with a 400.",
    ).tag(config=True)
    max_tokens_cap = Integer(
        4096, help="Largest max_tokens forwarded; larger requests are lowered to this."
    ).tag(config=True)
    max_request_bytes = Integer(2 * 1024 * 1024, help="Largest request body accepted (bytes).").tag(
        config=True
    )
    max_tools = Integer(
        16, help="Most tools one request may declare (the tutor's own tools are fewer)."
    ).tag(config=True)
    max_tool_bytes = Integer(
        8192, help="Largest tool definition accepted (name, description and schema, bytes)."
    ).tag(config=True)
    simple_model = Unicode(
        "",
        help="""Route simple requests to this (cheaper) model; empty: no routing. A request
        is simple when it is the first round of a question (no tool results), carries no
        tools use so far, and its question is short and holds no code or traceback.""",
    ).tag(config=True)
    simple_max_chars = Integer(280, help="Longest question still routed to `simple_model`.").tag(
        config=True
    )

    def parse(self, raw: bytes) -> MessagesRequest:
        """Validate a request body; raise a 400 that says what is wrong."""
        if len(raw) > self.max_request_bytes:
            raise GatewayError(
                "request_too_large",
                f"The request is too large ({len(raw) // 1024} KiB, at most "
                f"{self.max_request_bytes // 1024} KiB). Shorten the question or the code sent.",
            )
        body = parse_json_object(raw)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad_request("`messages` must be a non-empty list.")
        if not all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in messages
        ):
            raise bad_request("Each message must be an object with role `user` or `assistant`.")
        for message in messages:
            _check_content(message.get("content"), "Each message's `content`")
        if "system" in body and not isinstance(body["system"], str):
            _check_content(body["system"], "`system`")
        check_surface(body, SurfaceLimits(self.max_tools, self.max_tool_bytes))
        model = body.get("model")
        if not isinstance(model, str) or model not in self.allowed_models:
            raise bad_request(
                f"Model {model!r} is not available here. Allowed: {', '.join(self.allowed_models)}."
            )
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise bad_request("`max_tokens` must be a positive integer.")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise bad_request("`stream` must be true or false.")
        params = {k: body[k] for k in FORWARDED_PARAMS if k in body}
        params["max_tokens"] = min(max_tokens, self.max_tokens_cap)
        request = MessagesRequest(params=params, stream=stream, question=latest_question(messages))
        count_tool_results(messages)
        if self.simple_model and self._is_simple(request):
            params["model"] = self.simple_model
        return request

    def _is_simple(self, request: MessagesRequest) -> bool:
        last = request.params["messages"][-1]
        content = last.get("content")
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        ):
            return False
        question = request.question
        looks_technical = "```" in question or "Traceback" in question or "Error" in question
        return len(question) <= self.simple_max_chars and not looks_technical
