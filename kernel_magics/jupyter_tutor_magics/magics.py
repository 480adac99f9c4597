"""``%tutor`` and ``%%tutor``: ask the course tutor from a notebook cell.

The magics talk only to the chat API of the Jupyter server that started this kernel,
with what its tutor extension put in the kernel's environment.  Questions of one kernel
(one notebook) continue one conversation, and each answer streams into the cell's
output; interrupting the kernel stops it.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import Markdown, display

from .client import ChatClient, TutorUnavailable
from .render import Answer, NotebookView, TerminalView, history_markdown

EXPLAIN = "Explain this error: {ename}: {evalue}"
HINT = "Give me a hint for the next step of the exercise I am working on, not the answer."
CODE = "Can you help me with this code?"

#: What ``%tutor --help`` shows (Markdown in a notebook; readable as plain text too).
HELP = """\
**Ask the course tutor**; the answer streams into the output below.

| you type | what it does |
| --- | --- |
| `%tutor QUESTION` | ask a question |
| `%%tutor [QUESTION]` | ask about the code in the rest of the cell |
| `%tutor explain` | explain the last exception raised in this kernel |
| `%tutor hint` | the next hint for the exercise you are working on |
| `%tutor history` | this notebook's conversation with the tutor |
| `%tutor chat` | a chat box in the output area |
| `%tutor course [NAME]` | your courses, or pick the one this notebook is for |
| `%tutor --new QUESTION` | start a new conversation instead of continuing |

`explain`, `hint`, `history` and `chat` work as commands when they are the whole line:
`%tutor explain how a for loop works` is a question. Interrupt the kernel (the stop button,
or Ctrl-C) to stop an answer.
"""

#: Words that are commands when they are all the request holds.
COMMANDS = ("explain", "hint", "history", "chat", "course")
#: ``%tutor course NAME``: pick the course of this notebook.
_PICK = re.compile(r"^course\s+([a-z0-9][a-z0-9._-]{0,63})$", re.IGNORECASE)

_OPTIONS = re.compile(r"\s*((?:-\S+\s*)*)(.*)", re.DOTALL)
_LINE_MAGIC = re.compile(r"^(\s*)%tutor\b(.*?)\s*$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """An input transformer: ``%tutor Why…?`` stays a question.

    IPython reads a line ending in ``?`` as a help request (``list?``) before it sees the
    magic, so such ``%tutor`` lines are turned into the magic's call first.  The body of
    a ``%%`` cell magic is left alone.
    """
    if lines and lines[0].lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        match = _LINE_MAGIC.match(line)
        if match and match.group(2).endswith("?"):
            indent, argument = match.group(1), match.group(2).strip()
            line = f"{indent}get_ipython().run_line_magic('tutor', {argument!r})\n"
        out.append(line)
    return out


@magics_class
class TutorMagics(Magics):
    """The ``%tutor`` magics, with this kernel's conversation."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        #: The conversation this kernel's questions continue.
        self.conversation_id: str | None = None
        #: The course picked for this notebook (``%tutor course NAME``), sent with questions.
        self.course: str | None = None
        #: The question that waits for a course to be picked: ``ask``'s arguments.
        self._waiting: tuple[str, dict[str, Any]] | None = None

    @property
    def in_notebook(self) -> bool:
        """A kernel behind a notebook (not terminal IPython)."""
        return getattr(self.shell, "kernel", None) is not None

    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("--new", action="store_true", help="Start a new conversation instead of continuing.")
    @argument("request", nargs="*", help="QUESTION, or explain | hint | history | chat")
    @line_cell_magic
    def tutor(self, line: str, cell: str | None = None) -> Any:
        """Ask the course tutor (``%tutor --help`` for the commands)."""
        options, rest = _OPTIONS.match(line).groups()  # type: ignore[union-attr]
        args = parse_argstring(self.tutor, options)
        if args.new:
            self.conversation_id = None
        request = rest.strip()
        command = request.lower() if request.lower() in COMMANDS else None
        pick = _PICK.match(request) if cell is None else None
        if args.help or not (request or cell):
            self.say(HELP)
        elif pick:
            self.pick_course(pick.group(1).lower())
        elif command == "course":
            self.courses()
        elif cell is not None:
            self.ask(request or CODE, code=cell)
        elif command == "explain":
            self.explain()
        elif command == "hint":
            self.ask(HINT, kind="hint")
        elif command == "history":
            self.history()
        elif command == "chat":
            return self.chat()
        else:
            self.ask(request)
        return None

    def say(self, text: str) -> None:
        """Show a message (Markdown in a notebook, plain text in a terminal)."""
        if self.in_notebook:
            display(Markdown(text))
        else:
            print(text)

    def ask(
        self,
        message: str,
        *,
        kind: str = "question",
        code: str | None = None,
        error: dict[str, Any] | None = None,
        view: Any = None,
    ) -> Answer:
        """Ask, streaming the answer into ``view`` (by default: this cell's output)."""
        view = view or (NotebookView() if self.in_notebook else TerminalView())
        answer = Answer()
        body: dict[str, Any] = {"message": message, "context": self.context(kind, code, error)}
        self._waiting = None
        if self.conversation_id:
            body["conversation_id"] = self.conversation_id
        try:
            client = ChatClient.from_environment()
            view.update(answer)
            with client.chat(body) as events:
                for event in events:
                    printed = answer.feed(event)
                    self.conversation_id = answer.conversation_id or self.conversation_id
                    view.update(answer, printed)
        except KeyboardInterrupt:
            if answer.conversation_id:
                client.stop(answer.conversation_id)
            answer.stop_reason = "stopped"
        except TutorUnavailable as err:
            answer.error = str(err)
        if not answer.ended:
            answer.error = "The answer broke off before it ended. Ask again."
        if answer.error_code == "course_choice_required":
            self._waiting = (message, {"kind": kind, "code": code, "error": error})
        elif answer.error_code == "course_forbidden":
            self.course = None  # the server forgot it too: the student is asked again
        view.finish(answer)
        return answer

    def pick_course(self, course: str) -> None:
        """Pick this notebook's course; a question that waited for it is asked again."""
        self.course = course
        if self._waiting is not None:
            message, kwargs = self._waiting
            self.ask(message, **kwargs)
        else:
            self.say(f"Questions from this notebook now go to the course `{course}`.")

    def courses(self) -> None:
        """List the student's courses and the one picked for this notebook."""
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        try:
            client = ChatClient.from_environment()
            found = client.get("courses", **({"notebook": notebook} if notebook else {}))
        except TutorUnavailable as err:
            self.say(str(err))
            return
        self.say(courses_markdown(found, self.course))

    def context(
        self, kind: str, code: str | None = None, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Where this question comes from: the notebook, its running cell, code, error."""
        context: dict[str, Any] = {"kind": kind}
        if self.course:
            context["course"] = self.course
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        if notebook.endswith(".ipynb"):
            context["notebook_path"] = notebook
        cell_id = self._running_cell_id()
        if cell_id:
            context["cell_id"] = cell_id
        if code and code.strip():
            context["code"] = code
        if error:
            context["error"] = error
        return context

    def _running_cell_id(self) -> str | None:
        """The id JupyterLab sends with the cell being run (none in other frontends)."""
        kernel = getattr(self.shell, "kernel", None)
        try:
            parent = kernel.get_parent() if kernel is not None else {}
        except Exception:
            return None
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        return cell_id if isinstance(cell_id, str) else None

    def explain(self) -> None:
        error = last_exception()
        if error is None:
            self.say(
                "No exception has been raised in this kernel yet: run the cell that fails, "
                "then `%tutor explain` in the next cell."
            )
            return
        self.ask(EXPLAIN.format(**error), kind="explain", error=error)

    def history(self) -> None:
        try:
            client = ChatClient.from_environment()
            if self.conversation_id is None:
                notebook = os.environ.get("JPY_SESSION_NAME", "")
                found = client.get("conversations", notebook=notebook) if notebook else {}
                listed = found.get("conversations") or []
                self.conversation_id = listed[0]["id"] if listed else None
            if self.conversation_id is None:
                self.say(
                    "No conversation with the tutor from this notebook yet: ask with "
                    "`%tutor QUESTION`."
                )
                return
            conversation = client.get(f"conversations/{self.conversation_id}")
        except TutorUnavailable as err:
            self.say(str(err))
            return
        self.say(history_markdown(conversation))

    def chat(self) -> Any:
        if not self.in_notebook:
            self.say("The chat box needs a notebook; here, ask with %tutor QUESTION.")
            return None
        from .widget import ChatWidget

        return ChatWidget(self.ask)


def courses_markdown(found: dict[str, Any], picked: str | None = None) -> str:
    """``%tutor course``: the student's courses, the notebook's pick marked."""
    picked = picked or found.get("picked")
    listed = found.get("courses") or []
    if not listed:
        default = found.get("default")
        where = f" (the hub's course `{default}` answers)" if default else ""
        return f"You are in no course on this hub{where}."
    lines = ["**Your courses**", ""]
    for course in listed:
        mark = " ← this notebook" if course.get("name") == picked else ""
        lines.append(f"- `{course.get('name')}`: {course.get('title', '')}{mark}")
    lines += ["", "Pick the course of this notebook with `%tutor course NAME`."]
    return "\n".join(lines)


def last_exception() -> dict[str, Any] | None:
    """The last exception IPython recorded in this kernel, as nbformat stores errors."""
    value = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if value is None:
        return None
    lines = traceback.format_exception(type(value), value, value.__traceback__)
    return {
        "ename": type(value).__name__,
        "evalue": str(value),
        "traceback": [line.rstrip("\n") for line in lines],
    }
