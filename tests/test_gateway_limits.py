"""Budgets, rate limits, non-streaming answers and the offline responder.

Each test runs its own gateway in this process (``make_gateway`` in conftest.py),
configured for the case, on a fresh database; callers are identified by the session's
real JupyterHub, and upstream is the fake Anthropic API.
"""

from __future__ import annotations

import asyncio

import anthropic
import psycopg
import pytest
from course_fixtures import HashingEmbedder
from fake_anthropic import Reply

MODEL = "claude-sonnet-4-6"
SCOPES = ["access:services!service=tutor"]


async def ask(client: anthropic.AsyncAnthropic, text: str = "What is a loop?", **kw) -> str:
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=kw.pop("max_tokens", 200),
        stream=True,
        messages=[{"role": "user", "content": text}],
        **kw,
    )
    parts = []
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            parts.append(event.delta.text)
    return "".join(parts)


async def test_budget_holds_under_twenty_concurrent_requests(
    make_gateway, hub, fake_upstream, database_url
) -> None:
    budget = 3000
    per_request = 100 + 150  # the fake reports 100 input and 150 output tokens
    # All twenty in flight at once (no cap on open requests), each reserving the tutor's
    # rules (about 3,000 characters here: no course) on top of the question.
    gateway = await make_gateway(
        Metering__daily_token_budget=budget,
        Metering__min_output_tokens=50,
        Metering__max_open_streams=0,
        Metering__prompt_allowance_chars=3000,
    )
    fake_upstream.script(
        *[
            Reply.text("A short hint.", input_tokens=100, output_tokens=150, delay=0.02)
            for _ in range(20)
        ]
    )
    client = gateway.client(hub.token_for("student1", SCOPES))
    results = await asyncio.gather(*(ask(client) for _ in range(20)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, anthropic.RateLimitError)]
    answered = [r for r in results if isinstance(r, str)]
    assert len(refused) + len(answered) == 20, results
    assert refused and answered
    assert "today's tutor budget" in refused[0].body["error"]["message"]
    assert refused[0].response.headers["x-tutor-error-code"] == "budget_exceeded"
    assert int(refused[0].response.headers["retry-after"]) > 0
    with psycopg.connect(database_url) as conn:
        spent = conn.execute(
            "SELECT tokens FROM usage_daily WHERE user_name = 'student1'"
        ).fetchone()[0]
        open_reservations = conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0]
    assert spent <= budget + per_request
    assert spent == len(answered) * per_request
    assert open_reservations == 0


async def test_usd_budget_and_usage_endpoint(make_gateway, hub, fake_upstream) -> None:
    import httpx

    gateway = await make_gateway(
        Metering__daily_usd_budget=0.01, Metering__prompt_allowance_chars=3000
    )
    token = hub.token_for("student2", SCOPES)
    fake_upstream.script(Reply.text("ok", input_tokens=1000, output_tokens=500))
    await ask(gateway.client(token))
    async with httpx.AsyncClient() as http:
        usage = (
            await http.get(gateway.url + "/api/usage", headers={"Authorization": f"Bearer {token}"})
        ).json()
        assert usage["tokens"] == 1500
        assert usage["cost_usd"] == pytest.approx((1000 * 3 + 500 * 15) / 1e6)
        others = await http.get(
            gateway.url + "/api/usage?all=1", headers={"Authorization": f"Bearer {token}"}
        )
        assert others.status_code == 403


async def test_rate_limit_per_minute(make_gateway, hub) -> None:
    gateway = await make_gateway(Metering__requests_per_minute=2)
    client = gateway.client(hub.token_for("student3", SCOPES))
    await ask(client)
    await ask(client)
    with pytest.raises(anthropic.RateLimitError) as info:
        await ask(client)
    assert "questions a minute" in info.value.body["error"]["message"]
    assert info.value.response.headers["x-should-retry"] == "false"


async def test_a_refused_student_gets_no_head_start_on_embedding(make_gateway, hub) -> None:
    """Questions are embedded beside their admission, except a caller's just refused:
    a flood of refused requests must not buy model time."""
    gateway = await make_gateway(Metering__requests_per_minute=2)
    embedder = HashingEmbedder()
    embedded: list[str] = []
    embed = embedder.embed_documents
    embedder.embed_documents = lambda texts: embedded.extend(texts) or embed(texts)  # type: ignore[method-assign]
    gateway.gateway.embedder = embedder
    client = gateway.client(hub.token_for("student3", SCOPES))
    await ask(client, "first question about loops")
    await ask(client, "second question about loops")
    for text in ("third question about loops", "fourth question about loops"):
        with pytest.raises(anthropic.RateLimitError):
            await ask(client, text)
    await asyncio.sleep(0.2)  # a prefetch in flight would have reached the model by now
    assert "third question about loops" in embedded  # before its first refusal
    assert "fourth question about loops" not in embedded


async def test_model_allow_list_and_max_tokens_cap(make_gateway, hub, fake_upstream) -> None:
    gateway = await make_gateway(ModelPolicy__max_tokens_cap=128)
    client = gateway.client(hub.token_for("student1", SCOPES))
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(
            model="claude-opus-9", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert "not available here" in info.value.body["error"]["message"]
    await ask(client, max_tokens=5000)
    assert fake_upstream.requests[-1].body["max_tokens"] == 128


async def test_simple_questions_route_to_the_cheaper_model(
    make_gateway, hub, fake_upstream
) -> None:
    gateway = await make_gateway(ModelPolicy__simple_model="claude-haiku-4-5")
    client = gateway.client(hub.token_for("student1", SCOPES))
    await ask(client, "What is a tuple?")
    assert fake_upstream.requests[-1].body["model"] == "claude-haiku-4-5"
    await ask(client, "Why this?\nTraceback (most recent call last):\nNameError: name 'x'")
    assert fake_upstream.requests[-1].body["model"] == MODEL


async def test_non_streaming_answer_is_stored(
    make_gateway, hub, fake_upstream, database_url
) -> None:
    gateway = await make_gateway()
    client = gateway.client(hub.token_for("student1", SCOPES))
    fake_upstream.script(Reply.text("Non-streamed hint."))
    message = await client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hint please"}]
    )
    assert message.content[0].text == "Non-streamed hint."
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT role, status FROM messages ORDER BY id").fetchall()
    assert rows == [("user", "complete"), ("assistant", "complete")]


async def test_offline_responder_explains_the_error(make_gateway, hub, fake_upstream) -> None:
    gateway = await make_gateway(api_key=None)
    client = gateway.client(hub.token_for("student1", SCOPES))
    text = await ask(client, "I get NameError: name 'total' is not defined")
    assert "No AI model is connected" in text
    assert "NameError" in text and "spelling" in text
    assert fake_upstream.requests == []
    message = await client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "IndexError?"}]
    )
    assert message.model == "tutor-offline"
    assert "indexes start at 0" in message.content[0].text


async def test_malformed_requests_are_400_with_a_reason(make_gateway, hub) -> None:
    import httpx

    gateway = await make_gateway()
    headers = {"Authorization": f"Bearer {hub.token_for('student1', SCOPES)}"}
    cases = [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": []}', "non-empty"),
        (
            b'{"model": "claude-sonnet-4-6", "max_tokens": "5", "messages": [{"role": "user", '
            b'"content": "x"}]}',
            "max_tokens",
        ),
        (b"x" * (3 * 1024 * 1024), "too large"),
        (
            b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", '
            b'"content": "a\\u0000b"}]}',
            "NUL character",
        ),
        (
            b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", '
            b'"content": "\\ud800"}]}',
            "invalid Unicode",
        ),
    ]
    async with httpx.AsyncClient() as http:
        for body, reason in cases:
            response = await http.post(gateway.url + "/v1/messages", content=body, headers=headers)
            assert 400 <= response.status_code < 500, (body[:40], response.text)
            assert reason in response.json()["error"]["message"]
        bad_id = await http.post(
            gateway.url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
            headers=headers | {"X-Tutor-Conversation-Id": "nope"},
        )
        assert bad_id.status_code == 400


async def test_citations_are_stored_with_the_answer(make_gateway, hub, fake_upstream) -> None:
    """The passages an answer was grounded in come back with it from the history."""
    import httpx

    from jupyter_tutor.protocol import CITATIONS_HEADER, decode_citations
    from jupyter_tutor_hub.course.search import Hit

    gateway = await make_gateway()
    passage = Hit("intro-python", "02-lists-and-loops.ipynb", "Lists", 2, "fruits = []", 0.9)

    async def retrieve(course, question, k=None):
        return [passage]  # retrieval itself is tested in test_course_search.py

    gateway.gateway.retrieve = retrieve
    token = hub.token_for("student1", SCOPES)
    fake_upstream.script(Reply.text("Use append."))
    async with gateway.client(token).messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "add to a list?"}]
    ) as stream:
        cited = decode_citations(stream.response.headers.get(CITATIONS_HEADER))
        conversation = stream.response.headers["x-tutor-conversation-id"]
        await stream.get_final_message()
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{gateway.url}/api/conversations/{conversation}",
            headers={"Authorization": f"Bearer {token}"},
        )
    answer = response.json()["messages"][-1]
    assert answer["role"] == "assistant"
    assert answer["citations"] == cited
    assert cited[0]["path"] == "02-lists-and-loops.ipynb" and cited[0]["cell"] == 2
    assert "citations" not in response.json()["messages"][0]
