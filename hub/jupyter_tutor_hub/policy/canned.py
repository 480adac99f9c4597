"""A fixed answer as Messages API stream events, for answers the gateway gives itself.

A refusal under a ``no-help`` policy and the offline responder's answers never reach a
model; they still have to look like any other answer to the official SDK on the student's
side, event for event.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any


async def canned_events(
    text: str, model: str, chunk_size: int = 64
) -> AsyncIterator[dict[str, Any]]:
    """``text`` as one streamed text block, with zero usage (no model ran)."""
    yield {
        "type": "message_start",
        "message": {
            "id": f"msg_{model}_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    }
    yield {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    for start in range(0, len(text), chunk_size):
        yield {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text[start : start + chunk_size]},
        }
    yield {"type": "content_block_stop", "index": 0}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 0},
    }
    yield {"type": "message_stop"}
