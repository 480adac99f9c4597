"""The offline responder: answers in the Messages API's format with no model connected.

Used when the gateway has no API key.  It says plainly that no model is connected, then
answers from what the course has: nothing on a topic the course does not teach yet (its
avoid-list), an explanation of a Python error found in the question, a short extract of
the best matching passage (code kept as code) with the next ones as "see also", or an
honest "the course does not cover this (yet)" when no passage matches well enough.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from jupyter_tutor.notebooks import cell_label

from ..policy.canned import canned_events
from ..policy.python_errors import COMMON_ERRORS, find_error

OFFLINE_MODEL = "tutor-offline"

NOTICE = (
    "**No AI model is connected to the tutor**, so this answer comes from the course "
    "material alone. Ask your instructor or admin to configure an API key for full answers."
)

NOT_COVERED = (
    "The course does not cover this (yet): nothing in its material matches the question "
    "well enough. Try other words, or ask your instructor."
)

#: Longest extract of the best passage, in characters (cut at a paragraph or line end).
EXTRACT_CHARS = 900

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)


def relevant(passages: Sequence[Any], min_similarity: float | None) -> list[Any]:
    """The passages that match the question well enough to be shown as an answer.

    ``min_similarity`` is the cut-off on the embedding similarity (measured in
    bench/relevance_cutoff.py); ``None`` keeps every passage (a search without
    embeddings cannot tell).
    """
    if min_similarity is None:
        return list(passages)
    return [p for p in passages if p.similarity is not None and p.similarity >= min_similarity]


def avoided_topic(question: str, avoid: Sequence[str]) -> str | None:
    """The first avoid-list topic the question asks about (whole words, any case)."""
    lowered = question.lower()
    for topic in avoid:
        words = topic.lower().strip()
        stem = words[:-1] if words.endswith("s") else words  # "list comprehensions"
        if words and re.search(rf"\b{re.escape(stem)}s?\b", lowered):
            return topic
    return None


def where(passage: Any) -> str:
    """Where a passage comes from, as people count cells."""
    return ", ".join(filter(None, [passage.path, cell_label(passage.cell)]))


def extract(text: str, limit: int = EXTRACT_CHARS) -> str:
    """The start of a passage as Markdown: code blocks kept as code, headings turned into
    bold lines (so they do not outrank the answer's own), cut at a paragraph or line end
    and never inside an open code block."""
    text = _HEADING.sub("", text.strip())
    if len(text) > limit:
        cut = text.rfind("\n\n", 0, limit)
        cut = cut if cut > limit // 3 else text.rfind("\n", 0, limit)
        text = text[: cut if cut > 0 else limit].rstrip() + "\n\n…"
    if text.count("```") % 2:
        text += "\n```"
    return text


def offline_answer(question: str, passages: Sequence[Any], *, avoid: Sequence[str] = ()) -> str:
    """The Markdown answer from the passages that matched well enough (:func:`relevant`)."""
    parts = [NOTICE]
    topic = avoided_topic(question, avoid)
    if topic:
        parts.append(
            f"The course does not cover **{topic}** yet, so the tutor leaves it for later. "
            "Keep going with the course, or ask your instructor."
        )
        return "\n\n".join(parts)
    error = find_error(question)
    if error:
        parts.append(f"**{error}**: {COMMON_ERRORS[error]}")
    if passages:
        best, *others = passages
        parts.append(f"From the course, **{best.heading}** ({where(best)}):")
        parts.append(extract(best.text))
        if others:
            parts.append(
                "See also:\n" + "\n".join(f"- **{p.heading}** ({where(p)})" for p in others)
            )
    elif not error:
        parts.append(NOT_COVERED)
    return "\n\n".join(parts)


def offline_events(
    question: str,
    passages: Sequence[Any],
    *,
    avoid: Sequence[str] = (),
    chunk_size: int = 48,
) -> AsyncIterator[dict[str, Any]]:
    """The answer as the Messages API's stream events (dicts, as they go on the wire)."""
    return canned_events(offline_answer(question, passages, avoid=avoid), OFFLINE_MODEL, chunk_size)
