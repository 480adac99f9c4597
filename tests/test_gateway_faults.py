"""Faults on the hub side: the database going away under the gateway and coming back,
and the gateway itself killed in the middle of an answer.

Each test runs its own database or gateway, so what it breaks disturbs nothing else.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import anthropic
import httpx
import httpx2
import psutil
import psycopg
import pytest
from fake_anthropic import Reply
from hub_harness import ExternalGateway

from jupyter_tutor_hub.db import EmbeddedPostgres, migrate

MODEL = "claude-sonnet-4-6"
SCOPES = ["access:services!service=tutor"]


async def ask(client: anthropic.AsyncAnthropic, text: str) -> str:
    stream = await client.messages.create(
        model=MODEL, max_tokens=100, stream=True, messages=[{"role": "user", "content": text}]
    )
    return "".join(
        [
            event.delta.text
            async for event in stream
            if event.type == "content_block_delta" and event.delta.type == "text_delta"
        ]
    )


async def test_database_restart_fails_clearly_then_recovers(
    make_gateway, hub, fake_upstream, tmp_path
) -> None:
    server = EmbeddedPostgres(tmp_path / "pgdata")
    try:
        url = server.create_database("faults")
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
        gateway = await make_gateway(
            db_url=url, Database__pool_timeout=2, Metering__max_open_streams=0
        )
        client = gateway.client(hub.token_for("student1", SCOPES))
        fake_upstream.script(Reply.text("Before the restart."))
        assert await ask(client, "first") == "Before the restart."

        postmaster = psutil.Process(server.pid)
        os.kill(postmaster.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        await asyncio.to_thread(postmaster.wait, 30)
        asked = len(fake_upstream.requests)
        # Under load: every request of a burst fails at once, clearly, and none goes upstream.
        outcomes = await asyncio.gather(
            *(ask(client, f"while the database is down {n}") for n in range(10)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            assert isinstance(outcome, anthropic.APIStatusError), outcome
            assert outcome.status_code == 503
            assert "database is not answering" in outcome.body["error"]["message"]
            assert "try again" in outcome.body["error"]["message"].lower()
        assert len(fake_upstream.requests) == asked  # nothing was sent upstream

        await asyncio.to_thread(server.ensure_running)
        fake_upstream.script(Reply.text("After the restart."))
        for _ in range(20):  # the pool replaces its dead connections by itself
            try:
                answer = await ask(client, "after")
                break
            except anthropic.APIStatusError:
                await asyncio.sleep(0.5)
        assert answer == "After the restart."
        fake_upstream.script(*[Reply.text("Burst answer.") for _ in range(10)])
        answers = await asyncio.gather(*(ask(client, f"burst {n}") for n in range(10)))
        assert answers == ["Burst answer."] * 10
        with psycopg.connect(url) as conn:
            statuses = conn.execute(
                "SELECT role, status, count(*) FROM messages GROUP BY role, status ORDER BY 1"
            ).fetchall()
        # Before, after and the burst: 12 turns, each stored whole; nothing while it was down.
        assert statuses == [("assistant", "complete", 12), ("user", "complete", 12)]
    finally:
        server.stop()


def test_gateway_killed_mid_answer_keeps_both_turns(
    hub, database_url, fake_upstream, tmp_path
) -> None:
    gateway = ExternalGateway(hub, database_url, fake_upstream, tmp_path)
    gateway.start()
    token = hub.token_for("student1", SCOPES)
    client = anthropic.Anthropic(base_url=gateway.url, auth_token=token, max_retries=0)
    answer = "Look at the loop condition first. " * 20
    fake_upstream.script(Reply.text(answer, chunk_size=10, delay=0.05))
    received = ""
    try:
        with (
            pytest.raises((anthropic.APIConnectionError, httpx2.HTTPError)),
            client.messages.stream(
                model=MODEL,
                max_tokens=300,
                messages=[{"role": "user", "content": "Why does my loop never end?"}],
            ) as stream,
        ):
            conversation = stream.response.headers["x-tutor-conversation-id"]
            for text in stream.text_stream:
                received += text
                if len(received) > 100:
                    time.sleep(0.5)  # at least one checkpoint after this text
                    gateway.kill()
        assert 100 < len(received) < len(answer)

        gateway.start()  # what Kubernetes (or the hub) does next
        time.sleep(1.2)  # the dead gateway's last checkpoint goes stale
        response = httpx.get(
            f"{gateway.url}/api/conversations/{conversation}",
            headers={"Authorization": f"Bearer {token}"},
        )
        turns = response.json()["messages"]
        assert [t["role"] for t in turns] == ["user", "assistant"]
        assert turns[0]["content"] == "Why does my loop never end?"
        assert turns[1]["status"] == "interrupted"
        partial = turns[1]["content"][0]["text"]
        assert partial and answer.startswith(partial) and len(partial) >= 100

        fake_upstream.script(Reply.text("Check what changes i."))
        with client.messages.stream(
            model=MODEL,
            max_tokens=300,
            messages=[{"role": "user", "content": "Try again please"}],
            extra_headers={"X-Tutor-Conversation-Id": conversation},
        ) as retry:
            assert retry.get_final_text() == "Check what changes i."
    finally:
        gateway.stop()
