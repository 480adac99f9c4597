"""Rebuilds the assistant's turn from the events relayed to the student.

The gateway stores what the student actually received: if the stream breaks, the recorder
holds the partial answer (text so far, tool calls complete or not) to be stored as
``interrupted``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import metrics
from .metering import Usage


class AnswerRecorder:
    """Feed it every Messages API event (as a dict); read the turn back at the end."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self._partial_json: dict[int, list[str]] = {}
        self._usage: dict[str, int] = {}

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message", {})
            self.model = message.get("model")
            self._usage.update(_counts(message.get("usage")))
        elif kind == "content_block_start":
            block = dict(event.get("content_block", {}))
            self.blocks[event["index"]] = block
            if block.get("type") == "tool_use":
                self._partial_json[event["index"]] = []
                metrics.TOOL_USES.labels(str(block.get("name", "unknown"))[:64]).inc()
        elif kind == "content_block_delta":
            self._mark_first_token()
            self._apply_delta(event["index"], event.get("delta", {}))
        elif kind == "content_block_stop":
            self._finish_tool_input(event["index"])
        elif kind == "message_delta":
            self.stop_reason = event.get("delta", {}).get("stop_reason") or self.stop_reason
            self._usage.update(_counts(event.get("usage")))

    def feed_message(self, message: dict[str, Any]) -> None:
        """A complete non-streaming answer."""
        self._mark_first_token()
        self.model = message.get("model")
        self.stop_reason = message.get("stop_reason")
        self._usage.update(_counts(message.get("usage")))
        self.blocks = dict(enumerate(message.get("content", [])))

    @property
    def content(self) -> list[dict[str, Any]]:
        """The answer's content blocks, closed (partial tool input kept as text)."""
        for index in list(self._partial_json):
            self._finish_tool_input(index)
        return self.snapshot()

    def snapshot(self) -> list[dict[str, Any]]:
        """The blocks received so far, leaving a tool input that is still streaming open."""
        blocks = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            if index in self._partial_json:
                block["input"] = {"_incomplete_json": "".join(self._partial_json[index])}
            blocks.append(block)
        return blocks

    @property
    def usage(self) -> Usage:
        return Usage.from_api(self._usage)

    @property
    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    def _mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
            metrics.FIRST_TOKEN_SECONDS.labels(self.model or "unknown").observe(
                self.first_token_at - self.started
            )

    def _apply_delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta.get("text", "")
        elif kind == "input_json_delta":
            self._partial_json.setdefault(index, []).append(delta.get("partial_json", ""))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")

    def _finish_tool_input(self, index: int) -> None:
        parts = self._partial_json.pop(index, None)
        if parts is None:
            return
        raw = "".join(parts)
        try:
            self.blocks[index]["input"] = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            self.blocks[index]["input"] = {"_incomplete_json": raw}


def _counts(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    return {k: int(v) for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}
