"""Admission before expensive work, and a circuit breaker that cannot stick half-open.

The flood test runs a gateway in this process with a stub identifier (no hub), a pool
and an embedder that count their use, and an upstream held open by the test, so it can
say exactly what a refused request touched: nothing but memory.  The breaker is driven by
a fake clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from course_fixtures import HashingEmbedder
from fake_anthropic import Reply
from hub_harness import free_port
from tornado.httpserver import HTTPServer
from traitlets.config import Config

from jupyter_tutor_hub.apps.web import make_app
from jupyter_tutor_hub.db import Database
from jupyter_tutor_hub.gateway.auth import Caller
from jupyter_tutor_hub.gateway.breaker import CircuitBreaker
from jupyter_tutor_hub.gateway.upstream import Upstream
from jupyter_tutor_hub.policy.canned import canned_events
from jupyter_tutor_hub.scopes import ACCESS_SCOPE

MODEL = "claude-sonnet-4-6"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the breaker ------------------------------------------------------------------------


def test_breaker_opens_half_opens_and_closes_on_the_fake_clock() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and breaker.acquire() is None
    assert breaker.retry_after() == 10
    clock.now += 10
    assert breaker.state == "half-open"
    trial = breaker.acquire()
    assert trial is not None and trial.trial is not None
    assert breaker.acquire() is None  # one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 10
    assert breaker.acquire() is not None
    breaker.record_success()
    assert breaker.state == "closed"


@pytest.mark.parametrize("outcome", ["success", "failure", "release"])
def test_every_outcome_of_the_trial_frees_its_slot(outcome: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    trial = breaker.acquire()
    assert trial is not None
    getattr(breaker, "record_" + outcome, trial.release)()
    trial.release()  # always called afterwards; must not disturb the outcome
    if outcome == "failure":
        assert breaker.state == "open"
        clock.now += 5
    assert breaker.acquire() is not None


def test_a_request_that_is_not_the_trial_cannot_free_the_trial_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    older = breaker.acquire()  # admitted while closed, still running
    assert older is not None
    breaker.record_failure()
    clock.now += 5
    trial = breaker.acquire()
    assert trial is not None
    older.release()
    assert breaker.acquire() is None  # the trial still holds the slot
    trial.release()
    assert breaker.acquire() is not None


@pytest.fixture
def half_open_upstream(fake_upstream) -> tuple[Upstream, FakeClock]:
    """An upstream at the fake API whose breaker has just turned half-open."""
    clock = FakeClock()
    upstream = Upstream(api_key=fake_upstream.api_key, base_url=fake_upstream.url, max_retries=0)
    upstream.breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    upstream.breaker.record_failure()
    clock.now += 30
    return upstream, clock


PARAMS = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


async def test_a_trial_stream_whose_student_left_frees_the_slot(
    half_open_upstream, fake_upstream
) -> None:
    upstream, _ = half_open_upstream
    fake_upstream.script(Reply.text("one"), Reply.text("two"))
    stream = await upstream.open_stream(PARAMS)
    assert upstream.breaker.acquire() is None  # the trial runs
    await stream.close()  # the student left before the first event was relayed
    assert upstream.breaker.state == "half-open"
    second = await upstream.open_stream(PARAMS)  # the next request is the new trial
    events = [event async for event in second]
    await second.close()
    assert events[0]["type"] == "message_start"
    assert upstream.breaker.state == "closed"


async def test_the_first_relayed_event_closes_the_breaker(
    half_open_upstream, fake_upstream
) -> None:
    upstream, _ = half_open_upstream
    fake_upstream.script(Reply.text("a long answer " * 20, delay=0.01))
    stream = await upstream.open_stream(PARAMS)
    async for _event in stream:
        break  # one event relayed, then the student leaves
    assert upstream.breaker.state == "closed"
    await stream.close()
    assert upstream.breaker.state == "closed"


async def test_a_cancelled_trial_frees_the_slot(half_open_upstream, fake_upstream) -> None:
    upstream, _ = half_open_upstream
    fake_upstream.script(Reply.text("late", first_byte_delay=30))
    task = asyncio.ensure_future(upstream.open_stream(PARAMS))
    for _ in range(5):
        await asyncio.sleep(0)  # let it claim the trial slot
    assert upstream.breaker.acquire() is None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert upstream.breaker.acquire() is not None


# -- admission before expensive work ---------------------------------------------------


class StubIdentifier:
    """Every token is the user of that name (the hub's part is tested elsewhere)."""

    async def identify(self, token: str | None) -> Caller:
        return Caller(name=token or "nobody", scopes=frozenset({ACCESS_SCOPE}))


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def embed_query(self, text: str) -> Any:
        self.queries += 1
        return super().embed_query(text)


class HeldStream:
    """An upstream stream that starts only when the test opens the gate."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        await self.gate.wait()
        async for event in canned_events("A hint.", MODEL):
            yield event

    async def close(self) -> None:
        pass


class Flood:
    """A gateway whose pool, embedder and upstream count what they are asked for."""

    def __init__(self, gateway: Any, url: str) -> None:
        self.gateway = gateway
        self.url = url
        self.connections = 0
        self.embedder = CountingEmbedder()
        self.opened = 0
        self.asked = 0
        self.gate = asyncio.Event()
        gateway.embedder = self.embedder
        take = gateway.pool.connection

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.connections += 1
            return take(*args, **kwargs)

        gateway.pool.connection = counted

        async def open_stream(params: dict[str, Any]) -> HeldStream:
            self.opened += 1
            return HeldStream(self.gate)

        gateway.upstream.open_stream = open_stream

    async def ask(self, http: httpx.AsyncClient, user: str) -> httpx.Response:
        # A new question each time: a repeated one would come from the gateway's cache of
        # question embeddings and not reach the embedder.
        self.asked += 1
        return await http.post(
            self.url + "/v1/messages",
            headers={"Authorization": f"Bearer {user}"},
            json={
                "model": MODEL,
                "max_tokens": 100,
                "stream": True,
                "messages": [{"role": "user", "content": f"What is loop {self.asked}?"}],
            },
        )

    async def until(self, condition: Any, what: str) -> None:
        """Wait (yielding to the loop, bounded) until ``condition()`` holds."""
        for _ in range(20_000):
            if condition():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def flood(database_url: str) -> AsyncIterator[Flood]:
    config = Config()
    config.Upstream.api_key = "test-key"
    config.TutorGateway.default_course = "intro-python"
    config.Metering.daily_token_budget = 1_000_000
    config.Metering.requests_per_minute = 1000
    from jupyter_tutor_hub.gateway.service import TutorGateway

    gateway = TutorGateway(config=config)
    gateway.pool = await Database(url=database_url, config=config).open_async_pool()
    port = free_port()
    server = HTTPServer(make_app("/services/tutor/", gateway, StubIdentifier()))
    server.listen(port, "127.0.0.1")
    yield Flood(gateway, f"http://127.0.0.1:{port}/services/tutor")
    server.stop()
    await gateway.pool.close()


async def test_a_flood_is_refused_past_the_cap_without_database_or_embedder(
    flood: Flood,
) -> None:
    limits = httpx.Limits(max_connections=250)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        # One request alone (after a first one warmed the caches): what an admitted
        # request touches until the model answers.
        for _ in range(2):
            flood.gate.clear()
            flood.opened = flood.connections = flood.embedder.queries = 0
            alone = asyncio.ensure_future(flood.ask(http, "student1"))
            await flood.until(lambda: flood.opened == 1, "the request to reach upstream")
            per_request = flood.connections
            assert flood.embedder.queries == 1
            flood.gate.set()
            assert (await alone).status_code == 200

        flood.gate.clear()
        flood.opened = flood.connections = flood.embedder.queries = 0
        tasks = [asyncio.ensure_future(flood.ask(http, "student1")) for _ in range(200)]
        await flood.until(
            lambda: flood.opened == 3 and sum(t.done() for t in tasks) == 197,
            "197 refusals and 3 open answers",
        )
        # The 197 refused requests touched neither the database nor the embedder.
        assert flood.connections == 3 * per_request
        assert flood.embedder.queries == 3
        # Another student is not affected by the first one's cap.
        other = asyncio.ensure_future(flood.ask(http, "student2"))
        await flood.until(lambda: flood.opened == 4, "the other student's answer")
        flood.gate.set()
        responses = await asyncio.gather(*tasks, other)

    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 197
    assert {r.headers["x-tutor-error-code"] for r in refused} == {"too_many_streams"}
    assert "3 questions being answered" in refused[0].json()["error"]["message"]
    assert sum(r.status_code == 200 for r in responses) == 4
    assert not flood.gateway.metering._open  # every slot given back


async def test_a_burst_is_prepared_a_few_at_a_time_and_every_question_answered(
    flood: Flood,
) -> None:
    """``TutorGateway.max_preparing``: a class asking at once queues in memory, in order,
    instead of all holding (and timing out on) database connections."""
    flood.gateway.max_preparing = 1
    take = flood.gateway.pool.connection
    in_use = peak = 0

    @contextlib.asynccontextmanager
    async def tracked(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        nonlocal in_use, peak
        async with take(*args, **kwargs) as conn:
            in_use += 1
            peak = max(peak, in_use)
            try:
                yield conn
            finally:
                in_use -= 1

    flood.gateway.pool.connection = tracked
    async with httpx.AsyncClient(timeout=60) as http:
        flood.gate.clear()
        asking = [asyncio.ensure_future(flood.ask(http, f"student{n}")) for n in range(8)]
        await flood.until(lambda: flood.opened == 8, "every question to reach upstream")
        # One question prepared at a time: its policy, passages and guard at once (3).
        assert peak <= 3
        flood.gate.set()
        responses = await asyncio.gather(*asking)
    assert [r.status_code for r in responses] == [200] * 8


def test_the_demo_gateway_ships_with_limits(tmp_path) -> None:
    from traitlets.config import Config as HubConfig
    from traitlets.config.loader import PyFileConfigLoader

    from jupyter_tutor_hub.gateway.metering import Metering
    from jupyter_tutor_hub.hubconfig import DEMO_GATEWAY_CONFIG, apply_demo_config

    c = HubConfig()
    apply_demo_config(c, {"TUTOR_DATA_DIR": str(tmp_path), "TUTOR_DEMO_PASSWORD": "x"})
    (service,) = [s for s in c.JupyterHub.services if s["name"] == "tutor"]
    assert service["environment"]["TUTOR_GATEWAY_CONFIG"] == str(DEMO_GATEWAY_CONFIG)
    loader = PyFileConfigLoader(DEMO_GATEWAY_CONFIG.name, str(DEMO_GATEWAY_CONFIG.parent))
    metering = Metering(config=loader.load_config())
    assert metering.daily_token_budget > 0 and metering.daily_usd_budget > 0
    assert metering.requests_per_minute > 0 and metering.max_open_streams > 0


async def test_large_and_deep_bodies_are_refused_with_a_reason(flood: Flood) -> None:
    headers = {"Authorization": "Bearer student1"}
    async with httpx.AsyncClient(timeout=60) as http:
        big = await http.post(
            flood.url + "/api/search",
            headers=headers,
            content=b'{"query": "' + b"x" * 10_000_000 + b'"}',
        )
        assert big.status_code == 413 and "too large" in big.json()["error"]["message"]
        deep = b'{"messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        for route in ("/v1/messages", "/api/search", "/api/feedback"):
            answer = await http.post(flood.url + route, headers=headers, content=deep)
            assert answer.status_code in (400, 413), (route, answer.text)
            assert answer.json()["error"]["message"]


def test_hub_auth_settings_apply_to_the_gateway() -> None:
    from jupyter_tutor_hub.apps.gateway import GatewayApp

    config = Config()
    config.HubAuth.cache_max_age = 42
    identifier = GatewayApp(config=config).identifier()
    assert identifier.hub_auth.cache_max_age == 42
