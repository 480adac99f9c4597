"""``%tutor chat``: a small chat box in the output area (ipywidgets).

Each question and its answer are appended to the transcript; the answer streams into its
own ``Output`` as Markdown, exactly as ``%tutor`` shows it in a cell.  The conversation is
the kernel's, so the box and ``%tutor`` in cells continue the same one.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .render import Answer, NotebookView, OutputWidgetView

#: How the box asks: ``TutorMagics.ask`` (a question, the view its answer streams into).
Ask = Callable[..., Answer | None]


class ChatWidget(widgets.VBox):
    """Transcript above, question box and Ask button below."""

    def __init__(self, ask: Ask, **kwargs: Any) -> None:
        self._ask = ask
        self.transcript = widgets.VBox()
        self.question = widgets.Textarea(
            placeholder="Ask the tutor… (interrupt the kernel to stop an answer)",
            layout=widgets.Layout(width="100%", height="4em"),
        )
        self.send = widgets.Button(description="Ask", button_style="primary", icon="paper-plane")
        self.send.on_click(lambda _: self.ask(self.question.value))
        super().__init__(
            [self.transcript, widgets.HBox([self.question, self.send])],
            layout=widgets.Layout(width="100%"),
            **kwargs,
        )
        self.add_class("jp-tutor-chat")

    def ask(self, question: str) -> Answer | None:
        """Send ``question`` (also what the Ask button does) and stream the answer."""
        question = question.strip()
        if not question:
            return None
        self.question.value = ""
        output = widgets.Output()
        self.transcript.children = (
            *self.transcript.children,
            widgets.HTML(f"<b>You:</b> {html.escape(question)}"),
            output,
        )
        self.send.disabled = True
        try:
            view: NotebookView = OutputWidgetView(output)
            return self._ask(question, view=view)
        finally:
            self.send.disabled = False
