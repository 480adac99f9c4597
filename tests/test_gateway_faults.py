"""Faults on the hub side: the database going away under the gateway, and coming back.

Each test runs its own embedded PostgreSQL, so stopping it disturbs nothing else.
"""

from __future__ import annotations

import asyncio
import os
import signal

import anthropic
import psutil
import psycopg
from fake_anthropic import Reply

from jupyter_tutor_hub.db import EmbeddedPostgres, migrate

MODEL = "claude-sonnet-4-5"
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
        gateway = await make_gateway(db_url=url, Database__pool_timeout=2)
        client = gateway.client(hub.token_for("student1", SCOPES))
        fake_upstream.script(Reply.text("Before the restart."))
        assert await ask(client, "first") == "Before the restart."

        postmaster = psutil.Process(server.pid)
        os.kill(postmaster.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        await asyncio.to_thread(postmaster.wait, 30)
        asked = len(fake_upstream.requests)
        try:
            await ask(client, "while the database is down")
        except anthropic.APIStatusError as err:
            assert err.status_code == 503
            assert "database is not answering" in err.body["error"]["message"]
            assert "try again" in err.body["error"]["message"].lower()
        else:
            raise AssertionError("a request with the database down must fail")
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
        with psycopg.connect(url) as conn:
            statuses = conn.execute(
                "SELECT role, status FROM messages ORDER BY id"
            ).fetchall()
        assert statuses[-2:] == [("user", "complete"), ("assistant", "complete")]
    finally:
        server.stop()
