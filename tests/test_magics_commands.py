"""How ``%tutor`` reads what the student typed (no server needed: what is asked is recorded).

The end-to-end behaviour of the magics against a real server is in test_magics.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_tutor_magics.magics import HELP, TutorMagics
from jupyter_tutor_magics.render import history_markdown


class RecordingMagics(TutorMagics):
    """The magics with the chat API call replaced by a record of what would be asked."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.said: list[str] = []
        self.explained = 0

    def ask(self, message: str, **kwargs: Any) -> Any:
        self.asked.append((message, kwargs))

    def say(self, text: str) -> None:
        self.said.append(text)

    def explain(self) -> None:
        self.explained += 1


@pytest.fixture
def magics() -> RecordingMagics:
    return RecordingMagics(InteractiveShell.instance())


@pytest.mark.parametrize(
    "line", ["explain how a for loop works", "hint: what is a hint?", "history of Python?"]
)
def test_a_sentence_starting_with_a_command_word_is_a_question(magics, line) -> None:
    magics.tutor(line)
    assert magics.asked == [(line, {})]
    assert magics.explained == 0


def test_command_words_alone_are_commands(magics) -> None:
    magics.tutor("explain")
    magics.tutor("  Hint ")
    assert magics.explained == 1
    assert magics.asked[0][1] == {"kind": "hint"}


@pytest.mark.parametrize("line", ["--help", "-h", ""])
def test_help_is_readable_markdown(magics, line) -> None:
    magics.tutor(line)
    assert magics.said == [HELP]
    assert "::" not in HELP
    assert "| `%tutor explain` |" in HELP  # a table, not one run-on paragraph


def test_cell_magic_asks_about_its_code(magics) -> None:
    magics.tutor("Why is this slow?", "total = 0\n")
    assert magics.asked == [("Why is this slow?", {"code": "total = 0\n"})]


def test_history_shows_the_sources_stored_with_each_answer() -> None:
    """``%tutor history`` lists an answer's stored citations like the streamed answer did
    (cell N counting from 1), once per passage, and skips what is not a passage."""
    passage = {
        "course": "intro",
        "path": "week1.ipynb",
        "cell": 4,
        "heading": "While loops",
        "text": "A while loop runs while its condition holds.",
    }
    markdown = history_markdown(
        {
            "title": "Loops",
            "messages": [
                {"role": "user", "content": "Why does my loop never stop?"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "search_course"}],
                    "citations": [passage],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
                {
                    "role": "assistant",
                    "content": "Change i inside the loop.",
                    "citations": [passage, {**passage, "path": "notes.md", "cell": None}, 7],
                },
                {"role": "user", "content": "thanks"},
                {"role": "assistant", "content": "You are welcome.", "citations": None},
            ],
        }
    )
    answer, rest = markdown.split("**You:** thanks")
    assert "1. While loops (week1.ipynb, cell 5)\n1. While loops (notes.md)" in answer
    assert answer.count("week1.ipynb") == 1
    assert answer.index("Change i inside the loop.") < answer.index("**Sources**")
    assert "Sources" not in rest
