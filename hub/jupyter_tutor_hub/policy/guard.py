"""The output guard: stops an answer that starts reproducing a protected solution.

The model never sees protected cells (retrieval returns student-visible passages only),
but it can still solve an exercise by itself and write out what amounts to the reference
solution.  The guard compares the answer, as it streams, with the course's protected
cells: both are cut into tokens, identifiers are renamed to one placeholder (so renamed
variables still match) while keywords, builtins, attribute names, numbers and string texts
are kept, comments, whitespace and quote styles are dropped, and overlapping runs of ``n``
tokens (n-grams) are looked up.  Runs that also occur in student-visible material of the
same notebooks (the exercise's own stub and statement) do not count.  When one protected
cell has enough of its n-grams reproduced, the rest of that content block is withheld and
replaced with a short explanation, in the live stream and therefore in what is stored.

Streaming stays live: text is held back only while it is suspicious (it has just matched
a protected run) or is an unfinished line inside a code fence; honest answers pass
through event by event, unchanged.  Prose cells (hidden explanations, instructor notes)
are compared word by word without renaming.
"""

from __future__ import annotations

import builtins
import json
import keyword
import math
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

_CODE_TOKEN = re.compile(
    r"""
    (?P<string>[rRbBfFuU]{0,2}(?:'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<comment>\#[^\n]*)
  | (?P<number>\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|->|:=|<<=?|>>=?|[-+*/%&|^<>!=]=|[-+*/%&|^~<>=.,:;()\[\]{}@])
    """,
    re.VERBOSE,
)
_WORD = re.compile(r"\w+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SOLUTION_REGION = re.compile(
    r"^[ \t]*#+[ \t]*BEGIN (SOLUTION|HIDDEN TESTS)\b[^\n]*\n(.*?)^[ \t]*#+[ \t]*END \1\b",
    re.MULTILINE | re.DOTALL,
)
#: Names that keep their identity: renaming them would change what the code does.
_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(n for n in dir(builtins) if n[0] != "_")
_PLACEHOLDERS = frozenset({"V"})


def code_tokens(line: str) -> list[str]:
    """One line of code (or of Markdown around it) as normalized tokens."""
    tokens: list[str] = []
    after_dot = False
    for match in _CODE_TOKEN.finditer(line):
        kind = match.lastgroup
        text = match.group()
        if kind == "comment":
            continue
        if kind == "string":
            # The text of a string literal is kept (it is often dictated by the exercise:
            # "negative", "aeiou"), its quotes and prefix are not.
            tokens.append("S:" + text.lstrip("rRbBfFuU")[1:-1])
        elif kind == "number":
            tokens.append(text.replace("_", "").lower())
        elif kind == "name":
            tokens.append(text if after_dot or text in _KEPT_NAMES else "V")
        else:
            tokens.append(text)
        after_dot = text == "."
    return tokens


def prose_tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def protected_region(text: str) -> str:
    """Only what lies between nbgrader's BEGIN/END SOLUTION (or HIDDEN TESTS) markers, if any.

    The rest of such a cell (the function's signature, the stub) is what students see.
    """
    regions = [m.group(2) for m in _SOLUTION_REGION.finditer(text)]
    return "\n".join(regions) if regions else text


def fenced_code(text: str) -> str:
    """The lines inside Markdown code fences; all of ``text`` when it has no fence."""
    inside = False
    lines: list[str] = []
    for line in text.splitlines():
        if _FENCE.match(line):
            inside = not inside
        elif inside:
            lines.append(line)
    return "\n".join(lines) if lines else text


def _ngrams(tokens: list[str], n: int) -> Iterator[tuple[str, ...]]:
    for start in range(len(tokens) - n + 1):
        yield tuple(tokens[start : start + n])


def _informative(gram: tuple[str, ...]) -> bool:
    """A code n-gram of placeholders and punctuation only matches too much honest code."""
    return sum(1 for t in gram if t not in _PLACEHOLDERS and (t[0].isalnum() or t[0] == "_")) >= 2


@dataclass(frozen=True)
class ProtectedText:
    """One protected cell (or note) the guard compares answers with."""

    #: What it is, for the explanation and the logs ("Exercise 2", "week1/loops.ipynb").
    label: str
    text: str
    #: Code (tokens, identifiers renamed) or prose (words).
    code: bool = True


@dataclass(frozen=True)
class _Fingerprint:
    label: str
    #: Distinct runs of this text an answer must reproduce to be stopped.
    needed: int


@dataclass
class ProtectedIndex:
    """The n-grams of a course's protected cells, ready to check answers against."""

    code_n: int
    prose_n: int
    fingerprints: list[_Fingerprint] = field(default_factory=list)
    code_grams: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    prose_grams: dict[tuple[str, ...], list[int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.fingerprints

    def grams(self, code: bool) -> dict[tuple[str, ...], list[int]]:
        return self.code_grams if code else self.prose_grams


class _BlockScanner:
    """Tokenizes one text block as it grows and records the protected runs it reproduces."""

    def __init__(self, index: ProtectedIndex, matched: dict[int, set[tuple[str, ...]]]) -> None:
        self.index = index
        #: Shared by the blocks of one answer: runs reproduced, by fingerprint.
        self.matched = matched
        self.text = ""
        self._code_done = 0  # chars tokenized as code (whole lines only)
        self._prose_done = 0  # chars tokenized as prose (whole words only)
        self._tails: dict[bool, list[str]] = {True: [], False: []}
        self.tokens_seen = 0
        self.last_match_at: int | None = None
        self.in_fence = False

    def feed(self, text: str) -> None:
        self.text += text
        end = self.text.rfind("\n") + 1
        if end > self._code_done:
            for line in self.text[self._code_done : end].splitlines():
                if _FENCE.match(line):
                    self.in_fence = not self.in_fence
                self._scan(code_tokens(line), code=True)
            self._code_done = end
        cut = max(self.text.rfind(" "), self.text.rfind("\n")) + 1
        if cut > self._prose_done:
            self._scan(prose_tokens(self.text[self._prose_done : cut]), code=False)
            self._prose_done = cut

    def finish(self) -> None:
        """The block ended: scan what was left unfinished."""
        self._scan(code_tokens(self.text[self._code_done :]), code=True)
        self._scan(prose_tokens(self.text[self._prose_done :]), code=False)
        self._code_done = self._prose_done = len(self.text)

    def _scan(self, new: list[str], *, code: bool) -> None:
        n = self.index.code_n if code else self.index.prose_n
        table = self.index.grams(code)
        tokens = self._tails[code] + new
        self.tokens_seen += len(new)
        for gram in _ngrams(tokens, n):
            for fingerprint in table.get(gram, ()):
                self.matched.setdefault(fingerprint, set()).add(gram)
                self.last_match_at = self.tokens_seen
        self._tails[code] = tokens[-(n - 1) :] if n > 1 else []

    def reproduced(self) -> _Fingerprint | None:
        """The protected text this answer reproduced enough of, if any."""
        for fingerprint_id, grams in self.matched.items():
            fingerprint = self.index.fingerprints[fingerprint_id]
            if len(grams) >= fingerprint.needed:
                return fingerprint
        return None

    def safe_length(self, max_hold: int) -> int:
        """How much of the block can be sent now.

        Everything, unless the last runs matched protected text (then up to ``max_hold``
        characters wait) or an unfinished line of a code fence is still coming in.
        """
        safe = len(self.text)
        if self.in_fence:
            safe = min(safe, self._code_done)
        window = 2 * (self.index.code_n + self.index.prose_n)
        if self.last_match_at is not None and self.tokens_seen - self.last_match_at < window:
            safe = min(safe, len(self.text) - max_hold)
        return safe


@dataclass
class _HeldBlock:
    """A text block being relayed: the events held back, and whether it was cut."""

    index: int
    scanner: _BlockScanner
    held: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    sent: int = 0
    withheld: bool = False


def _strings_in(value: Any) -> list[str]:
    """The string values of a tool input, in order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v)]
    return []


def _replace_strings(value: Any, text: str) -> Any:
    """``value`` with every string in it replaced by ``text``."""
    if isinstance(value, str):
        return text
    if isinstance(value, dict):
        return {k: _replace_strings(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, text) for v in value]
    return value


class AnswerGuard:
    """Guards one answer; ``withheld`` lists what it stopped (labels of protected texts)."""

    def __init__(self, settings: SolutionGuard, index: ProtectedIndex | None) -> None:
        self.settings = settings
        self.index = index if index is not None and not index.empty else None
        self.withheld: list[str] = []
        self._matched: dict[int, set[tuple[str, ...]]] = {}

    async def filter(self, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        """Relay Messages API stream events, withholding what reproduces a protected cell."""
        if self.index is None:
            async for event in events:
                yield event
            return
        block: _HeldBlock | None = None
        tool: list[dict[str, Any]] = []  # a tool call's events, held until it is complete
        async for event in events:
            kind = event.get("type")
            if kind == "content_block_start" and event["content_block"].get("type") == "tool_use":
                tool = [event]
                continue
            if tool and event.get("index") == tool[0]["index"]:
                tool.append(event)
                if kind == "content_block_stop":
                    for out in self._checked_tool_call(tool):
                        yield out
                    tool = []
                continue
            if kind == "content_block_start" and event["content_block"].get("type") == "text":
                block = _HeldBlock(event["index"], _BlockScanner(self.index, self._matched))
            elif block is not None and event.get("index") == block.index:
                if kind == "content_block_delta":
                    for out in self._on_delta(block, event):
                        yield out
                    continue
                if kind == "content_block_stop":
                    block.scanner.finish()
                    for out in self._release(block, final=True):
                        yield out
                    block = None
            yield event

    def _checked_tool_call(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A tool call's events as they came, or with its input withheld when that input
        reproduces a protected cell (say, the solution written into ``run_code``: the
        student would see it in the tool step, and its output)."""
        raw = "".join(
            e["delta"].get("partial_json", "")
            for e in events
            if e.get("type") == "content_block_delta"
        )
        try:
            tool_input = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return events  # cut off mid-stream: nothing complete to run or to show
        scanner = _BlockScanner(self.index, self._matched)
        scanner.feed("```\n" + "\n".join(_strings_in(tool_input)) + "\n```\n")
        scanner.finish()
        found = scanner.reproduced()
        if not found:
            return events
        self.withheld.append(found.label)
        notice = (
            "# The tutor withheld this: it reproduces the reference solution of "
            f"{found.label}."
        )
        start, stop = events[0], events[-1]
        replaced = _replace_strings(tool_input, notice)
        delta = {"type": "input_json_delta", "partial_json": json.dumps(replaced)}
        withheld = {"type": "content_block_delta", "index": start["index"], "delta": delta}
        return [start, withheld, stop]

    def text(self, text: str) -> str:
        """A whole text block of a non-streamed answer, cut where the stream would be."""
        if self.index is None:
            return text
        scanner = _BlockScanner(self.index, self._matched)
        kept = ""
        for line in [*text.splitlines(keepends=True), None]:
            if line is None:
                scanner.finish()
            else:
                scanner.feed(line)
            found = scanner.reproduced()
            if found:
                self.withheld.append(found.label)
                fence = "\n```" if scanner.in_fence else ""
                return kept + fence + self.settings.notice.format(label=found.label)
            kept += line or ""
        return text

    def _on_delta(self, block: _HeldBlock, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if block.withheld:
            return
        delta = event.get("delta", {})
        if delta.get("type") != "text_delta":
            yield event
            return
        text = delta.get("text", "")
        block.held.append((event, len(text)))
        block.scanner.feed(text)
        yield from self._release(block, final=False)

    def _release(self, block: _HeldBlock, *, final: bool) -> Iterator[dict[str, Any]]:
        """Send what is safe to send now, or withhold the rest of the block."""
        if block.withheld:
            return
        found = block.scanner.reproduced()
        if found:
            block.withheld = True
            block.held.clear()
            self.withheld.append(found.label)
            self.settings.log.info("Withheld the rest of an answer reproducing %s", found.label)
            # Close a code fence left open, or the explanation would render as code.
            fence = "\n```" if block.scanner.in_fence else ""
            yield {
                "type": "content_block_delta",
                "index": block.index,
                "delta": {
                    "type": "text_delta",
                    "text": fence + self.settings.notice.format(label=found.label),
                },
            }
            return
        safe = (
            len(block.scanner.text)
            if final
            else block.scanner.safe_length(self.settings.max_hold_chars)
        )
        while block.held and block.sent + block.held[0][1] <= safe:
            event, size = block.held.pop(0)
            block.sent += size
            yield event


class SolutionGuard(LoggingConfigurable):
    """Settings of the output guard; builds indexes and per-answer guards."""

    enabled = Bool(True, help="Check answers against the course's protected cells.").tag(
        config=True
    )
    code_ngram = Integer(
        6, help="Tokens per compared run of code (smaller: stricter, more false alarms)."
    ).tag(config=True)
    prose_ngram = Integer(8, help="Words per compared run of prose.").tag(config=True)
    trigger_ratio = Float(
        0.3,
        help="Share of one protected cell's runs an answer may reproduce before it is stopped.",
    ).tag(config=True)
    min_matches = Integer(
        4, help="Runs that must match at least (so one coincidence never stops an answer)."
    ).tag(config=True)
    min_runs = Integer(
        3, help="Protected cells with fewer distinct runs than this are too short to compare."
    ).tag(config=True)
    max_hold_chars = Integer(
        600, help="Most characters held back from the student while an answer is suspicious."
    ).tag(config=True)
    notice = Unicode(
        "\n\n> **The tutor stopped here**: the rest of this answer would have shown the "
        "reference solution of *{label}*. Try the next step yourself; ask again for a "
        "hint if you are stuck.",
        help="Replaces a withheld block's rest; `{label}` names the protected exercise.",
    ).tag(config=True)

    def for_answer(self, index: ProtectedIndex | None) -> AnswerGuard:
        """A guard for one answer (a disabled guard lets everything through)."""
        return AnswerGuard(self, index if self.enabled else None)

    def build_index(
        self, protected: Iterable[ProtectedText], visible: Iterable[str]
    ) -> ProtectedIndex:
        """Index ``protected`` texts, minus the runs student-visible ``visible`` texts share."""
        candidates = [(item, self._runs(item)) for item in protected]
        every = {True: set(), False: set()}
        for item, runs in candidates:
            every[item.code] |= runs
        shared = {True: set(), False: set()}
        for text in visible:
            code = [t for line in text.splitlines() for t in code_tokens(line)]
            shared[True].update(g for g in _ngrams(code, self.code_ngram) if g in every[True])
            shared[False].update(
                g for g in _ngrams(prose_tokens(text), self.prose_ngram) if g in every[False]
            )
        index = ProtectedIndex(code_n=self.code_ngram, prose_n=self.prose_ngram)
        for item, runs in candidates:
            runs = runs - shared[item.code]
            if len(runs) < self.min_runs:
                continue
            needed = min(
                len(runs), max(self.min_matches, math.ceil(self.trigger_ratio * len(runs)))
            )
            index.fingerprints.append(_Fingerprint(item.label, needed))
            table = index.grams(item.code)
            for gram in runs:
                table.setdefault(gram, []).append(len(index.fingerprints) - 1)
        return index

    def _runs(self, item: ProtectedText) -> set[tuple[str, ...]]:
        if not item.code:
            return set(_ngrams(prose_tokens(item.text), self.prose_ngram))
        region = protected_region(fenced_code(item.text))
        tokens = [t for line in region.splitlines() for t in code_tokens(line)]
        return {g for g in _ngrams(tokens, self.code_ngram) if _informative(g)}
