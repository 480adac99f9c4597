"""The OpenAI-compatible upstream against the fake Chat Completions API: the request it
sends, the Anthropic events it yields (text, tool calls with streamed arguments, usage,
stop reasons), and its errors (429 with retry-after, 5xx, a mid-stream failure)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply

from jupyter_tutor_hub.gateway.errors import GatewayError
from jupyter_tutor_hub.gateway.recorder import AnswerRecorder
from jupyter_tutor_hub.gateway.upstream import Upstream
from jupyter_tutor_hub.gateway.upstreams.openai_compat import OpenAIUpstream
from jupyter_tutor_hub.gateway.upstreams.router import Router
from jupyter_tutor_hub.gateway.upstreams.translate import chat_request

MODEL = "campus/qwen"
RUN_CODE = {
    "name": "run_code",
    "description": "Run Python in the student's kernel.",
    "input_schema": {"type": "object", "properties": {"code": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.clear()
    return fake_server


def upstream(fake: FakeOpenAI, **settings: Any) -> OpenAIUpstream:
    return OpenAIUpstream(
        api_key=fake.api_key,
        base_url=fake.url,
        models={MODEL: "qwen2.5-coder"},
        max_retries=0,
        **settings,
    )


def params(**extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 200,
        "system": [{"type": "text", "text": "You are a tutor."}],
        "messages": [{"role": "user", "content": "What is a list?"}],
    } | extra


async def events_of(up: OpenAIUpstream, body: dict[str, Any]) -> list[dict[str, Any]]:
    stream = await up.open_stream(body)
    try:
        return [event async for event in stream]
    finally:
        await stream.close()


async def test_streamed_text_is_the_anthropic_sequence(fake: FakeOpenAI) -> None:
    fake.script(Reply.text("A list holds items in order.", input_tokens=40, output_tokens=7))
    events = await events_of(upstream(fake), params())
    assert [e["type"] for e in events[:2]] == ["message_start", "content_block_start"]
    assert [e["type"] for e in events[-3:]] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    recorder = AnswerRecorder()
    for event in events:
        recorder.feed(event)
    assert recorder.content == [{"type": "text", "text": "A list holds items in order."}]
    assert recorder.stop_reason == "end_turn"
    assert recorder.model == MODEL  # the public name, never the upstream's own
    assert (recorder.usage.input_tokens, recorder.usage.output_tokens) == (40, 7)
    sent = fake.requests[-1].body
    assert sent["model"] == "qwen2.5-coder"
    assert sent["messages"][0] == {"role": "system", "content": "You are a tutor."}
    assert sent["stream_options"] == {"include_usage": True}


async def test_streamed_tool_call_arguments_become_input_json_deltas(fake: FakeOpenAI) -> None:
    fake.script(
        Reply.tool_use("run_code", {"code": "print(1 + 1)"}, text="Let me run it.", chunk_size=5)
    )
    events = await events_of(upstream(fake), params(tools=[RUN_CODE]))
    pieces = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert len(pieces) > 1 and json.loads("".join(pieces)) == {"code": "print(1 + 1)"}
    recorder = AnswerRecorder()
    for event in events:
        recorder.feed(event)
    text, tool = recorder.content
    assert text == {"type": "text", "text": "Let me run it."}
    assert tool["type"] == "tool_use" and tool["name"] == "run_code"
    assert tool["input"] == {"code": "print(1 + 1)"} and tool["id"].startswith("call_")
    assert recorder.stop_reason == "tool_use"
    assert fake.requests[-1].body["tools"][0]["function"]["name"] == "run_code"


async def test_tool_round_is_sent_as_tool_messages(fake: FakeOpenAI) -> None:
    messages = [
        {"role": "user", "content": "Run it."},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Running."},
                {"type": "tool_use", "id": "call_1", "name": "run_code", "input": {"code": "1"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "1"}],
        },
    ]
    body = chat_request(params(messages=messages, tools=[RUN_CODE]), "m")
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "run_code",
        "arguments": '{"code": "1"}',
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "1"}
    assert "tools" not in chat_request(params(tools=[RUN_CODE]), "m", tools=False)


async def test_not_streamed(fake: FakeOpenAI) -> None:
    fake.script(Reply.tool_use("run_code", {"code": "x"}, input_tokens=9, output_tokens=3))
    message = await upstream(fake).create(params(tools=[RUN_CODE]))
    assert message["model"] == MODEL and message["stop_reason"] == "tool_use"
    assert message["content"][0]["input"] == {"code": "x"}
    assert message["usage"] == {"input_tokens": 9, "output_tokens": 3}


async def test_rate_limit_keeps_retry_after(fake: FakeOpenAI) -> None:
    fake.script(Reply.error(429, "requests", "Rate limit reached", retry_after=7))
    with pytest.raises(GatewayError) as raised:
        await upstream(fake).open_stream(params())
    assert raised.value.status == 429 and "7 s" in raised.value.message


async def test_server_errors_open_the_breaker(fake: FakeOpenAI) -> None:
    up = upstream(fake, breaker_threshold=2)
    fake.script(*[Reply.error(503, "server_error", "down") for _ in range(2)])
    for _ in range(2):
        with pytest.raises(GatewayError) as raised:
            await up.open_stream(params())
        assert "unavailable" in raised.value.message
    assert up.breaker.state == "open"
    with pytest.raises(GatewayError):
        await up.open_stream(params())
    assert len(fake.requests) == 2  # the open breaker sends nothing


async def test_mid_stream_failure_is_a_connection_error(fake: FakeOpenAI) -> None:
    fake.script(Reply.mid_stream_error("Half an answ", error_type="server_error"))
    up = upstream(fake)
    stream = await up.open_stream(params())
    seen: list[dict[str, Any]] = []
    with pytest.raises(up.connection_errors):
        async for event in stream:
            seen.append(event)
    texts = [e["delta"]["text"] for e in seen if e["type"] == "content_block_delta"]
    assert "".join(texts) == "Half an answ"


def test_router_from_the_demo_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``jupyter-tutor demo --upstream URL --model NAME`` sets these for the gateway."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("TUTOR_MODEL", "llama3.2")
    router = Router(anthropic=Upstream(api_key=""))
    name, chosen = router.pick(router.model_for("", "claude-sonnet-4-6"))
    assert name == "openai" and isinstance(chosen, OpenAIUpstream)
    assert chosen.base_url == "http://127.0.0.1:11434/v1"
    assert not router.offline("llama3.2")  # Ollama needs no key
    assert router.model_for("claude-haiku-4-5", "claude-sonnet-4-6") == "claude-haiku-4-5"
    assert router.pick("claude-haiku-4-5") == ("anthropic", router.anthropic)
