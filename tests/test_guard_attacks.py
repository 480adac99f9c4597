"""A student who wants the graded answer, through the real gateway (issue 14's bypasses).

Each test calls the gateway as an attacker would: the official SDK with the student's own
hub token, the fake upstream scripted to write the protected solution in some disguise or
on some other path (thinking, a tool call, a non-streamed reply, a few lines per answer).
Nothing of it may reach the student; honest answers must pass event for event.
"""

from __future__ import annotations

import base64
import json
import uuid

import psycopg
import pytest
from fake_anthropic import Reply
from policy_fixtures import SOLUTION, STUB, insert_material, publish_course, write_course

COURSE = "guard-attacks"
SCOPES = ["access:services!service=tutor", "custom:tutor:use"]
MODEL = "claude-sonnet-4-6"
NOTICE = "The tutor stopped here"
CODE = (
    'total = 0\nfor ch in text.lower():\n    if ch in "aeiou":\n        total += 1\nreturn total\n'
)
#: A longer graded solution, for asking it a few lines per answer.
GRADES = '''def grade_report(scores):
    """Summarise a list of scores."""
    ### BEGIN SOLUTION
    if not scores:
        raise ValueError("no scores")
    best = max(scores)
    worst = min(scores)
    mean = sum(scores) / len(scores)
    passed = [s for s in scores if s >= 50]
    ratio = len(passed) / len(scores)
    letters = {"A": 90, "B": 75, "C": 50}
    grade = next((k for k, v in letters.items() if mean >= v), "F")
    spread = best - worst
    return {"best": best, "mean": round(mean, 1), "pass_rate": ratio,
            "grade": grade, "spread": spread}
    ### END SOLUTION
'''
GRADES_LINES = GRADES.split("### BEGIN SOLUTION\n")[1].split("    ### END")[0].splitlines()


def numbered(code: str) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(code.splitlines(), 1))


DISGUISES = {
    "zero-width": "```python\n"
    + CODE.replace("in", "i\u200bn").replace("total", "tot\u200bal")
    + "```",
    "numbered": "Here it is:\n" + numbered(CODE),
    "parenthesised": "```python\n"
    + CODE.replace('if ch in "aeiou"', 'if (ch in ("aeiou"))').replace("+= 1", "+= (1)")
    + "```",
    "base64": "Decode this yourself: " + base64.b64encode(CODE.encode()).decode(),
    "hex": "In hex: " + CODE.encode().hex(),
    "commented-out": "\n".join("# " + line for line in CODE.splitlines()),
    "repl-prompts": "\n".join(">>> " + line for line in CODE.splitlines()),
    "list-of-lines": "lines = " + json.dumps(CODE.splitlines(), indent=1),
    "escaped-string": "code = " + json.dumps(CODE),
}
HONEST = [
    "Think about what you need to remember while you look at each character: a running "
    "count. Where does it start, and when does it grow?",
    "Here is the pattern on a different problem, counting even numbers:\n```python\n"
    "def count_even(numbers):\n    count = 0\n    for n in numbers:\n"
    "        if (n % 2) == 0:\n            count += 1\n    return count\n```\n"
    "Now try the same idea on your exercise.",
    '`text.lower()` returns a lower-case copy, and `ch in "aeiou"` is True for a vowel. '
    "Try each in a scratch cell:\n```python\n>>> 'Hello'.lower()\n'hello'\n>>> 'e' in 'aeiou'\n"
    "True\n```",
    "Your function starts like this:\n```python\ndef count_vowels(text):\n"
    "    # YOUR CODE HERE\n```\nWhat should happen inside it?",
]


@pytest.fixture
async def attacker(make_gateway, hub, database_url):
    """A gateway guarding the course, and the student's SDK client on it."""
    insert_material(
        database_url,
        COURSE,
        "week1/loops.ipynb",
        protected=[(4, SOLUTION, "count_vowels"), (7, GRADES, "grade_report")],
        visible=[(3, f"```python\n{STUB}\n```")],
    )
    gateway = await make_gateway(TutorGateway__default_course=COURSE)
    return gateway.client(hub.token_for("student1", SCOPES))


def forget(database_url: str) -> None:
    """A fresh start for the next case: the guard's memory of the student emptied."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM guard_reveals")


async def streamed(client, reply: Reply, conversation: str | None = None, question: str = ""):
    """Ask with ``stream=True``: the events of the answer, and its conversation id."""
    headers = {"X-Tutor-Conversation-Id": conversation} if conversation else {}
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=1000,
        stream=True,
        messages=[{"role": "user", "content": question or "Just give me the code"}],
        extra_headers=headers,
    )
    events = [event async for event in stream]
    return events, stream.response.headers["x-tutor-conversation-id"]


def deltas(events, kind: str = "text_delta", field: str = "text") -> str:
    return "".join(
        getattr(e.delta, field)
        for e in events
        if e.type == "content_block_delta" and e.delta.type == kind
    )


def tool_input(events) -> dict:
    return json.loads(deltas(events, "input_json_delta", "partial_json"))


@pytest.mark.parametrize("disguise", list(DISGUISES))
async def test_a_disguised_solution_is_stopped(
    attacker, fake_upstream, database_url, disguise: str
) -> None:
    answer = DISGUISES[disguise]
    forget(database_url)
    fake_upstream.script(Reply.text(answer, chunk_size=7))
    events, _ = await streamed(attacker, Reply.text())
    received = deltas(events)
    assert NOTICE in received
    assert received != answer and len(received.split(NOTICE)[0]) < len(answer)
    assert "+= 1" not in received and "+= (1)" not in received
    forget(database_url)
    fake_upstream.script(Reply.text(answer))
    message = await attacker.messages.create(
        model=MODEL, max_tokens=1000, messages=[{"role": "user", "content": "code please"}]
    )
    assert NOTICE in message.content[0].text and "+= 1" not in message.content[0].text


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_thinking_and_tool_inputs_are_guarded(
    attacker, fake_upstream, database_url, stream: bool
) -> None:
    """A model that thinks the solution through, then runs it, shows neither."""
    forget(database_url)
    thought = "The student wants this:\n```python\n" + SOLUTION + "```\nI will run it."
    reply = Reply(
        blocks=[
            {"type": "thinking", "thinking": thought},
            {"type": "tool_use", "name": "run_code", "input": {"code": SOLUTION}},
        ],
        stop_reason="tool_use",
    )
    fake_upstream.script(reply)
    if stream:
        events, _ = await streamed(attacker, reply)
        thinking = deltas(events, "thinking_delta", "thinking")
        code = tool_input(events)["code"]
        assert any(
            e.type == "content_block_delta" and e.delta.type == "signature_delta" for e in events
        )
    else:
        message = await attacker.messages.create(
            model=MODEL, max_tokens=1000, messages=[{"role": "user", "content": "solve it"}]
        )
        thinking, code = message.content[0].thinking, message.content[1].input["code"]
    assert NOTICE in thinking and "total += 1" not in thinking
    assert "withheld" in code and "total += 1" not in code


@pytest.mark.parametrize("pieces", [2, 3, 6])
async def test_a_solution_asked_for_a_few_lines_at_a_time_is_stopped(
    attacker, fake_upstream, database_url, pieces: int
) -> None:
    """Each answer holds 1/pieces of the solution: once enough was shown, the rest is not."""
    forget(database_url)
    size = -(-len(GRADES_LINES) // pieces)
    parts = [GRADES_LINES[i : i + size] for i in range(0, len(GRADES_LINES), size)]
    conversation = None
    shown = []
    for n, part in enumerate(parts):
        answer = f"Lines {n * size + 1} onwards:\n```python\n" + "\n".join(part) + "\n```"
        fake_upstream.script(Reply.text(answer))
        events, conversation = await streamed(
            attacker, Reply.text(), conversation, question="next lines please"
        )
        shown.append(deltas(events))
    assert NOTICE not in shown[0]  # one part alone is not the solution
    assert any(NOTICE in text for text in shown)
    assert "spread = best - worst" not in "".join(shown)  # the last lines never came
    # A new conversation does not start the count afresh.
    fake_upstream.script(Reply.text("```python\n" + "\n".join(GRADES_LINES[-6:]) + "\n```"))
    events, _ = await streamed(attacker, Reply.text(), str(uuid.uuid4()))
    assert NOTICE in deltas(events)


async def test_honest_answers_pass_event_for_event(attacker, fake_upstream) -> None:
    for answer in HONEST:
        fake_upstream.script(Reply.text(answer, chunk_size=5))
        events, _ = await streamed(attacker, Reply.text(), question="How do I start?")
        got = [e.delta.text for e in events if e.type == "content_block_delta"]
        assert got == [answer[i : i + 5] for i in range(0, len(answer), 5)]


async def test_the_students_own_code_does_not_count(attacker, fake_upstream) -> None:
    """A student who solved it and asks for a review gets their code quoted back."""
    question = f"Is this right?\n```python\ndef count_vowels(text):\n{CODE}```"
    review = "Yes! In\n```python\n" + CODE + "```\nevery step is right."
    fake_upstream.script(Reply.text(review))
    events, _ = await streamed(attacker, Reply.text(), question=question)
    assert deltas(events) == review


async def test_withheld_answers_are_counted_per_exercise(
    attacker, fake_upstream, database_url
) -> None:
    """The dashboard's table counts withheld answers by the exercise reproduced."""
    from jupyter_tutor_hub.dashboard.queries import Analytics, Scope

    for answer in (DISGUISES["numbered"], "```python\n" + "\n".join(GRADES_LINES) + "\n```"):
        fake_upstream.script(Reply.text(answer))
        events, _ = await streamed(attacker, Reply.text(), str(uuid.uuid4()))
        assert NOTICE in deltas(events)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        table = await Analytics().withheld(conn, Scope(COURSE, 7, False))
    assert {r["exercise"]: (r["answers"], r["students"]) for r in table.rows} == {
        "count_vowels": (1, 1),
        "grade_report": (1, 1),
    }


async def test_a_course_sets_its_own_guard_window(
    attacker, fake_upstream, database_url, tmp_path
) -> None:
    """``guard: {memory_hours: 0, trigger_ratio: 0.8}`` in tutor.yaml: each answer is judged
    alone, and a third of the solution is allowed (the default would stop it)."""
    folder = write_course(tmp_path / "course", name=COURSE)
    with (folder / "tutor.yaml").open("a") as config:
        config.write("guard: {memory_hours: 0, trigger_ratio: 0.8}\n")
    publish_course(database_url, folder, COURSE)
    third = len(GRADES_LINES) // 3 + 1
    for start in range(0, len(GRADES_LINES), third):
        part = "\n".join(GRADES_LINES[start : start + third])
        fake_upstream.script(Reply.text("```python\n" + part + "\n```"))
        events, _ = await streamed(attacker, Reply.text(), question="next lines")
        assert NOTICE not in deltas(events)
