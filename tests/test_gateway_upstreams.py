"""The gateway with an OpenAI-compatible upstream beside Anthropic's, against both fakes:
a course routed to each, a tool round answered through Chat Completions, the output guard,
budgets at the upstream's prices, failover from a 529 and a model that cannot call tools.

The student's side always speaks the Messages API (the ``anthropic`` SDK here, and the
orchestrator of a real student server in the end-to-end tool round).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fake_anthropic import FakeAnthropic
from fake_openai import FakeOpenAI, Reply
from policy_fixtures import SOLUTION, STUB, insert_material
from psycopg.types.json import Jsonb
from server_harness import notebook, serve_student

from jupyter_tutor_hub.gateway.upstreams.router import FAILOVER_NOTICE
from jupyter_tutor_hub.policy.config import CourseConfig

SCOPES = ["access:services!service=tutor", "custom:tutor:use"]
MODEL = "claude-sonnet-4-6"
CAMPUS = "campus/qwen"
PRICE = {"input": 0.5, "output": 1.5}
RUN_CODE = {
    "name": "run_code",
    "description": "Run Python in the student's kernel and see its output.",
    "input_schema": {"type": "object", "properties": {"code": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_openai(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.clear()
    return openai_server


@pytest.fixture
def start(make_gateway, fake_openai, tmp_path):
    """A gateway with the campus upstream (the fake) serving ``campus/qwen``."""
    key_file = tmp_path / "campus-key"
    key_file.write_text(fake_openai.api_key + "\n")

    async def started(course: str = "", tools: bool = True, **settings: Any):
        campus = {
            "name": "campus",
            "base_url": fake_openai.url,
            "api_key_file": str(key_file),
            "models": {CAMPUS: "qwen2.5-coder:32b"},
            "prices": {CAMPUS: PRICE},
            "tools": tools,
        }
        return await make_gateway(
            Router__upstreams=[campus],
            ModelPolicy__allowed_models=[MODEL, "claude-haiku-4-5", CAMPUS],
            Upstream__max_retries=0,
            TutorGateway__default_course=course,
            **settings,
        )

    return started


def publish_model(url: str, course: str, model: str) -> None:
    """A published course whose tutor.yaml names ``model``."""
    config = CourseConfig(name=course, model=model)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO courses (id, title) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (course, course),
        )
        conn.execute(
            "INSERT INTO course_policies (course_id, config, source_path) VALUES (%s, %s, '')"
            " ON CONFLICT (course_id) DO UPDATE SET config = EXCLUDED.config",
            (course, Jsonb(config.to_json())),
        )


async def stream_answer(client, messages, **extra: Any) -> tuple[list[Any], Any]:
    stream = await client.messages.create(
        model=MODEL, max_tokens=300, stream=True, messages=messages, **extra
    )
    events = [event async for event in stream]
    return events, stream.response


def text_of(events: list[Any]) -> str:
    return "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )


async def test_course_routed_to_openai_answers_a_tool_round(
    start, hub, fake_upstream: FakeAnthropic, fake_openai: FakeOpenAI, database_url
) -> None:
    publish_model(database_url, "campus-course", CAMPUS)
    gateway = await start(course="campus-course")
    token = hub.token_for("student1", SCOPES)
    client = gateway.client(token)
    question = [{"role": "user", "content": "Why does my loop print nothing?"}]
    fake_openai.script(
        Reply.tool_use(
            "run_code",
            {"code": "print(list(range(3)))"},
            text="Let me check.",
            chunk_size=4,
            input_tokens=1000,
            output_tokens=500,
        ),
        Reply.text("It prints [0, 1, 2]: the loop runs.", input_tokens=1000, output_tokens=500),
    )
    events, response = await stream_answer(client, question, tools=[RUN_CODE])
    assert "x-tutor-tools" not in response.headers
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    tool = starts[1]
    assert (tool.type, tool.name) == ("tool_use", "run_code")
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(partial) == {"code": "print(list(range(3)))"}
    assert next(e for e in events if e.type == "message_delta").delta.stop_reason == "tool_use"
    assert events[0].message.model == CAMPUS  # the hub's name, not the upstream's

    conversation = response.headers["x-tutor-conversation-id"]
    second = [
        *question,
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": tool.id,
                    "name": "run_code",
                    "input": {"code": "print(list(range(3)))"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "[0, 1, 2]"}],
        },
    ]
    events, _ = await stream_answer(
        client, second, tools=[RUN_CODE], extra_headers={"X-Tutor-Conversation-Id": conversation}
    )
    assert text_of(events) == "It prints [0, 1, 2]: the loop runs."
    assert fake_upstream.requests == []  # Anthropic was never asked
    sent = fake_openai.requests[-1].body
    assert sent["model"] == "qwen2.5-coder:32b"
    assert sent["messages"][0]["role"] == "system"  # the gateway's prompt went along
    assert {"role": "tool", "tool_call_id": tool.id, "content": "[0, 1, 2]"} in sent["messages"]

    async with httpx.AsyncClient() as http:
        usage = (
            await http.get(gateway.url + "/api/usage", headers={"Authorization": f"Bearer {token}"})
        ).json()
    assert usage["tokens"] == 3000
    assert usage["cost_usd"] == pytest.approx(2 * (1000 * 0.5 + 500 * 1.5) / 1e6)


async def test_course_routed_to_anthropic(
    start, hub, fake_upstream: FakeAnthropic, fake_openai: FakeOpenAI, database_url
) -> None:
    publish_model(database_url, "claude-course", "claude-haiku-4-5")
    gateway = await start(course="claude-course")
    client = gateway.client(hub.token_for("student2", SCOPES))
    events, _ = await stream_answer(client, [{"role": "user", "content": "What is a dict?"}])
    assert text_of(events)
    assert [r.body["model"] for r in fake_upstream.requests] == ["claude-haiku-4-5"]
    assert fake_openai.requests == []


async def test_failover_from_overloaded_anthropic(
    start, hub, fake_upstream: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    from fake_anthropic import Reply as AnthropicReply

    gateway = await start(Router__fallbacks={MODEL: CAMPUS})
    client = gateway.client(hub.token_for("student3", SCOPES))
    fake_upstream.script(AnthropicReply.error(529, "overloaded_error", "Overloaded"))
    fake_openai.script(Reply.text("A tuple cannot change."))
    events, _ = await stream_answer(client, [{"role": "user", "content": "What is a tuple?"}])
    assert text_of(events) == FAILOVER_NOTICE + "A tuple cannot change."
    assert len(fake_upstream.requests) == 1 and len(fake_openai.requests) == 1

    fake_upstream.script(AnthropicReply.error(529, "overloaded_error", "Overloaded"))
    fake_openai.script(Reply.text("Not streamed."))
    message = await client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "And a set?"}]
    )
    assert [b.text for b in message.content] == [FAILOVER_NOTICE, "Not streamed."]


async def test_a_model_without_tools_is_declared(
    start, hub, fake_upstream: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    gateway = await start(tools=False)
    client = gateway.client(hub.token_for("student1", SCOPES))
    stream = await client.messages.create(
        model=CAMPUS,
        max_tokens=100,
        stream=True,
        tools=[RUN_CODE],
        messages=[{"role": "user", "content": "Run my code"}],
    )
    assert text_of([e async for e in stream])
    assert stream.response.headers["x-tutor-tools"] == "none"
    assert "tools" not in fake_openai.requests[-1].body


async def test_the_guard_withholds_a_replayed_solution(
    start, hub, fake_openai: FakeOpenAI, database_url
) -> None:
    course = "campus-guard"
    insert_material(
        database_url,
        course,
        "week1/loops.ipynb",
        protected=[(4, SOLUTION, "count_vowels")],
        visible=[(3, f"```python\n{STUB}\n```")],
    )
    gateway = await start(course=course)
    client = gateway.client(hub.token_for("student2", SCOPES))
    fake_openai.script(Reply.text(f"Here it is:\n```python\n{SOLUTION}\n```\nDone.", chunk_size=5))
    stream = await client.messages.create(
        model=CAMPUS,
        max_tokens=300,
        stream=True,
        messages=[{"role": "user", "content": "Just give me the code"}],
    )
    received = text_of([e async for e in stream])
    assert "The tutor stopped here" in received
    assert "total += 1" not in received


async def test_failover_while_the_breaker_is_open(
    start, hub, fake_upstream: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    """Once Anthropic's breaker is open, answers go to the fallback without asking it."""
    from fake_anthropic import Reply as AnthropicReply

    gateway = await start(
        Router__fallbacks={MODEL: CAMPUS},
        Upstream__breaker_threshold=1,
        Upstream__breaker_cooldown=600,
    )
    client = gateway.client(hub.token_for("student3", SCOPES))
    fake_upstream.script(AnthropicReply.error(500, "api_error", "Internal error"))
    fake_openai.script(Reply.text("First."), Reply.text("Second."))
    first, _ = await stream_answer(client, [{"role": "user", "content": "What is a list?"}])
    assert text_of(first) == FAILOVER_NOTICE + "First."
    second, _ = await stream_answer(client, [{"role": "user", "content": "And a tuple?"}])
    assert text_of(second) == FAILOVER_NOTICE + "Second."
    assert len(fake_upstream.requests) == 1  # the open breaker kept Anthropic out of it
    assert len(fake_openai.requests) == 2


async def test_orchestrator_tool_round_through_openai(
    start, hub, fake_upstream: FakeAnthropic, fake_openai: FakeOpenAI, database_url, tmp_path
) -> None:
    """A real student server asks; the campus model calls run_code, the orchestrator runs it
    in a scratch kernel and the model answers from its output: all over Chat Completions."""
    publish_model(database_url, "campus-e2e", CAMPUS)
    gateway = await start(course="campus-e2e")
    servers = serve_student(hub, tmp_path, "student2", gateway_url=gateway.url)
    server = await asyncio.to_thread(next, servers)
    try:
        (server.root / "work.ipynb").write_text(json.dumps(notebook("nums = [1, 2, 3]")))
        fake_openai.script(
            Reply.tool_use("run_code", {"code": "print(sum([1, 2, 3]) * 7)"}, chunk_size=3),
            Reply.text("Your list sums to 6; times 7 is 42."),
        )
        body = {
            "message": "What does sum do with my list?",
            "context": {"notebook_path": "work.ipynb", "cell_index": 0},
        }
        events = await asyncio.to_thread(server.chat, body)
    finally:
        await asyncio.to_thread(next, servers, None)
    calls = [e for e in events if e["type"] == "tool_call"]
    results = [e for e in events if e["type"] == "tool_result"]
    assert [c["name"] for c in calls] == ["run_code"]
    assert results[0]["is_error"] is False and "42" in results[0]["output"]
    text = "".join(e["delta"] for e in events if e["type"] == "text")
    assert text == "Your list sums to 6; times 7 is 42."
    assert fake_upstream.requests == []
    sent = fake_openai.requests[-1].body["messages"]
    tool_message = next(m for m in sent if m["role"] == "tool")
    assert tool_message["tool_call_id"] == calls[0]["id"] and "42" in tool_message["content"]
