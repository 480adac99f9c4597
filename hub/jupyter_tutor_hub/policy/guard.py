"""The output guard: stops an answer that starts reproducing a protected solution.

The model never sees protected cells (retrieval returns student-visible passages only),
but it can still solve an exercise by itself and write out what amounts to the reference
solution.  The guard compares the answer, as it streams, with the course's protected
cells: both are cut into tokens, identifiers are renamed to one placeholder (so renamed
variables still match) while keywords, builtins, attribute names, numbers and string texts
are kept, comments, whitespace and quote styles are dropped, and overlapping runs of ``n``
tokens (n-grams) are looked up.  Runs that also occur in student-visible material of the
same notebooks (the exercise's own stub and statement) do not count.  When one protected
cell has enough of its n-grams (and of its telling whole lines) reproduced, the rest of
that content block is withheld and replaced with a short explanation, in the live stream
and therefore in what is stored.

Streaming stays live: text is held back only while it is suspicious (it has just matched
a protected run), is an unfinished line inside a code fence, or ends in an unfinished
base64/hex run; honest answers pass through event by event, unchanged.  Prose cells
(hidden explanations, instructor notes) are compared word by word without renaming.

Every path that reaches a student is guarded: text and thinking blocks, streamed or not,
and the inputs of tool calls (the panel and the magics show them).  Before matching,
cheap disguises are undone (``disguise.py``): Unicode look-alikes and zero-width
characters, line numbers and prompts, commented-out lines, grouping parentheses, and
base64, hex or escaped-string encodings.  The guard's memory spans answers: the runs of
a protected cell a student was already shown (within a window, across their
conversations) count toward its limit, so asking for a solution a line at a time does
not help; runs the student wrote themselves (their question, their notebook) do not.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import keyword
import math
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

from .disguise import code_line, decoded_runs, encoded_tail, normalise

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
_OPENERS = {"(": ")", "[": "]", "{": "}"}
#: A whole line of base64 (long encodings are wrapped at 76 characters).
_ENCODED_LINE = re.compile(r"^\s*[A-Za-z0-9+/_-]{16,}={0,2}\s*$")
#: Which field of a block's delta holds its text, by block type.
_TEXT_FIELDS = {"text": ("text_delta", "text"), "thinking": ("thinking_delta", "thinking")}


def code_tokens(line: str) -> list[str]:
    """One line of code (or of Markdown around it) as normalized tokens."""
    tokens: list[str] = []
    after_dot = False
    for match in _CODE_TOKEN.finditer(code_line(line)):
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
    return _without_grouping(tokens)


def _without_grouping(tokens: list[str]) -> list[str]:
    """``tokens`` without grouping parentheses (``(n % 2) == 0`` reads as ``n % 2 == 0``).

    A ``(`` after a name, a string or a closing bracket is a call and stays; any other
    (after an operator, a keyword, or first) only groups, and goes with its ``)``.
    """
    out: list[str] = []
    stack: list[bool] = []  # for each open bracket: is it a dropped grouping paren?
    for token in tokens:
        if token in _OPENERS:
            previous = out[-1] if out else ""
            called = previous[:1].isalnum() or previous[:1] in "_)]" or previous[:2] == "S:"
            grouping = token == "(" and (not called or keyword.iskeyword(previous))
            stack.append(grouping)
            if grouping:
                continue
        elif token in (")", "]", "}") and stack and stack.pop():
            continue
        out.append(token)
    return out


def prose_tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(normalise(text))]


def gram_key(gram: tuple[str, ...]) -> str:
    """A short stable id of a run, as the guard's memory stores it."""
    return hashlib.sha256("\x1f".join(gram).encode()).hexdigest()[:16]


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


#: First item of a whole-line key (never a token, so it never meets an n-gram).
_LINE = "\x00line"


def line_key(tokens: list[str]) -> tuple[str, ...] | None:
    """A whole line of code as one more run to compare, when it is telling enough.

    A solution asked for one line per answer has few n-grams in any one answer (they
    span lines); its distinctive lines still match one by one.
    """
    gram = (_LINE, *tokens)
    return gram if len(tokens) >= 5 and _informative(tuple(tokens)) else None


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
    #: Stable id of the protected text (the guard's memory is stored under it).
    key: str = ""


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


#: Runs matched, by fingerprint (index into ``ProtectedIndex.fingerprints``): gram keys.
Matches = dict[int, set[str]]


class _BlockScanner:
    """Tokenizes one text block as it grows and records the protected runs it reproduces."""

    def __init__(self, index: ProtectedIndex, matched: Matches) -> None:
        self.index = index
        #: Shared by the blocks of one answer: runs reproduced, by fingerprint.
        self.matched = matched
        self.text = ""
        self._code_done = 0  # chars tokenized as code (whole lines only)
        self._prose_done = 0  # chars tokenized as prose (whole words only)
        self._tails: dict[bool, list[str]] = {True: [], False: []}
        self._encoded: list[str] = []  # consecutive whole lines of base64, not decoded yet
        self._apart_tails: dict[bool, list[str]] = {True: [], False: []}  # decoded texts
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
                self._line(line)
            self._code_done = end
        cut = max(self.text.rfind(" "), self.text.rfind("\n")) + 1
        if cut > self._prose_done:
            self._scan(prose_tokens(self.text[self._prose_done : cut]), code=False)
            self._prose_done = cut

    def finish(self) -> None:
        """The block ended: scan what was left unfinished."""
        self._line(self.text[self._code_done :])
        self._decode_encoded()
        self._scan(prose_tokens(self.text[self._prose_done :]), code=False)
        self._code_done = self._prose_done = len(self.text)

    def _line(self, line: str) -> None:
        if _ENCODED_LINE.match(line):
            self._encoded.append(line.strip())
            return
        self._decode_encoded()
        self._code_line(code_tokens(line))
        for hidden in decoded_runs(line):
            self._scan_apart(hidden)

    def _decode_encoded(self) -> None:
        """Decode a run of base64 lines (or one long token) and scan what it hides."""
        if self._encoded:
            joined, self._encoded = "".join(self._encoded), []
            self._scan(code_tokens(joined), code=True)
            for hidden in decoded_runs(joined):
                self._scan_apart(hidden)

    def _scan_apart(self, text: str) -> None:
        """Scan decoded text as code and prose, apart from the text around it but joined
        to the decoded text before it (a solution written as a list of its lines)."""
        saved, self._tails = self._tails, self._apart_tails
        for line in text.splitlines():
            self._code_line(code_tokens(line))
        self._scan(prose_tokens(text), code=False)
        self._apart_tails, self._tails = self._tails, saved

    def _code_line(self, tokens: list[str]) -> None:
        """One line of code: its n-grams, and the line itself as a whole."""
        self._scan(tokens, code=True)
        key = line_key(tokens)
        if key is None:
            return
        for fingerprint in self.index.code_grams.get(key, ()):
            self.matched.setdefault(fingerprint, set()).add(gram_key(key))
            self.last_match_at = self.tokens_seen

    def _scan(self, new: list[str], *, code: bool) -> None:
        n = self.index.code_n if code else self.index.prose_n
        table = self.index.grams(code)
        tokens = self._tails[code] + new
        self.tokens_seen += len(new)
        for gram in _ngrams(tokens, n):
            for fingerprint in table.get(gram, ()):
                self.matched.setdefault(fingerprint, set()).add(gram_key(gram))
                self.last_match_at = self.tokens_seen
        self._tails[code] = tokens[-(n - 1) :] if n > 1 else []

    def safe_length(self, max_hold: int) -> int:
        """How much of the block can be sent now.

        Everything, unless the last runs matched protected text (then up to ``max_hold``
        characters wait), an unfinished line of a code fence is still coming in, or the
        text ends in what may be a base64 run (it waits to be decoded).
        """
        safe = encoded_tail(self.text)
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
    #: The delta type carrying this block's text, and its field (text or thinking).
    delta_type: str = "text_delta"
    field_name: str = "text"
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
    """Guards one answer; ``withheld`` lists what it stopped (labels of protected texts).

    ``revealed`` holds what the student was already shown of each protected text (gram
    keys by fingerprint key, from the guard's memory); ``known`` are texts the student
    wrote or holds (their question, their notebook): runs found there do not count,
    unless the tutor revealed them earlier.
    """

    def __init__(
        self,
        settings: SolutionGuard,
        index: ProtectedIndex | None,
        revealed: Mapping[str, set[str]] | None = None,
        known: Iterable[str] = (),
        course: str = "",
    ) -> None:
        self.settings = settings
        #: The course guarded (its memory and metrics are kept under it).
        self.course = course
        self.index = index if index is not None and not index.empty else None
        self.withheld: list[str] = []
        #: What reached the student of each guarded block (the memory keeps only that).
        self._sent: list[str] = []
        self._matched: Matches = {}
        self._revealed: Matches = {}
        self._known: Matches = {}
        if self.index is None:
            return
        ids = {f.key: n for n, f in enumerate(self.index.fingerprints)}
        for key, grams in (revealed or {}).items():
            if key in ids:
                self._revealed[ids[key]] = set(grams)
        scanner = _BlockScanner(self.index, self._known)
        for text in known:
            scanner.feed(text + "\n")
        scanner.finish()

    def reproduced(self) -> _Fingerprint | None:
        """The protected text this answer (with what was revealed before) reproduced
        enough of, if any."""
        assert self.index is not None
        for fingerprint_id, grams in self._matched.items():
            fingerprint = self.index.fingerprints[fingerprint_id]
            revealed = self._revealed.get(fingerprint_id, set())
            new = grams - self._known.get(fingerprint_id, set())
            if len(new | revealed) >= fingerprint.needed:
                return fingerprint
        return None

    def new_reveals(self) -> dict[str, set[str]]:
        """Runs of each protected text (by key) this answer showed that the student did
        not write themselves: what the guard's memory adds.  Only what was sent counts:
        a withheld rest was never seen."""
        if self.index is None:
            return {}
        shown: Matches = {}
        for text in self._sent:
            scanner = _BlockScanner(self.index, shown)
            scanner.feed(text)
            scanner.finish()
        out = {}
        for fingerprint_id, grams in shown.items():
            new = grams - self._known.get(fingerprint_id, set())
            if new:
                out[self.index.fingerprints[fingerprint_id].key] = new
        return out

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
            started = event["content_block"].get("type") if kind == "content_block_start" else None
            if started == "tool_use":
                tool = [event]
                continue
            if tool and event.get("index") == tool[0]["index"]:
                tool.append(event)
                if kind == "content_block_stop":
                    for out in self._checked_tool_call(tool):
                        yield out
                    tool = []
                continue
            if started in _TEXT_FIELDS:
                delta_type, name = _TEXT_FIELDS[started]
                scanner = _BlockScanner(self.index, self._matched)
                block = _HeldBlock(event["index"], scanner, delta_type, name)
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
        replaced = self.tool_input(tool_input)
        if replaced is tool_input:
            return events
        start, stop = events[0], events[-1]
        delta = {"type": "input_json_delta", "partial_json": json.dumps(replaced)}
        withheld = {"type": "content_block_delta", "index": start["index"], "delta": delta}
        return [start, withheld, stop]

    def tool_input(self, tool_input: Any) -> Any:
        """A tool call's input, or (when it reproduces a protected text) the same input
        with every string replaced by a short notice."""
        if self.index is None:
            return tool_input
        scanner = _BlockScanner(self.index, self._matched)
        scanner.feed("```\n" + "\n".join(_strings_in(tool_input)) + "\n```\n")
        scanner.finish()
        found = self.reproduced()
        if not found:
            self._sent.append(scanner.text)
            return tool_input
        self._withhold(found)
        notice = (
            f"# The tutor withheld this: it reproduces the reference solution of {found.label}."
        )
        return _replace_strings(tool_input, notice)

    def text(self, text: str) -> str:
        """A whole text block of a non-streamed answer, cut where the stream would be."""
        if self.index is None:
            return text
        scanner = _BlockScanner(self.index, self._matched)
        kept = ""
        for line in [*text.splitlines(keepends=True), None]:
            if line is None:
                scanner.finish()
                if not kept.endswith("\n"):  # the unfinished last line is scanned only now
                    kept = kept[: kept.rfind("\n") + 1]
            else:
                scanner.feed(line)
            found = self.reproduced()
            if found:
                self._withhold(found)
                self._sent.append(kept)
                fence = "\n```" if scanner.in_fence else ""
                return kept + fence + self.settings.notice.format(label=found.label)
            kept += line or ""
        self._sent.append(text)
        return text

    def message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A non-streamed Messages API answer with every block guarded: text, thinking
        and tool inputs, as the stream would have been."""
        content = []
        for block in message.get("content", []):
            kind = block.get("type")
            if kind in _TEXT_FIELDS:
                name = _TEXT_FIELDS[kind][1]
                block = {**block, name: self.text(block.get(name, ""))}
            elif kind == "tool_use":
                block = {**block, "input": self.tool_input(block.get("input", {}))}
            content.append(block)
        return {**message, "content": content}

    def _withhold(self, found: _Fingerprint) -> None:
        self.withheld.append(found.label)
        self.settings.log.info("Withheld the rest of an answer reproducing %s", found.label)

    def _on_delta(self, block: _HeldBlock, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        delta = event.get("delta", {})
        if delta.get("type") != block.delta_type:
            yield event  # a thinking block's signature (opaque, holds no text)
            return
        if block.withheld:
            return
        text = delta.get(block.field_name, "")
        block.held.append((event, len(text)))
        block.scanner.feed(text)
        yield from self._release(block, final=False)

    def _release(self, block: _HeldBlock, *, final: bool) -> Iterator[dict[str, Any]]:
        """Send what is safe to send now, or withhold the rest of the block."""
        if block.withheld:
            return
        found = self.reproduced()
        if found:
            block.withheld = True
            block.held.clear()
            self._withhold(found)
            self._sent.append(block.scanner.text[: block.sent])
            # Close a code fence left open, or the explanation would render as code.
            fence = "\n```" if block.scanner.in_fence else ""
            yield {
                "type": "content_block_delta",
                "index": block.index,
                "delta": {
                    "type": block.delta_type,
                    block.field_name: fence + self.settings.notice.format(label=found.label),
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
        if final:
            self._sent.append(block.scanner.text)


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

    memory_hours = Float(
        24.0,
        help="""How long what a student was shown of a protected text counts toward its
        limit, across all their conversations (0: each answer is judged alone).""",
    ).tag(config=True)

    def for_answer(
        self,
        index: ProtectedIndex | None,
        revealed: Mapping[str, set[str]] | None = None,
        known: Iterable[str] = (),
        course: str = "",
    ) -> AnswerGuard:
        """A guard for one answer (a disabled guard lets everything through)."""
        return AnswerGuard(self, index if self.enabled else None, revealed, known, course)

    def build_index(
        self,
        protected: Iterable[ProtectedText],
        visible: Iterable[str],
        trigger_ratio: float | None = None,
    ) -> ProtectedIndex:
        """Index ``protected`` texts, minus the runs student-visible ``visible`` texts share.

        ``trigger_ratio`` overrides the setting (a course's own, from its tutor.yaml).
        """
        ratio = self.trigger_ratio if trigger_ratio is None else trigger_ratio
        candidates = [(item, self._runs(item)) for item in protected]
        every: dict[bool, set[tuple[str, ...]]] = {True: set(), False: set()}
        for item, runs in candidates:
            every[item.code] |= runs
        shared: dict[bool, set[tuple[str, ...]]] = {True: set(), False: set()}
        for text in visible:
            lines = [code_tokens(line) for line in text.splitlines()]
            code = [t for tokens in lines for t in tokens]
            shared[True].update(g for g in _ngrams(code, self.code_ngram) if g in every[True])
            shared[True].update(k for k in map(line_key, lines) if k in every[True])
            shared[False].update(
                g for g in _ngrams(prose_tokens(text), self.prose_ngram) if g in every[False]
            )
        index = ProtectedIndex(code_n=self.code_ngram, prose_n=self.prose_ngram)
        for item, runs in candidates:
            runs = runs - shared[item.code]
            if len(runs) < self.min_runs:
                continue
            needed = min(len(runs), max(self.min_matches, math.ceil(ratio * len(runs))))
            key = hashlib.sha256(f"{item.label}\x1f{item.text}".encode()).hexdigest()[:16]
            index.fingerprints.append(_Fingerprint(item.label, needed, key))
            table = index.grams(item.code)
            for gram in runs:
                table.setdefault(gram, []).append(len(index.fingerprints) - 1)
        return index

    def _runs(self, item: ProtectedText) -> set[tuple[str, ...]]:
        if not item.code:
            return set(_ngrams(prose_tokens(item.text), self.prose_ngram))
        region = protected_region(fenced_code(item.text))
        lines = [code_tokens(line) for line in region.splitlines()]
        tokens = [t for line in lines for t in line]
        runs = {g for g in _ngrams(tokens, self.code_ngram) if _informative(g)}
        return runs | {k for k in map(line_key, lines) if k}
