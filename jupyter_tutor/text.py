"""Text helpers both sides need."""

from __future__ import annotations

import re

#: Terminal escape sequences (IPython colours its tracebacks with them).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes and other escape sequences."""
    return _ANSI.sub("", text)
