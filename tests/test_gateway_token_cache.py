"""The gateway's cache of hub token lookups: one hub request per token per short while, and
a revoked or expired token refused once its entry expires.

A stand-in hub (``HubAuth.user_for_token`` replaced) and a fake clock: nothing waits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jupyterhub.services.auth import HubAuth
from traitlets.config import Config

from jupyter_tutor_hub.gateway.auth import HubTokenIdentifier
from jupyter_tutor_hub.gateway.errors import GatewayError

SCOPE = "access:services!service=tutor"


class StandInHub:
    """Tokens the hub knows; counts lookups; a lookup can be held open by the test."""

    def __init__(self) -> None:
        self.tokens: dict[str, dict[str, Any]] = {}
        self.lookups = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def user_for_token(
        self, token: str, use_cache: bool = True, session_id: str = "", *, sync: bool = True
    ) -> dict[str, Any] | None:
        assert not use_cache and not sync  # the gateway keeps its own cache
        self.lookups += 1
        await self.gate.wait()
        return self.tokens.get(token)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(max_age: int = 60, **kwargs: Any) -> tuple[HubTokenIdentifier, StandInHub, Clock]:
    hub = StandInHub()
    hub_auth = HubAuth(api_url="http://127.0.0.1:1/hub/api", api_token="unused")
    hub_auth.cache_max_age = max_age
    hub_auth.user_for_token = hub.user_for_token  # type: ignore[method-assign]
    clock = Clock()
    return HubTokenIdentifier(hub_auth, clock=clock, **kwargs), hub, clock


def student(name: str) -> dict[str, Any]:
    return {"kind": "user", "name": name, "groups": [], "scopes": [SCOPE]}


async def test_a_token_is_looked_up_once_while_its_answer_is_fresh() -> None:
    identifier, hub, clock = make()
    hub.tokens["t1"] = student("ada")
    for _ in range(5):
        assert (await identifier.identify("t1")).name == "ada"
        clock.now += 10
    assert hub.lookups == 1
    clock.now += 60
    await identifier.identify("t1")
    assert hub.lookups == 2


async def test_a_revoked_token_is_refused_once_its_entry_expires() -> None:
    identifier, hub, clock = make(max_age=60)
    hub.tokens["t1"] = student("ada")
    await identifier.identify("t1")
    del hub.tokens["t1"]  # revoked (or expired) at the hub
    clock.now += 59
    assert (await identifier.identify("t1")).name == "ada"  # the documented bound
    clock.now += 1
    with pytest.raises(GatewayError) as refused:
        await identifier.identify("t1")
    assert refused.value.status == 401
    # The refusal is remembered no longer than an acceptance.
    hub.tokens["t1"] = student("ada")
    clock.now += 60
    assert (await identifier.identify("t1")).name == "ada"


async def test_concurrent_questions_with_one_token_share_one_lookup() -> None:
    identifier, hub, _ = make()
    hub.tokens["t1"] = student("ada")
    hub.gate.clear()
    asking = [asyncio.ensure_future(identifier.identify("t1")) for _ in range(3)]
    await asyncio.sleep(0)
    asking[0].cancel()  # one client leaves; the others still get their answer
    hub.gate.set()
    results = await asyncio.gather(*asking, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert [r.name for r in results[1:]] == ["ada", "ada"]
    assert hub.lookups == 1


async def test_the_cache_is_bounded_and_keeps_recent_tokens() -> None:
    identifier, hub, _ = make(max_entries=2)
    for n in range(3):
        hub.tokens[f"t{n}"] = student(f"s{n}")
    await identifier.identify("t0")
    await identifier.identify("t1")
    await identifier.identify("t0")  # recently used: kept
    await identifier.identify("t2")  # pushes out t1
    assert len(identifier._answers) == 2
    lookups = hub.lookups
    await identifier.identify("t0")
    assert hub.lookups == lookups
    await identifier.identify("t1")
    assert hub.lookups == lookups + 1


async def test_other_refusals_are_unchanged() -> None:
    identifier, hub, _ = make()
    hub.tokens["svc"] = {"kind": "service", "name": "svc", "scopes": [SCOPE]}
    hub.tokens["noscope"] = student("bob") | {"scopes": []}
    with pytest.raises(GatewayError) as missing:
        await identifier.identify(None)
    assert missing.value.status == 401
    for token in ("svc", "noscope"):
        with pytest.raises(GatewayError) as refused:
            await identifier.identify(token)
        assert refused.value.status == 403


def test_the_gateway_keeps_the_hubs_answers_60_seconds_unless_configured() -> None:
    from jupyter_tutor_hub.apps.gateway import GatewayApp

    assert GatewayApp(config=Config()).identifier().hub_auth.cache_max_age == 60
    config = Config()
    config.HubAuth.cache_max_age = 42
    assert GatewayApp(config=config).identifier().hub_auth.cache_max_age == 42
