"""The orchestrator's pure parts: repairing a stored history, naming gateway refusals,
trimming context, and the magics' answer rendering and question-mark handling."""

from __future__ import annotations

import pytest
from server_harness import assert_valid_history

from jupyter_tutor.sse import iter_event_data
from jupyter_tutor_magics.magics import keep_question_marks
from jupyter_tutor_magics.render import Answer
from jupyter_tutor_server.context import Section, _fit
from jupyter_tutor_server.gateway import error_from_status
from jupyter_tutor_server.history import repair, with_question
from jupyter_tutor_server.notebook import clip, strip_ansi


def use(tool_id: str) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": "run_code", "input": {"code": "1"}}


def result(tool_id: str) -> dict:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "1"}


def test_repair_keeps_a_complete_tool_round() -> None:
    stored = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me try"}, use("a")]},
        {"role": "user", "content": [result("a")]},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 1."}]},
    ]
    history = repair(stored)
    assert history == [
        {"role": "user", "content": [{"type": "text", "text": "Q1"}]},
        {"role": "assistant", "content": stored[1]["content"]},
        {"role": "user", "content": [result("a")]},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 1."}]},
    ]


def test_repair_drops_what_a_stopped_answer_left_dangling() -> None:
    stored = [
        {"role": "assistant", "content": "an orphan greeting"},
        {"role": "user", "content": "Q1"},
        # stopped while the tool ran: a call without its result, then nothing
        {"role": "assistant", "content": [{"type": "text", "text": "Let me"}, use("a")]},
        {"role": "user", "content": "Q2"},
        # broken mid tool-call: incomplete input
        {
            "role": "assistant",
            "content": [{**use("b"), "input": {"_incomplete_json": '{"co'}}],
            "status": "interrupted",
        },
        {"role": "user", "content": [result("zzz"), {"type": "text", "text": "Q3"}]},
    ]
    history = with_question(repair(stored), "Q4")
    assert_valid_history(history)
    assert history[0]["content"][0]["text"] == "Q1"
    assert history[1]["content"] == [{"type": "text", "text": "Let me"}]
    # Q2 and Q3 got no answer: they are not asked again, glued to Q4.
    assert [b["text"] for b in history[2]["content"]] == ["Q4"]


def test_a_question_that_failed_upstream_is_not_sent_again() -> None:
    stored = [
        {"role": "user", "content": "What is a loop?"},
        {"role": "assistant", "content": [], "status": "error"},
        {"role": "user", "content": "Why does my code fail?"},
        {"role": "assistant", "content": "Because x is undefined."},
        {"role": "user", "content": "Thanks! And this one?"},
    ]
    history = with_question(repair(stored), "What about lists?")
    assert_valid_history(history)
    assert [m["content"][0]["text"] for m in history] == [
        "Why does my code fail?",
        "Because x is undefined.",
        "What about lists?",
    ]


@pytest.mark.parametrize(
    ("status", "error_type", "headers", "code"),
    [
        (429, "rate_limit_error", {}, "rate_limited"),
        (429, "rate_limit_error", {"x-tutor-error-code": "budget_exceeded"}, "budget_exceeded"),
        (529, "overloaded_error", {}, "unavailable"),
        (401, "authentication_error", {}, "unauthorized"),
        (403, "permission_error", {}, "unauthorized"),
        (502, "api_error", {}, "upstream"),
        (404, "not_found_error", {}, "bad_request"),
        (503, "", {}, "unavailable"),
    ],
)
def test_gateway_refusals_get_the_chat_api_codes(status, error_type, headers, code) -> None:
    body = {"type": "error", "error": {"type": error_type, "message": "In the gateway's words."}}
    error = error_from_status(status, body if error_type else None, {**headers, "retry-after": "7"})
    assert error.code == code
    assert error.retry_after == 7
    assert error.message == ("In the gateway's words." if error_type else error.message)
    assert error.message and "Traceback" not in error.message


def test_context_keeps_what_matters_within_the_budget() -> None:
    traceback = "\n".join(f"frame {n}" for n in range(2000)) + "\nNameError: name 'y'"
    text = _fit(
        "Where.",
        [
            Section("Error", strip_ansi("\x1b[31m" + traceback + "\x1b[0m"), "tail"),
            Section("Cell", "x = 1\n" * 50),
            Section("Far away", "z = 3\n" * 500),
        ],
        budget_chars=2000,
    )
    assert len(text) < 2200
    assert "NameError: name 'y'" in text and "\x1b" not in text  # the end of a traceback
    assert "frame 0\n" not in text
    assert "## Cell" in text
    assert clip("abcdef", 4, keep="both").startswith("ab") and clip("abc", 5) == "abc"


def test_answer_rendering_and_terminal_text() -> None:
    answer = Answer()
    printed = [
        answer.feed(event)
        for event in [
            {"type": "conversation", "conversation_id": "c1"},
            {"type": "text", "delta": "Try "},
            {"type": "tool_call", "id": "t", "name": "run_code", "input": {}},
            {"type": "tool_result", "id": "t", "name": "run_code", "is_error": True, "output": "x"},
            {"type": "text", "delta": "this."},
            {
                "type": "citation",
                "course": "c",
                "path": "a.ipynb",
                "cell": 2,
                "heading": "Loops",
                "text": "",
            },
            {"type": "future_event", "x": 1},
            {"type": "done", "stop_reason": "stopped"},
        ]
    ]
    assert "".join(printed) == "Try \n[Trying code in a scratch kernel…]\nthis."
    markdown = answer.markdown()
    assert markdown.index("Try") < markdown.index("✗") < markdown.index("this.")
    assert "1. Loops (a.ipynb, cell 3)" in markdown and markdown.endswith("*(stopped)*")
    assert "Loops (a.ipynb, cell 3)" in answer.plain_ending() and "*" not in answer.plain_ending()


def test_question_marks_stay_questions_and_sse_is_parsed() -> None:
    assert keep_question_marks(["%tutor why?\n"]) == [
        "get_ipython().run_line_magic('tutor', 'why?')\n"
    ]
    assert keep_question_marks(["%tutor hint\n"]) == ["%tutor hint\n"]
    assert keep_question_marks(["%%tutor a?\n", "%tutor b?\n"])[1] == "%tutor b?\n"
    lines = [": comment", 'data: {"a":', "data: 1}", "", "event: x", "data: 2", "", "data: 3"]
    assert list(iter_event_data(lines)) == ['{"a":\n1}', "2"]
