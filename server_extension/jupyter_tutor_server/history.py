"""A stored conversation turned back into a valid Messages API history.

The gateway stores every round of every answer as it happened, including answers that were
stopped or broke off: an assistant turn may end in a tool call that never got its result,
or be missing altogether.  The Messages API accepts none of that, so the history is
repaired before it is sent again: roles alternate, every ``tool_use`` is answered by its
``tool_result`` in the next message, and nothing is empty.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Content as a list of the blocks a history may hold (text, tool use, tool result)."""
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    blocks = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            blocks.append({"type": "text", "text": block["text"]})
        elif (
            kind == "tool_use"
            and block.get("id")
            and block.get("name")
            and isinstance(block.get("input"), dict)
            and "_incomplete_json" not in block["input"]
        ):
            blocks.append({k: block[k] for k in ("type", "id", "name", "input")})
        elif kind == "tool_result" and block.get("tool_use_id"):
            blocks.append(
                {k: block[k] for k in ("type", "tool_use_id", "content", "is_error") if k in block}
            )
    return blocks


def _nonempty(messages: list[Message]) -> list[Message]:
    return [message for message in messages if message["content"]]


def _merged(messages: list[Message]) -> list[Message]:
    """Drop empty messages and join neighbours of the same role."""
    out: list[Message] = []
    for message in messages:
        if not message["content"]:
            continue
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {"role": message["role"], "content": out[-1]["content"] + message["content"]}
        else:
            out.append(message)
    return out


def _paired(messages: list[Message]) -> list[Message]:
    """Keep only tool uses answered in the next message, and results of kept uses."""
    out: list[Message] = []
    for i, message in enumerate(messages):
        content = message["content"]
        if message["role"] == "assistant":
            following = messages[i + 1]["content"] if i + 1 < len(messages) else []
            answered = {b["tool_use_id"] for b in following if b["type"] == "tool_result"}
            content = [b for b in content if b["type"] != "tool_use" or b["id"] in answered]
        else:
            before = out[-1]["content"] if out and out[-1]["role"] == "assistant" else []
            asked = {b["id"] for b in before if b["type"] == "tool_use"}
            content = [
                b for b in content if b["type"] != "tool_result" or b["tool_use_id"] in asked
            ]
            # The API wants a message's tool results before its text.
            content.sort(key=lambda b: b["type"] != "tool_result")
        out.append({"role": message["role"], "content": content})
    return out


def _answered(messages: list[Message]) -> list[Message]:
    """Drop questions that got no answer (their answer failed before any of it was stored).

    Such a question is a user turn of text alone followed by another user turn, or last;
    merged with the next question it would be asked again, glued to it.
    """
    out = []
    for i, message in enumerate(messages):
        unanswered = (
            message["role"] == "user"
            and all(b["type"] == "text" for b in message["content"])
            and (i + 1 == len(messages) or messages[i + 1]["role"] == "user")
        )
        if not unanswered:
            out.append(message)
    return out


def repair(stored: list[Any]) -> list[Message]:
    """Stored messages (``{role, content, …}``) as a history the Messages API accepts.

    The result starts with a user message and alternates roles; it may end with either.
    Questions whose answer failed are left out.
    """
    messages = [
        {"role": m.get("role"), "content": _blocks(m.get("content"))}
        for m in stored
        if isinstance(m, dict) and m.get("role") in ("user", "assistant")
    ]
    while True:
        repaired = _merged(_answered(_nonempty(_paired(_nonempty(messages)))))
        while repaired and repaired[0]["role"] != "user":
            repaired.pop(0)
        if repaired == messages:
            return repaired
        messages = repaired


def with_question(history: list[Message], question: str) -> list[Message]:
    """``history`` followed by the student's new question (joined to a trailing user turn)."""
    return _merged([*history, {"role": "user", "content": _blocks(question)}])
