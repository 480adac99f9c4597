"""A student's question, cleaned for retrieval.

Students paste tracebacks.  Their separators, file paths, ``Cell In[3], line 1`` markers
and line numbers carry no meaning for search and would drown the two lines that matter:
the failing code and ``ExceptionName: message``.  What remains feeds both the embedding
and full-text search.
"""

from __future__ import annotations

import re

from jupyter_tutor.text import strip_ansi

_TRACEBACK = re.compile(r"Traceback \(most recent|^\s*-*> ?\d|Cell In ?\[|File \"", re.MULTILINE)
#: Removed only from questions that hold a traceback ("11 // 2" must keep its 11).
_TRACEBACK_NOISE = [
    re.compile(r"^\s*[-=_~^]{3,}\s*$", re.MULTILINE),  # rulers and caret markers
    re.compile(r"Traceback \(most recent call last\):?"),
    re.compile(r'^\s*File "[^"]*", line \d+.*$', re.MULTILINE),
    re.compile(r"^\s*File \S+:\d+, in .*$", re.MULTILINE),  # IPython 8 frames
    re.compile(r"^\s*Cell In\s*\[\d*\],? line \d+.*$", re.MULTILINE),
    re.compile(r"<ipython-input-[^>]*>( in \S+)?"),
    re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.~+-]+){2,}\.py\b"),  # file paths
    re.compile(r"^\s*-*>\s*\d+\s", re.MULTILINE),  # "----> 1 " arrows with line numbers
    re.compile(r"^\s{0,6}\d+\s(?=\S)", re.MULTILINE),  # context line numbers
]


def clean_question(question: str) -> str:
    """``question`` without traceback noise, whitespace collapsed."""
    text = strip_ansi(question)
    if _TRACEBACK.search(text):
        for pattern in _TRACEBACK_NOISE:
            text = pattern.sub(" ", text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line) or question.strip()
