"""Anthropic Messages ⇄ OpenAI Chat Completions, both ways and streamed.

The student's side speaks only the Messages API; an OpenAI-compatible upstream (OpenAI,
Azure OpenAI, vLLM, Ollama) speaks Chat Completions.  This module is the whole mapping:

- :func:`chat_request` turns the gateway's Messages parameters (system blocks, turns with
  ``tool_use``/``tool_result`` blocks, tool definitions, ``tool_choice``, limits) into
  Chat Completions parameters;
- :class:`StreamTranslator` turns streamed ``chat.completion.chunk`` objects (``delta.content``,
  ``delta.tool_calls`` whose ``arguments`` arrive in pieces, ``finish_reason``, the usage of
  the last chunk) into exactly the Anthropic event sequence (``message_start``,
  ``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``);
- :func:`message_from_completion` does the same for a non-streamed completion.

Invariant: the events carry the *public* model name the student's side asked for, never
the upstream's own name, so nothing downstream learns which upstream answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

#: Chat Completions ``finish_reason`` → Messages ``stop_reason``.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _text_of(content: Any) -> str:
    """The text of a string or of a list of content blocks (other blocks dropped)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        str(block.get("text", ""))
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _user_parts(content: Any) -> Any:
    """A user turn's content as Chat Completions content (text parts and images)."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif block.get("type") == "image" and block.get("source", {}).get("type") == "base64":
            source = block["source"]
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
    if all(part["type"] == "text" for part in parts):
        return "".join(part["text"] for part in parts)
    return parts


def _turns(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One Messages turn as one or more Chat Completions messages."""
    role, content = message.get("role"), message.get("content")
    blocks = content if isinstance(content, list) else []
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": _text_of(content) or None}
        calls = [
            {
                "id": block["id"],
                "type": "function",
                "function": {
                    "name": block["name"],
                    "arguments": json.dumps(block.get("input", {})),
                },
            }
            for block in blocks
            if block.get("type") == "tool_use"
        ]
        if calls:
            out["tool_calls"] = calls
        yield out
        return
    # A user turn: its tool results become ``tool`` messages, which must come first
    # (right after the assistant's tool calls); the rest stays a user message.
    for block in blocks:
        if block.get("type") == "tool_result":
            text = _text_of(block.get("content"))
            if block.get("is_error"):
                text = f"Error: {text}"
            yield {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}
    rest = (
        content
        if isinstance(content, str)
        else [block for block in blocks if block.get("type") != "tool_result"]
    )
    if rest:
        yield {"role": "user", "content": _user_parts(rest)}


def _tool_choice(choice: dict[str, Any]) -> Any:
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"any": "required", "none": "none"}.get(str(kind), "auto")


def chat_request(params: dict[str, Any], model: str, *, tools: bool = True) -> dict[str, Any]:
    """Chat Completions parameters for the Messages ``params``, addressed to ``model``.

    With ``tools=False`` (an upstream declared unable to call tools) tool definitions are
    left out; earlier tool rounds still reach it as text of the conversation.
    """
    messages: list[dict[str, Any]] = []
    system = _text_of(params.get("system")) if params.get("system") else ""
    if system:
        messages.append({"role": "system", "content": system})
    for message in params.get("messages", []):
        messages.extend(_turns(message))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if "max_tokens" in params:
        out["max_tokens"] = params["max_tokens"]
    for key in ("temperature", "top_p"):
        if key in params:
            out[key] = params[key]
    if params.get("stop_sequences"):
        out["stop"] = list(params["stop_sequences"])[:4]
    if tools and params.get("tools"):
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "description": tool.get("description", ""),
                    "parameters": tool.get("input_schema", {"type": "object"}),
                },
            }
            for tool in params["tools"]
            if "input_schema" in tool or "name" in tool
        ]
        if isinstance(params.get("tool_choice"), dict):
            out["tool_choice"] = _tool_choice(params["tool_choice"])
    if params.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _usage(usage: Any) -> dict[str, int]:
    if not usage:
        return {}
    data = usage if isinstance(usage, dict) else usage.model_dump()
    return {
        "input_tokens": int(data.get("prompt_tokens") or 0),
        "output_tokens": int(data.get("completion_tokens") or 0),
    }


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.model_dump(mode="json", exclude_unset=False)


class StreamTranslator:
    """Chat Completions chunks in, Anthropic stream events (as dicts) out.

    One per answer.  Feed it each chunk with :meth:`feed`, then call :meth:`finish` once
    the stream ended; both return the events to relay, in order.
    """

    def __init__(self, model: str, message_id: str) -> None:
        #: The public model name put in ``message_start``.
        self.model = model
        self.message_id = message_id
        self._started = False
        self._index = -1
        #: ``("text", None)`` or ``("tool", <chunk tool index>)`` of the open block.
        self._open: tuple[str, int | None] | None = None
        self._stop_reason = "end_turn"
        self._usage: dict[str, int] = {"input_tokens": 0, "output_tokens": 0}

    def _start(self) -> Iterator[dict[str, Any]]:
        if not self._started:
            self._started = True
            yield {
                "type": "message_start",
                "message": {
                    "id": self.message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }

    def _close(self) -> Iterator[dict[str, Any]]:
        if self._open is not None:
            yield {"type": "content_block_stop", "index": self._index}
            self._open = None

    def _open_block(
        self, key: tuple[str, int | None], block: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        yield from self._close()
        self._index += 1
        self._open = key
        yield {"type": "content_block_start", "index": self._index, "content_block": block}

    def feed(self, chunk: Any) -> list[dict[str, Any]]:
        """The events for one ``chat.completion.chunk`` (an SDK object or a dict)."""
        data = _as_dict(chunk)
        events = list(self._start())
        if data.get("usage"):
            self._usage = _usage(data["usage"])
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self._open != ("text", None):
                    events += self._open_block(("text", None), {"type": "text", "text": ""})
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": self._index,
                        "delta": {"type": "text_delta", "text": text},
                    }
                )
            for call in delta.get("tool_calls") or []:
                key = ("tool", int(call.get("index") or 0))
                function = call.get("function") or {}
                if self._open != key:
                    block: dict[str, Any] = {
                        "type": "tool_use",
                        "id": call.get("id") or f"toolu_{self.message_id}_{key[1]}",
                        "name": function.get("name") or "",
                        "input": {},
                    }
                    events += self._open_block(key, block)
                if function.get("arguments"):
                    events.append(
                        {
                            "type": "content_block_delta",
                            "index": self._index,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": function["arguments"],
                            },
                        }
                    )
            if choice.get("finish_reason"):
                self._stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events: the last block's stop, the stop reason and usage, the end."""
        events = list(self._start())
        events += self._close()
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                "usage": dict(self._usage),
            }
        )
        events.append({"type": "message_stop"})
        return events


def translate_stream(chunks: Iterable[Any], model: str, message_id: str) -> list[dict[str, Any]]:
    """All the events for a finished list of chunks (for tests and the non-streamed path)."""
    translator = StreamTranslator(model, message_id)
    events = [event for chunk in chunks for event in translator.feed(chunk)]
    return events + translator.finish()


def message_from_completion(completion: Any, model: str) -> dict[str, Any]:
    """A Messages ``Message`` for a non-streamed ``chat.completion``."""
    data = _as_dict(completion)
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except json.JSONDecodeError:
            arguments = {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments,
            }
        )
    return {
        "id": data.get("id"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": _usage(data.get("usage")) or {"input_tokens": 0, "output_tokens": 0},
    }
