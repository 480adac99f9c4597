"""Markdown, in notebook cells and ``.md`` files: headings, sections and clean text.

Headings come from a real CommonMark parser (markdown-it), so a ``# comment`` inside a
fenced code block is not taken for a heading and setext headings are recognised.  The
text kept for retrieval drops what only a browser needs: images, HTML comments, link
targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from .chunks import Block

_PARSER = MarkdownIt("commonmark")

_CLEANUPS = [
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),  # comments (navigation markers...)
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"<img\b[^>]*>", re.IGNORECASE), ""),
    (re.compile(r"</?(?:a|span|div|p|br|center|font|small)\b[^>]*>", re.IGNORECASE), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep the words
    (re.compile(r"[ \t]+$", re.MULTILINE), ""),
    (re.compile(r"\n{3,}"), "\n\n"),
]


@dataclass(frozen=True)
class Section:
    """A run of Markdown lines, starting with its heading (if it has one)."""

    level: int | None
    title: str | None
    start_line: int
    text: str


def clean_markdown(text: str) -> str:
    """``text`` without images, comments, HTML wrappers and link targets."""
    for pattern, replacement in _CLEANUPS:
        text = pattern.sub(replacement, text)
    return text.strip()


def split_sections(text: str) -> list[Section]:
    """``text`` cut before each top-level heading; the part before the first has none."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    tokens = _PARSER.parse(text)
    heads = [
        (token.map[0], int(token.tag[1:]), _inline_text(tokens[n + 1]))
        for n, token in enumerate(tokens)
        if token.type == "heading_open" and token.level == 0 and token.map
    ]
    sections = []
    starts = [line for line, _, _ in heads]
    if not starts or starts[0] > 0:
        end = starts[0] if starts else len(lines)
        sections.append(Section(None, None, 0, "\n".join(lines[:end])))
    for n, (line, level, title) in enumerate(heads):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        sections.append(Section(level, title, line, "\n".join(lines[line:end])))
    return sections


def first_title(text: str) -> str | None:
    """The text of the first level-1 heading in ``text``, if any."""
    return next((s.title for s in split_sections(text) if s.level == 1 and s.title), None)


def _inline_text(inline) -> str:
    parts = [
        child.content
        for child in inline.children or []
        if child.type in ("text", "code_inline", "softbreak")
    ]
    return " ".join("".join(parts).split())


class HeadingPath:
    """The heading path while a document is read: its title, then the open sections.

    The document's own title heading (its first level-1 heading) is not repeated as a
    section; every other heading closes the sections at its level or deeper.
    """

    def __init__(self, title: str, title_is_heading: bool) -> None:
        self.title = title
        self._title_pending = title_is_heading
        self._open: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        if self._title_pending and level == 1 and text == self.title:
            self._title_pending = False
            self._open = []
            return
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        if text:
            self._open.append((level, text))

    @property
    def path(self) -> tuple[str, ...]:
        return (self.title, *(text for _, text in self._open))


def markdown_blocks(text: str, fallback_title: str) -> tuple[str, list[Block]]:
    """A Markdown file's title and its sections as blocks (one per section)."""
    found = first_title(text)
    headings = HeadingPath(found or fallback_title, title_is_heading=found is not None)
    blocks = []
    for section in split_sections(text):
        if section.level is not None:
            headings.enter(section.level, section.title or "")
        blocks.append(
            Block(
                text=clean_markdown(section.text),
                heading=headings.path,
                kind="markdown",
                starts_section=section.level is not None,
                metadata={"line": section.start_line + 1},
            )
        )
    return headings.title, blocks
