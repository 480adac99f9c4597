"""From blocks (cells, sections) to chunks: the units that are embedded, searched and cited.

Readers of each file kind (notebooks, Markdown, Python) produce :class:`Block` objects in
document order; :func:`pack` groups neighbouring blocks of one section into chunks of a
bounded size, so that one chunk fits the embedding model's input window.  Protected
blocks always become chunks of their own: their text must never share a chunk with
student-visible text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

#: Separator of the parts of a heading path ("Notebook title › Section › Subsection").
HEADING_SEPARATOR = " › "

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`{3,}")


@dataclass(frozen=True)
class Block:
    """A piece of a source file that stays whole in one chunk unless it is too long."""

    text: str
    #: Heading path at this block: (document title, section, subsection, ...).
    heading: tuple[str, ...]
    #: ``markdown``, ``code`` or ``raw``.
    kind: str
    #: 0-based index of the notebook cell, or None outside notebooks.
    cell: int | None = None
    #: True when the block opens a section (it starts with a heading).
    starts_section: bool = False
    #: Why the block must never reach a student, or None when it may.
    protected_reason: str | None = None
    #: What the policy layer needs: cell id, exercise id, instructor notes, line number.
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """One stored, embedded and searchable passage."""

    ordinal: int
    heading: str
    text: str
    kind: str
    cell_index: int | None
    cell_end: int | None
    visibility: str
    metadata: dict[str, Any]

    @property
    def embedding_text(self) -> str:
        """What the embedder sees: the heading path gives the passage its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    @property
    def content_hash(self) -> str:
        """Identity of the embedded content: equal hashes share one embedding."""
        return hashlib.sha256(self.embedding_text.encode("utf-8")).hexdigest()


def clean_text(text: str) -> str:
    """Text PostgreSQL accepts: no NUL characters, no lone surrogates (from JSON escapes)."""
    text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")


def clean_value(value: Any) -> Any:
    """:func:`clean_text` applied to every string in a JSON-like value."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    return value


def fenced(code: str, language: str = "") -> str:
    """``code`` as a Markdown code block (a longer fence if the code holds one itself)."""
    fence = "`" * max([3, *(len(run) + 1 for run in _BACKTICKS.findall(code))])
    return f"{fence}{language}\n{code.strip(chr(10))}\n{fence}"


def split_long(text: str, max_chars: int) -> list[str]:
    """``text`` cut at line ends into pieces of about ``max_chars`` at most.

    A fenced code block cut in two is closed at the end of one piece and reopened at the
    start of the next, so each piece still renders as Markdown.  Very long lines are cut
    hard.
    """
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    fence: tuple[str, str] | None = None  # (opening line, closing marker) while inside
    for line in _hard_wrap(text.split("\n"), max(max_chars // 3, 1)):
        reserve = len(fence[1]) + 1 if fence else 0
        if current and size + len(line) + 1 + reserve > max_chars:
            if fence:
                current.append(fence[1])
            pieces.append("\n".join(current))
            current = [fence[0]] if fence else []
            size = sum(len(part) + 1 for part in current)
        current.append(line)
        size += len(line) + 1
        fence = _track_fence(fence, line)
    pieces.append("\n".join(current))
    return [piece for piece in pieces if piece.strip()]


def _track_fence(fence: tuple[str, str] | None, line: str) -> tuple[str, str] | None:
    match = _FENCE.match(line)
    if not match:
        return fence
    if fence is None:
        return (line, match.group(1))
    closing = line.strip()
    if set(closing) == {fence[1][0]} and len(closing) >= len(fence[1]):
        return None
    return fence


def _hard_wrap(lines: Iterable[str], width: int) -> Iterator[str]:
    for line in lines:
        while len(line) > width:
            yield line[:width]
            line = line[width:]
        yield line


def pack(blocks: Iterable[Block], max_chars: int) -> list[Chunk]:
    """Group consecutive blocks of one section into chunks of at most ``max_chars``.

    A new chunk starts at every heading, around every protected block, and when the next
    block would not fit; in that last case a Markdown block that ends the full chunk
    moves on with the block it introduces (explanations stay with their code).
    """
    groups: list[list[Block]] = []
    current: list[Block] = []
    for block in _pieces(blocks, max_chars):
        if current and _must_break(current, block, max_chars):
            carry: list[Block] = []
            if (
                not block.starts_section
                and block.heading == current[-1].heading
                and len(current) > 1
                and current[-1].kind == "markdown"
                and not current[-1].protected_reason
                and len(current[-1].text) + len(block.text) + 2 <= max_chars
            ):
                carry = [current.pop()]
            groups.append(current)
            current = carry
        current.append(block)
    if current:
        groups.append(current)
    groups = [
        group
        for group, following in zip(groups, [*groups[1:], None], strict=False)
        if not _bare_heading(group, following)
    ]
    return [_chunk(n, group) for n, group in enumerate(groups)]


def _bare_heading(group: list[Block], following: list[Block] | None) -> bool:
    """A lone heading line whose subsection follows: that heading path names it already."""
    block = group[0]
    return (
        len(group) == 1
        and block.starts_section
        and "\n" not in block.text
        and following is not None
        and len(following[0].heading) > len(block.heading)
        and following[0].heading[: len(block.heading)] == block.heading
    )


def _pieces(blocks: Iterable[Block], max_chars: int) -> Iterator[Block]:
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        for n, piece in enumerate(split_long(text, max_chars)):
            yield replace(block, text=piece, starts_section=block.starts_section and n == 0)


def _must_break(current: list[Block], block: Block, max_chars: int) -> bool:
    size = sum(len(b.text) + 2 for b in current)
    return (
        block.starts_section
        or block.heading != current[-1].heading
        or bool(block.protected_reason)
        or bool(current[-1].protected_reason)
        or size + len(block.text) > max_chars
    )


def _chunk(ordinal: int, blocks: list[Block]) -> Chunk:
    first = blocks[0]
    cells = [b.cell for b in blocks if b.cell is not None]
    kinds = {b.kind for b in blocks}
    metadata: dict[str, Any] = {}
    for block in blocks:
        for key, value in block.metadata.items():
            if key == "tutor_notes":  # every instructor note of the chunk's cells
                metadata[key] = [*metadata.get(key, []), *value]
            else:  # the first cell's value
                metadata.setdefault(key, value)
    if first.protected_reason:
        metadata["protected_reason"] = first.protected_reason
    return Chunk(
        ordinal=ordinal,
        heading=clean_text(HEADING_SEPARATOR.join(first.heading)),
        text=clean_text("\n\n".join(b.text for b in blocks)),
        kind=kinds.pop() if len(kinds) == 1 else "mixed",
        cell_index=min(cells) if cells else None,
        cell_end=max(cells) if cells else None,
        visibility="protected" if first.protected_reason else "student",
        metadata=clean_value(metadata),
    )
