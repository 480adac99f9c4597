"""The output guard: answers that reproduce a protected solution are cut, honest ones pass.

First the guard alone on streams of Messages API events, then through a real gateway
whose fake upstream replays the course's protected solution verbatim, with renamed
variables and with whitespace and comments changed.
"""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from fake_anthropic import Reply
from policy_fixtures import SOLUTION, STUB, insert_material

from jupyter_tutor_hub.policy.guard import ProtectedText, SolutionGuard, code_tokens

COURSE = "guard-test"
SCOPES = ["access:services!service=tutor", "custom:tutor:use"]
MODEL = "claude-sonnet-4-6"

VERBATIM = (
    "Here is the function:\n```python\ndef count_vowels(text):\n    total = 0\n"
    '    for ch in text.lower():\n        if ch in "aeiou":\n            total += 1\n'
    "    return total\n```\nThat's all."
)
RENAMED = (
    "Sure!\n```python\ndef count_vowels(sentence):\n    n = 0\n"
    "    for letter in sentence.lower():\n        if letter in 'aeiou':\n"
    "            n += 1\n    return n\n```\n"
)
REFORMATTED = (
    "```python\ndef count_vowels( text ):\n  total=0   # start at zero\n"
    '  for ch in text.lower() :\n      if ch in "aeiou" :   total+=1\n\n\n  return   total\n```'
)
HONEST = [
    # The same technique on a different problem: a worked example must pass.
    "Here is a worked example on a different problem, counting even numbers:\n"
    "```python\ndef count_even(numbers):\n    count = 0\n    for n in numbers:\n"
    "        if n % 2 == 0:\n            count += 1\n    return count\n```\n"
    "Now try the same pattern on your exercise.",
    "Good question! Think about how you would count by hand. Which characters are vowels? "
    "A `for` loop visits each character of a string, and `text.lower()` makes the "
    "comparison easier. What would you add to a counter, and when?",
    # Quoting the exercise's own stub is not a leak.
    "Your function starts like this:\n```python\ndef count_vowels(text):\n"
    "    # YOUR CODE HERE\n```\nWhat should happen inside it?",
]
CUT = ("total += 1", "n += 1", "total+=1", "return")


def guard_and_index(**settings):
    guard = SolutionGuard(**settings)
    hidden = (
        "The trick of this exercise is to lower-case the text once and then compare "
        "every single character with the five vowels of the alphabet."
    )
    index = guard.build_index(
        [ProtectedText("count_vowels", SOLUTION), ProtectedText("hint", hidden, code=False)],
        [STUB, "Write a function count_vowels(text) that counts the vowels in text."],
    )
    return guard, index, hidden


def events_of(text: str, chunk: int = 5) -> list[dict]:
    deltas = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        for p in (text[i : i + chunk] for i in range(0, len(text), chunk))
    ]
    return [
        {"type": "message_start", "message": {"model": MODEL}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *deltas,
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        {"type": "message_stop"},
    ]


def relay(guard, index, events: list[dict]) -> tuple[list[dict], list[str]]:
    async def source():
        for event in events:
            yield event

    async def run():
        answer = guard.for_answer(index)
        return [e async for e in answer.filter(source())], answer.withheld

    return asyncio.run(run())


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")


def test_tokens_ignore_names_whitespace_and_comments() -> None:
    a = code_tokens("total = total + len(items)  # add")
    b = code_tokens("n=n+len( xs )")
    assert a == b == ["V", "=", "V", "+", "len", "(", "V", ")"]
    assert code_tokens("s.lower()") == ["V", ".", "lower", "(", ")"]
    assert code_tokens("x = 'a' + r\"b\" + 1_000") == ["V", "=", "S:a", "+", "S:b", "+", "1000"]


@pytest.mark.parametrize(
    "answer", [VERBATIM, RENAMED, REFORMATTED], ids=["verbatim", "renamed", "reformatted"]
)
def test_a_reproduced_solution_is_cut_early(answer: str) -> None:
    guard, index, _ = guard_and_index()
    out, withheld = relay(guard, index, events_of(answer))
    text = text_of(out)
    assert withheld == ["count_vowels"]
    assert "The tutor stopped here" in text and "count_vowels" in text
    before = text.split("The tutor stopped here")[0]
    assert not any(part in before for part in CUT), before
    assert before.count("```") % 2 == 0  # the open fence was closed before the notice
    assert [e["type"] for e in out][-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("answer", HONEST, ids=["other-problem", "prose", "stub"])
def test_an_honest_answer_passes_event_for_event(answer: str) -> None:
    guard, index, _ = guard_and_index()
    events = events_of(answer)
    out, withheld = relay(guard, index, events)
    assert withheld == []
    assert out == events


def test_hidden_prose_and_non_streamed_answers_are_guarded() -> None:
    guard, index, hidden = guard_and_index()
    out, withheld = relay(guard, index, events_of("Well: " + hidden, chunk=7))
    assert withheld == ["hint"]
    assert "five vowels of the alphabet" not in text_of(out)
    answer = guard.for_answer(index)
    kept = answer.text(VERBATIM)
    assert "The tutor stopped here" in kept and "total += 1" not in kept
    assert guard.for_answer(index).text(HONEST[0]) == HONEST[0]
    assert SolutionGuard(enabled=False).for_answer(index).text(VERBATIM) == VERBATIM


def _stored(url: str, conversation: str) -> tuple[str, bool]:
    with psycopg.connect(url) as conn:
        content = conn.execute(
            "SELECT content FROM messages WHERE conversation_id = %s AND role = 'assistant'",
            (conversation,),
        ).fetchone()[0]
        guarded = conn.execute(
            "SELECT guarded FROM tutor_questions WHERE conversation_id = %s", (conversation,)
        ).fetchone()[0]
    return content[0]["text"], guarded


async def test_the_gateway_cuts_the_stream_and_stores_what_was_sent(
    make_gateway, hub, fake_upstream, database_url
) -> None:
    insert_material(
        database_url,
        COURSE,
        "week1/loops.ipynb",
        protected=[(4, SOLUTION, "count_vowels")],
        visible=[(3, f"```python\n{STUB}\n```")],
    )
    gateway = await make_gateway(TutorGateway__default_course=COURSE)
    client = gateway.client(hub.token_for("student1", SCOPES))
    context = json.dumps({"notebook_path": "week1/loops.ipynb", "cell_index": 3})
    for answer in (VERBATIM, RENAMED, REFORMATTED, *HONEST):
        fake_upstream.script(Reply.text(answer, chunk_size=5))
        stream = await client.messages.create(
            model=MODEL,
            max_tokens=300,
            stream=True,
            messages=[{"role": "user", "content": "Just give me the code"}],
            extra_headers={"X-Tutor-Context": context},
        )
        deltas = [e.delta.text async for e in stream if e.type == "content_block_delta"]
        received = "".join(deltas)
        conversation = stream.response.headers["x-tutor-conversation-id"]
        stored, guarded = _stored(database_url, conversation)
        assert stored == received  # what the student saw is what is kept
        if answer in HONEST:
            assert deltas == [answer[i : i + 5] for i in range(0, len(answer), 5)]
            assert not guarded
        else:
            assert "The tutor stopped here" in received
            assert not any(part in received.split("The tutor stopped")[0] for part in CUT)
            assert guarded

    fake_upstream.script(Reply.text(VERBATIM))
    message = await client.messages.create(
        model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "code please"}]
    )
    assert "The tutor stopped here" in message.content[0].text
    assert "total += 1" not in message.content[0].text


def tool_call_events(tool_input: dict, chunk: int = 9) -> list[dict]:
    raw = json.dumps(tool_input)
    deltas = [
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": raw[i : i + chunk]},
        }
        for i in range(0, len(raw), chunk)
    ]
    return [
        {"type": "message_start", "message": {"model": MODEL}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Let me run it."},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "run_code", "input": {}},
        },
        *deltas,
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
        {"type": "message_stop"},
    ]


def tool_input_of(events: list[dict]) -> dict:
    return json.loads(
        "".join(
            e["delta"]["partial_json"]
            for e in events
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
        )
    )


def test_a_solution_written_into_a_tool_call_is_withheld() -> None:
    """The model cannot show the solution through run_code's input (the panel shows it)."""
    guard, index, _ = guard_and_index()
    code = RENAMED.split("```python\n")[1].split("```")[0]
    out, withheld = relay(guard, index, tool_call_events({"code": code}))
    assert withheld == ["count_vowels"]
    sent = tool_input_of(out)
    assert set(sent) == {"code"} and "withheld" in sent["code"] and "n += 1" not in sent["code"]
    assert [e["type"] for e in out][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    honest = {"code": "print(len('hello'))"}
    events = tool_call_events(honest)
    out, withheld = relay(guard, index, events)
    assert withheld == [] and out == events  # an honest tool call passes as it came
