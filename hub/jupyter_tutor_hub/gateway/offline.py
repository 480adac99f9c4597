"""The offline responder: answers in the Messages API's format with no model connected.

Used when the gateway has no API key.  It says plainly that no model is connected, then
helps with what it has: an explanation of a Python error found in the question, and the
course passages that match it best, with citations.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .canned import canned_events

OFFLINE_MODEL = "tutor-offline"

NOTICE = (
    "**No AI model is connected to the tutor**, so this answer comes from the course "
    "material alone. Ask your instructor or admin to configure an API key for full answers."
)

#: Plain-words explanations of the errors beginners meet most.
COMMON_ERRORS = {
    "NameError": "Python does not know this name. Check its spelling, and that the cell "
    "defining it has been run (after a kernel restart, run the cells above again).",
    "TypeError": "An operation got a value of the wrong type, e.g. adding a number to a "
    "string, or calling a function with the wrong number of arguments. Print the types "
    "with `type(x)` to see which value is not what you expect.",
    "ValueError": "The type is right but the value is not acceptable, e.g. `int('abc')`. "
    "Look at the value passed in the line named by the traceback.",
    "IndexError": "You asked for a position that the list (or string) does not have. "
    "Remember that indexes start at 0 and the last one is `len(x) - 1`.",
    "KeyError": "The dictionary has no such key. Print `d.keys()` or use `d.get(key)`.",
    "AttributeError": "The object has no attribute or method of that name. Check the "
    "spelling and the object's type; `dir(obj)` lists what it has.",
    "ZeroDivisionError": "A division by zero. Check the value of the divisor before dividing.",
    "SyntaxError": "Python could not read the code: look for a missing colon, bracket or "
    "quote on the line shown (or the one just before it).",
    "IndentationError": "The indentation does not match the code's structure: the body of "
    "`if`, `for`, `def`… must be indented consistently (4 spaces).",
    "ModuleNotFoundError": "The module is not installed in this environment or its name is "
    "misspelled. Check the name; ask your instructor before installing packages.",
    "ImportError": "Python found the module but not the name you import from it. Check the "
    "spelling and the module's documentation.",
    "FileNotFoundError": "No file at that path. Paths are relative to the notebook's folder; "
    "check the name and use `os.listdir()` to see what is there.",
    "RecursionError": "A function keeps calling itself without reaching a base case. Check "
    "the condition that should stop the recursion.",
    "UnboundLocalError": "A variable is used inside a function before it gets a value there; "
    "assigning to a name anywhere in a function makes it local to that function.",
    "StopIteration": "An iterator was asked for a value after its end; `for` loops handle "
    "this for you, `next()` does not.",
}

_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Iteration))\b")


def find_error(text: str) -> str | None:
    """The first known exception name mentioned in ``text``."""
    for match in _ERROR_NAME.finditer(text):
        if match.group(1) in COMMON_ERRORS:
            return match.group(1)
    return None


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
