"""The offline responder: answers in the Messages API's format with no model connected.

Used when the gateway has no API key.  It says plainly that no model is connected, then
helps with what it has: an explanation of a Python error found in the question, and the
course passages that match it best, with citations.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..policy.canned import canned_events
from ..policy.python_errors import COMMON_ERRORS, find_error

OFFLINE_MODEL = "tutor-offline"

NOTICE = (
    "**No AI model is connected to the tutor**, so this answer comes from the course "
    "material alone. Ask your instructor or admin to configure an API key for full answers."
)

_MARKUP = re.compile(r"```\w*|^\s{0,3}#{1,6}\s+|`", re.MULTILINE)


def _plain_excerpt(text: str, limit: int = 280) -> str:
    """The start of a passage as one line of plain text, safe to quote in Markdown: code
    fences, heading marks and backticks would turn a one-line quote into headings or
    code spans."""
    plain = " ".join(_MARKUP.sub(" ", text).split())
    return plain[:limit] + "…" if len(plain) > limit else plain


def offline_answer(question: str, passages: Sequence[Any]) -> str:
    """The Markdown answer: notice, error explanation, then cited passages."""
    parts = [NOTICE]
    error = find_error(question)
    if error:
        parts.append(f"**{error}**: {COMMON_ERRORS[error]}")
    if passages:
        parts.append("These parts of the course look most relevant:")
        for n, hit in enumerate(passages, start=1):
            excerpt = _plain_excerpt(hit.text)
            parts.append(f"[{n}] **{hit.heading}** ({hit.path}, cell {hit.cell})\n\n> {excerpt}")
    elif not error:
        parts.append("I found nothing in the course material that matches this question.")
    return "\n\n".join(parts)


def offline_events(
    question: str, passages: Sequence[Any], chunk_size: int = 48
) -> AsyncIterator[dict[str, Any]]:
    """The answer as the Messages API's stream events (dicts, as they go on the wire)."""
    return canned_events(offline_answer(question, passages), OFFLINE_MODEL, chunk_size)
