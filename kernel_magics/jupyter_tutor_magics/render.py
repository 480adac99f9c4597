"""An answer as it streams in, shown where the student asked.

:class:`Answer` folds the chat API's events into what to show: the text so far, a short
line per tool step, the citations at the end and how the answer ended.  A *view* shows
it: Markdown updated in place in a notebook's output, or plain text printed as it comes
in a terminal.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from IPython.display import Markdown, clear_output, display

from jupyter_tutor import events
from jupyter_tutor.notebooks import cell_label

#: What the student reads while a tool runs, by tool name.
TOOL_LABELS = {
    "search_course": "Searching the course material",
    "read_notebook": "Reading the notebook",
    "get_last_error": "Looking at your last error",
    "inspect_variables": "Looking at your variables",
    "run_code": "Trying code in a scratch kernel",
}

ENDINGS = {
    "stopped": "*(stopped)*",
    "max_tokens": "*(the answer reached its length limit; ask to continue)*",
    "max_tool_rounds": "*(the tutor used its tools as often as it may for one answer)*",
}


@dataclass
class ToolStep:
    """One tool the tutor used, shown as a single line."""

    name: str
    #: ``running``, ``done`` or ``error``.
    status: str = "running"

    @property
    def label(self) -> str:
        return TOOL_LABELS.get(self.name, f"Using {self.name}")

    def markdown(self) -> str:
        mark = {"running": "…", "done": "✓", "error": "✗"}[self.status]
        return f"> *{self.label}* {mark}"


@dataclass
class Answer:
    """Everything one answer has shown so far."""

    parts: list[str | ToolStep] = field(default_factory=list)
    citations: list[events.CitationEvent] = field(default_factory=list)
    conversation_id: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    #: The error's code (``course_choice_required``…), and the courses to pick from.
    error_code: str | None = None
    courses: list[str] = field(default_factory=list)
    _tools: dict[str, ToolStep] = field(default_factory=dict)

    def feed(self, data: dict[str, Any]) -> str:
        """Take one event as read from the stream; return the plain text a terminal prints
        for it (types this version does not know are skipped)."""
        event = events.parse_event(data)
        if isinstance(event, events.ConversationEvent):
            self.conversation_id = event.conversation_id
        elif isinstance(event, events.TextEvent):
            if self.parts and isinstance(self.parts[-1], str):
                self.parts[-1] += event.delta
            else:
                self.parts.append(event.delta)
            return event.delta
        elif isinstance(event, events.ToolCallEvent):
            step = ToolStep(event.name)
            self._tools[event.id] = step
            self.parts.append(step)
            return f"\n[{step.label}…]\n"
        elif isinstance(event, events.ToolResultEvent):
            called = self._tools.get(event.id)
            if called is not None:
                called.status = "error" if event.is_error else "done"
        elif isinstance(event, events.CitationEvent):
            self.citations.append(event)
        elif isinstance(event, events.DoneEvent):
            self.stop_reason = event.stop_reason
        elif isinstance(event, events.ErrorEvent):
            self.error = event.message or "The tutor could not answer."
            self.error_code = event.code
            self.courses = list(event.courses or [])
        return ""

    @property
    def ended(self) -> bool:
        return self.stop_reason is not None or self.error is not None

    def markdown(self) -> str:
        blocks = [p.markdown() if isinstance(p, ToolStep) else p for p in self.parts]
        text = "\n\n".join(b.strip("\n") for b in blocks if b.strip())
        if not text and not self.ended:
            text = "*Asking the tutor…*"
        tail = self.ending()
        if self.citations:
            tail.insert(0, "**Sources**\n\n" + "\n".join(_citation_lines(self.citations, "1. ")))
        return "\n\n".join(filter(None, [text, *tail]))

    def ending(self) -> list[str]:
        if self.error_code == "course_choice_required" and self.courses:
            listed = ", ".join(f"`{c}`" for c in self.courses)
            return [
                f"**Which course is this notebook for?** You are in {listed}. Pick one with "
                f"`%tutor course NAME` (for example `%tutor course {self.courses[0]}`); your "
                "question is then asked again, and later ones from this notebook go there too."
            ]
        if self.error:
            return [f"**The tutor could not answer:** {self.error}"]
        ending = ENDINGS.get(self.stop_reason or "")
        return [ending] if ending else []

    def plain_ending(self) -> str:
        lines = [""]
        if self.citations:
            lines += ["Sources:", *_citation_lines(self.citations, "  - ")]
        lines += [e.replace("*", "") for e in self.ending()]
        return "\n".join(lines) + "\n"


def _citation_lines(citations: list[events.CitationEvent], bullet: str) -> list[str]:
    lines = []
    for c in citations:
        where = ", ".join(filter(None, [c.path, cell_label(c.cell)]))
        heading = c.heading or where
        lines.append(f"{bullet}{heading} ({where})" if heading != where else f"{bullet}{where}")
    return lines


class NotebookView:
    """Markdown in one output, updated in place (at most every ``interval`` seconds)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._handle: Any = None
        self._shown = 0.0

    def update(self, answer: Answer, printed: str = "") -> None:
        now = time.monotonic()
        if self._handle is None:
            self._handle = display(Markdown(answer.markdown()), display_id=True)
        elif now - self._shown >= self.interval:
            self._handle.update(Markdown(answer.markdown()))
        else:
            return
        self._shown = now

    def finish(self, answer: Answer) -> None:
        if self._handle is None:
            display(Markdown(answer.markdown()))
        else:
            self._handle.update(Markdown(answer.markdown()))


class OutputWidgetView(NotebookView):
    """Markdown in an ``ipywidgets.Output`` (the chat widget), redrawn in place."""

    def __init__(self, output: Any, interval: float = 0.1) -> None:
        super().__init__(interval)
        self.output = output

    def update(self, answer: Answer, printed: str = "") -> None:
        now = time.monotonic()
        if now - self._shown >= self.interval:
            self._draw(answer)
            self._shown = now

    def finish(self, answer: Answer) -> None:
        self._draw(answer)

    def _draw(self, answer: Answer) -> None:
        with self.output:
            clear_output(wait=True)
            display(Markdown(answer.markdown()))


class TerminalView:
    """Plain text printed as it arrives (terminal IPython)."""

    def update(self, answer: Answer, printed: str = "") -> None:
        if printed:
            sys.stdout.write(printed)
            sys.stdout.flush()

    def finish(self, answer: Answer) -> None:
        sys.stdout.write(answer.plain_ending())
        sys.stdout.flush()


def history_markdown(conversation: dict[str, Any]) -> str:
    """A stored conversation as Markdown: questions, answers, tool steps in brief, and the
    sources stored with each answer (as the answer showed them when it streamed)."""
    lines = [f"### {conversation.get('title') or 'Conversation with the tutor'}"]
    answering = False
    sources: list[events.CitationEvent] = []

    def end_answer() -> None:
        if sources:
            lines.append("**Sources**\n\n" + "\n".join(_citation_lines(sources, "1. ")))
            sources.clear()

    for message in conversation.get("messages", []):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        blocks = [b for b in blocks or [] if isinstance(b, dict)]
        texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
        if message.get("role") == "user":
            if texts:  # a user turn of tool results only continues the answer
                end_answer()
                lines.append("**You:** " + "\n".join(texts).strip())
                answering = False
            continue
        if not answering:
            lines.append("**Tutor:**")
            answering = True
        for block in blocks:
            if block.get("type") == "text" and block.get("text", "").strip():
                lines.append(block["text"].strip())
            elif block.get("type") == "tool_use":
                lines.append(ToolStep(str(block.get("name")), "done").markdown())
        for stored in _stored_citations(message.get("citations")):
            if all(
                (c.path, c.cell, c.course) != (stored.path, stored.cell, stored.course)
                for c in sources
            ):
                sources.append(stored)
    end_answer()
    return "\n\n".join(lines)


def _stored_citations(items: Any) -> list[events.CitationEvent]:
    """The citations stored with an answer (what cannot be read as one is skipped)."""
    found = []
    for item in items if isinstance(items, list) else []:
        try:
            event = events.parse_event({**item, "type": "citation"})
        except (TypeError, ValueError):  # not a mapping, or not a passage
            continue
        if isinstance(event, events.CitationEvent):
            found.append(event)
    return found
