"""The JupyterLab side panel in a real browser: Debian's Chromium driven by Playwright,
against a real JupyterLab served by a real JupyterHub, with the gateway as a managed
service and the fake Anthropic API upstream.

One student (``student3``) logs in once; the tests run in order on one page, as a student
would use the panel: ask about a failing cell, watch the answer stream with a tool step,
insert the suggested code, follow a citation into the course, stop an answer, see an
error, and survive a model answer full of active HTML.  Screenshots are saved under
``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromium
import pytest
from fake_anthropic import Reply

pytestmark = pytest.mark.browser

USER = "student3"
COURSE = "intro-python"  # the hub fixture's TUTOR_DEFAULT_COURSE

#: The fix the tutor suggests, as the model writes it (a code block of the answer).
FIX = "numbers = [1, 2, 3]"

#: Active content a model might write; every piece tries to set window.__tutorXss.
XSS_ANSWER = (
    "Careful with this output:\n\n"
    "<img src=x onerror=\"window.__tutorXss='img'\">\n\n"
    "<script>window.__tutorXss='script'</script>\n\n"
    '<svg onload="window.__tutorXss=\'svg\'"><circle r="4"/></svg>\n\n'
    "<iframe srcdoc=\"<script>parent.__tutorXss='iframe'</script>\"></iframe>\n\n"
    '<a href="javascript:window.__tutorXss=\'link\'" id="tutor-xss-link">a link</a> and '
    "[another](javascript:alert(1)) and <img src=y onerror=alert(2)>\n\n"
    "<details open ontoggle=\"window.__tutorXss='details'\"><summary>x</summary></details>\n\n"
    "The end of the harmless text."
)


def _code_cell(source: str, cell_id: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _markdown_cell(source: str, cell_id: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def _notebook(cells: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "cells": cells,
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def _prepare_home(home: Path) -> Path:
    """The student's files: a homework notebook with a failing cell, and the course."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "homework.ipynb").write_text(
        _notebook(
            [
                _code_cell("total = 0\nfor n in numbers:\n    total += n\nprint(total)", "hw-1"),
            ]
        )
    )
    course = home / COURSE
    course.mkdir(exist_ok=True)
    (course / "tutor.yaml").write_text(f"name: {COURSE}\ntitle: Introduction to Python\n")
    (course / "variables.ipynb").write_text(
        _notebook(
            [
                _markdown_cell("# Variables\n\nA variable is a name for a value.", "v-0"),
                _markdown_cell(
                    "## Defining a name before using it\n\n"
                    "Python reads a cell from top to bottom. Using a name that was never "
                    "assigned raises `NameError: name 'numbers' is not defined`. Define the "
                    "list of numbers first, then loop over it.",
                    "v-1",
                ),
                _code_cell("numbers = [4, 5, 6]\nfor n in numbers:\n    print(n)", "v-2"),
                _markdown_cell(
                    "## Loops\n\nA `for` loop repeats its body once per item of a list.",
                    "v-3",
                ),
            ]
        )
    )
    # No "Jupyter news" toast over the panel's question box.
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return course


def _ingest(course: Path, database_url: str) -> None:
    """Index the course in the hub's database, as an instructor would."""
    env = {
        **os.environ,
        "TUTOR_DATABASE_URL": database_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_tutor.cli",
            "ingest",
            str(course),
            "--course",
            COURSE,
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def student_server(hub, hub_database_url: str) -> Iterator[str]:
    """``student3``'s running server, with the homework and the indexed course in place."""
    course = _prepare_home(hub.data_dir / "users" / USER)
    _ingest(course, hub_database_url)
    hub.start_server(USER)
    yield f"{hub.url}/user/{USER}/"
    hub.stop_server(USER)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Any]:
    """A persistent Chromium context (Debian's Chromium, never a downloaded browser)."""
    chromium.executable()  # skip early, with the way out, when Chromium is missing
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = chromium.launch(
            playwright, tmp_path_factory.mktemp("chromium"), viewport={"width": 1440, "height": 900}
        )
        try:
            yield context
        finally:
            context.close()


class Page:
    """The student's JupyterLab tab, with what the tests watch: dialogs, chat requests."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.chat_bodies: list[dict[str, Any]] = []
        self.feedback_bodies: list[dict[str, Any]] = []
        self.stop_requests = 0
        self.console_errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("request", self._on_request)
        page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_request(self, request: Any) -> None:
        if request.method != "POST" or "/tutor/api/" not in request.url:
            return
        if "/tutor/api/chat" in request.url:
            self.chat_bodies.append(json.loads(request.post_data or "{}"))
        elif "/tutor/api/stop" in request.url:
            self.stop_requests += 1
        elif "/tutor/api/feedback" in request.url:
            self.feedback_bodies.append(json.loads(request.post_data or "{}"))

    def shot(self, name: str) -> Path:
        path = chromium.ARTIFACTS / f"panel-{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def last_answer(self) -> Any:
        return self.page.locator("[data-testid=tutor-answer]").last

    def wait_answer_end(self, timeout: float = 30_000) -> Any:
        """The last answer, once it has ended (done, stopped or failed)."""
        self.page.wait_for_function(
            """() => {
              const answers = document.querySelectorAll('[data-testid=tutor-answer]');
              const last = answers[answers.length - 1];
              return last && last.dataset.status !== 'streaming';
            }""",
            timeout=timeout,
        )
        return self.last_answer()

    def ask(self, text: str) -> None:
        box = self.page.locator("[data-testid=tutor-input]")
        box.fill(text)
        box.press("Enter")

    def active_notebook(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


@pytest.fixture(scope="module")
def lab(hub, student_server: str, browser) -> Iterator[Page]:
    """Log in through the hub's form and open the homework in JupyterLab."""
    page = browser.pages[0] if browser.pages else browser.new_page()
    watched = Page(page)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    # The hub sends a logged-in student on to their server (or to its home page).
    page.wait_for_url(lambda url: "/hub/login" not in url)
    page.goto(f"{student_server}lab/tree/homework.ipynb")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=90_000)
    # The kernel must be connected and idle before a cell runs.
    page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle").wait_for(
        timeout=60_000
    )
    yield watched
    watched.shot("last")


def test_ask_about_a_failing_cell(lab: Page, fake_upstream) -> None:
    """Run a failing cell, press "Ask the tutor": the answer streams with a tool step."""
    page = lab.page
    fake_upstream.script(
        Reply.tool_use("search_course", {"query": "NameError numbers not defined"}),
        Reply.text(
            "The loop uses `numbers` before any cell defined it, so Python raises a "
            "`NameError`. Define the list first, then run the loop again:\n\n"
            f"```python\n{FIX}\n```\n\nThe *Variables* notebook of the course shows the "
            "same pattern: first $x = 1$, then use $x$.",
            chunk_size=6,
            delay=0.03,
        ),
    )
    cell = page.locator(".jp-NotebookPanel .jp-Cell").first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    button = cell.locator("[data-testid=tutor-ask-error]")
    button.wait_for(timeout=60_000)
    assert "NameError" in cell.locator(".jp-OutputArea").inner_text()
    lab.shot("1-error-with-button")

    # Watch the answer grow: streamed text shows up many times before the end.
    page.evaluate(
        """() => {
          window.__tutorLengths = [];
          const log = document.querySelector('[data-testid=tutor-messages]');
          new MutationObserver(() => {
            const answers = document.querySelectorAll('[data-testid=tutor-answer]');
            const last = answers[answers.length - 1];
            if (last && last.dataset.status === 'streaming') {
              const n = last.querySelector('.jp-tutor-Markdown')?.textContent.length ?? 0;
              const seen = window.__tutorLengths;
              if (n && seen[seen.length - 1] !== n) seen.push(n);
            }
          }).observe(log, {subtree: true, childList: true, characterData: true,
                            attributes: true});
        }"""
    )
    button.click()
    panel = page.locator("#jp-tutor-panel")
    assert panel.is_visible()
    question = panel.locator("[data-testid=tutor-question]").last
    assert "NameError" in question.inner_text()

    step = panel.locator("[data-testid=tutor-tool-step]").first
    step.wait_for()
    answer = lab.wait_answer_end()
    lab.shot("2-streamed-answer")
    assert answer.get_attribute("data-status") == "done", answer.inner_text()
    assert "Searched the course" in step.inner_text()
    assert "NameError numbers" in step.inner_text()
    # The step is collapsible and keyboard-operable; its result is inside.
    step.locator("summary").focus()
    page.keyboard.press("Enter")
    assert step.get_attribute("open") is not None
    assert step.locator(".jp-tutor-ToolStep-output").count() == 1
    lengths = page.evaluate("window.__tutorLengths")
    assert len(lengths) >= 3, f"the answer did not stream: {lengths}"
    text = answer.locator(".jp-tutor-Markdown").inner_text()
    assert "raises a NameError" in text.replace("\n", " ")
    # Rendered through rendermime: highlighted code, typeset math.
    assert answer.locator("pre code").count() == 1
    answer.locator("mjx-container").first.wait_for(timeout=20_000)  # MathJax loads lazily

    # What the panel sent: the failing cell as context, kind "explain".
    body = lab.chat_bodies[-1]
    context = body["context"]
    assert context["kind"] == "explain"
    assert context["notebook_path"] == "homework.ipynb"
    assert context["cell_index"] == 0
    assert context["cell_id"] == "hw-1"
    assert context["error"]["ename"] == "NameError"
    assert "numbers" in context["error"]["evalue"]
    # …and it reached the model through the orchestrator and the gateway.
    sent = json.dumps([r.body for r in fake_upstream.requests])
    assert "NameError" in sent


def test_insert_code_below_the_active_cell(lab: Page) -> None:
    page = lab.page
    notebook = lab.active_notebook()
    before = notebook.locator(".jp-Cell").count()
    lab.last_answer().locator("[data-testid=tutor-insert-code]").click()
    cells = notebook.locator(".jp-Cell")
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length"
        " > n",
        arg=before,
    )
    sources = [cells.nth(i).locator(".cm-content").inner_text() for i in range(cells.count())]
    assert any(s.strip() == FIX for s in sources), sources
    lab.shot("3-code-inserted")


def test_citation_opens_the_course_notebook_at_the_cell(lab: Page) -> None:
    page = lab.page
    citation = lab.last_answer().locator("[data-testid=tutor-citation]").first
    citation.wait_for()
    cell = int(citation.get_attribute("data-cell"))
    path = citation.get_attribute("data-path")
    assert path == "variables.ipynb"
    citation.click()
    tab = page.locator(".lm-TabBar-tab.lm-mod-current", has_text="variables.ipynb")
    tab.wait_for()
    # The cited cell becomes the active one (the notebook opens on its first cell).
    page.wait_for_function(
        """cell => Array.from(document.querySelectorAll(
             '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell'))
             .findIndex(c => c.classList.contains('jp-mod-active')) === cell""",
        arg=cell,
        timeout=10_000,
    )
    lab.shot("4-citation-opened")


def test_stop_ends_a_streaming_answer(lab: Page, fake_upstream) -> None:
    page = lab.page
    fake_upstream.script(Reply.text("A long explanation. " * 60, chunk_size=3, delay=0.05))
    lab.ask("Explain for loops at length, please.")
    answer = lab.last_answer()
    answer.locator(".jp-tutor-Markdown").wait_for()
    stop = page.locator("[data-testid=tutor-stop]")
    assert stop.is_visible()
    stop.click()
    lab.wait_answer_end(timeout=15_000)
    assert answer.get_attribute("data-status") == "stopped"
    assert "Stopped." in answer.locator(".jp-tutor-Answer-footer").inner_text()
    assert lab.stop_requests == 1
    assert page.locator("[data-testid=tutor-send]").is_visible()
    lab.shot("5-stopped")


def test_error_event_is_shown_in_words(lab: Page, fake_upstream) -> None:
    # The upstream refuses twice (the gateway retries once): the tutor is unavailable.
    overloaded = Reply.error(529, "overloaded_error", "Overloaded")
    fake_upstream.script(overloaded, overloaded)
    lab.ask("Is the tutor there?")
    answer = lab.wait_answer_end()
    assert answer.get_attribute("data-status") == "error"
    error = answer.locator("[data-testid=tutor-error]")
    assert error.get_attribute("role") == "alert"
    text = error.inner_text()
    assert error.locator(".jp-tutor-Error-title").inner_text().strip()
    assert "Traceback" not in text
    lab.shot("6-error")


def test_context_menu_asks_about_the_error(lab: Page, fake_upstream) -> None:
    page = lab.page
    fake_upstream.script(Reply.text("Define `numbers` before the loop."))
    page.locator(".lm-TabBar-tab", has_text="homework.ipynb").click()
    output = lab.active_notebook().locator(".jp-OutputArea-output[data-mime-type*=stderr]")
    output.first.click(button="right")
    item = page.locator(".lm-Menu-item", has_text="Ask the Tutor about This Error")
    item.click()
    answer = lab.wait_answer_end()
    assert answer.get_attribute("data-status") == "done", answer.inner_text()
    context = lab.chat_bodies[-1]["context"]
    assert (context["kind"], context["cell_id"]) == ("explain", "hw-1")
    assert context["error"]["ename"] == "NameError"

    # "Still stuck" on the answer, from the keyboard: recorded, confirmed, buttons disabled.
    stuck = answer.locator("[data-testid=tutor-vote-stuck]")
    assert stuck.is_visible() and "Still stuck" in (stuck.get_attribute("aria-label") or "")
    stuck.focus()
    page.keyboard.press("Enter")
    answer.locator("[data-testid=tutor-feedback-status]", has_text="one step further").wait_for()
    assert lab.feedback_bodies[-1]["vote"] == "stuck"
    assert lab.feedback_bodies[-1]["conversation_id"] == lab.chat_bodies[-1]["conversation_id"]
    for vote in ("up", "down", "stuck"):
        assert answer.locator(f"[data-testid=tutor-vote-{vote}]").is_disabled()
    # The privacy note is the course's own sentence (GET tutor/api/course).
    note = page.locator("[data-testid=tutor-privacy-note]")
    assert note.get_attribute("data-source") == "course", note.inner_text()
    assert "conversations" in note.inner_text()
    lab.shot("6b-still-stuck")


def test_model_html_runs_nothing(lab: Page, fake_upstream) -> None:
    page = lab.page
    fake_upstream.script(Reply.text(XSS_ANSWER, chunk_size=40))
    lab.ask("Show me some HTML.")
    answer = lab.wait_answer_end()
    assert answer.get_attribute("data-status") == "done", answer.inner_text()
    assert "The end of the harmless text." in answer.inner_text()
    # Give an event handler or a frame every chance to run, then try the links.
    page.wait_for_timeout(1000)
    for link in answer.locator("a").all():
        link.click(modifiers=[], no_wait_after=True, timeout=2000)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__tutorXss") is None
    assert lab.dialogs == []
    body = answer.locator(".jp-tutor-Answer-body")
    active = body.locator(
        "script, iframe, object, embed, img, [onerror], [onload], [ontoggle], [srcdoc]"
    )
    assert active.count() == 0, body.inner_html()
    assert body.locator("a[href^='javascript' i]").count() == 0
    assert "Run" not in [b.inner_text() for b in body.locator("button").all()]
    assert page.locator("#jp-tutor-panel").is_visible()
    lab.shot("7-model-html-inert")


def test_conversation_list_reopens_a_conversation(lab: Page) -> None:
    page = lab.page
    page.locator("[data-testid=tutor-history]").click()
    items = page.locator("[data-testid=tutor-conversation]")
    items.first.wait_for()
    assert items.count() >= 1
    lab.shot("8-conversations")
    # The current conversation is marked; open it again from the list.
    current = page.locator("[data-testid=tutor-conversation][aria-current=true]")
    assert current.count() == 1
    current.click()
    page.locator("[data-testid=tutor-messages]").wait_for()
    questions = page.locator("[data-testid=tutor-question]")
    assert "Show me some HTML." in questions.last.inner_text()
    assert questions.count() >= 2
    # A stored answer is rendered the same careful way.
    assert page.evaluate("window.__tutorXss") is None
    assert page.locator("#jp-tutor-panel script, #jp-tutor-panel iframe").count() == 0


def test_panel_follows_the_dark_theme(lab: Page) -> None:
    page = lab.page
    light = page.evaluate(
        "getComputedStyle(document.querySelector('#jp-tutor-panel')).backgroundColor"
    )
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    palette.fill("JupyterLab Dark")
    page.locator(".lm-CommandPalette-item", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(500)
    dark = page.evaluate(
        "getComputedStyle(document.querySelector('#jp-tutor-panel')).backgroundColor"
    )
    assert dark != light
    lab.shot("9-dark-theme")
    # Keyboard: the shortcut brings the focus back to the question box.
    page.keyboard.press("Control+Shift+Y")
    page.wait_for_function(
        "document.activeElement && document.activeElement.dataset.testid === 'tutor-input'"
    )
    assert not [e for e in lab.console_errors if "tutor" in e.lower()], lab.console_errors


def test_picking_the_course_asks_again_in_it(lab: Page, fake_upstream) -> None:
    """A student in several courses picks one: the question goes again, in that course.

    The server's first answer is replaced by the gateway's refusal (the hub side of the
    choice is tested in test_courses.py); the pick then reaches the real server and gateway
    (the hub's default course, which a student in no course may ask about).
    """
    page = lab.page
    refusal = {
        "type": "error",
        "code": "course_choice_required",
        "message": "You are in several courses and this notebook does not say which one it "
        "belongs to: pick the course to ask about.",
        "courses": ["data-pandas", COURSE],
    }

    chat = re.compile(r"/tutor/api/chat(\?.*)?$")

    def refuse(route: Any) -> None:
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=f"data: {json.dumps(refusal)}\n\n",
        )

    page.route(chat, refuse, times=1)
    fake_upstream.script(Reply.text("Asked in the course you picked."))  # the reply below
    asked = len(lab.chat_bodies)
    lab.ask("Which course am I in?")
    page.locator("[data-testid=tutor-question]", has_text="Which course am I in?").wait_for()
    answer = lab.wait_answer_end()
    choices = answer.locator("[data-testid=tutor-course-choice]")
    assert [c.inner_text() for c in choices.all()] == ["data-pandas", COURSE]
    assert "Retry" not in answer.inner_text()
    lab.shot("10-pick-course")
    choices.nth(1).click()
    reply = "Asked in the course you picked."
    page.locator("[data-testid=tutor-answer]", has_text=reply).wait_for()
    first, again = lab.chat_bodies[asked:]
    assert "course" not in first.get("context", {})
    assert again["message"] == "Which course am I in?"
    assert again["context"]["course"] == COURSE
