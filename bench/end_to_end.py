"""A question end to end: the chat API of a student's server, through the orchestrator and
the gateway, against the SDK straight to the same fake upstream.

Starts the real stack (embedded PostgreSQL, the fake Anthropic API streaming at a
realistic pace, JupyterHub with the gateway, one spawned single-user server), then asks
the same questions three ways at each concurrency level: ``POST /user/NAME/tutor/api/chat``
(what the panel does), the SDK to the gateway, and the SDK to the fake directly.  Reports
time to the first text and to the end (p50/p95) and the memory of the gateway and of the
single-user server.  Prints JSON and writes ``bench/results/end_to_end.json``.

    python bench/end_to_end.py [--levels 1,10,50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import anthropic
import httpx
import psutil
from common import report as report_result
from harness import (
    FAKE_KEY,
    fake_upstream_process,
    gateway_process,
    latency_summary,
    start_stack,
    timed_answer,
)

from jupyter_tutor.sse import iter_event_data

QUESTION = "Why does my loop never end?"


async def via_chat_api(
    http: httpx.AsyncClient, url: str, headers: dict, conversation: str | None = None
) -> tuple[float, float, str]:
    started = time.perf_counter()
    first = None
    body = {"message": QUESTION} | ({"conversation_id": conversation} if conversation else {})
    async with http.stream("POST", url, json=body, headers=headers, timeout=120) as response:
        response.raise_for_status()
        lines = []
        async for line in response.aiter_lines():
            lines.append(line)
            if first is None and '"type":"text"' in line.replace(" ", ""):
                first = time.perf_counter()
        events = [json.loads(data) for data in iter_event_data(lines)]
        assert events and events[-1]["type"] == "done", events[-1:]
    end = time.perf_counter()
    return (first or end) - started, end - started, events[0]["conversation_id"]


async def conversation_growth(http: httpx.AsyncClient, url: str, headers: dict, turns: int):
    """Time to first token and to the end of each turn of one growing conversation."""
    rows, conversation = [], None
    for turn in range(1, turns + 1):
        ttft, total, conversation = await via_chat_api(http, url, headers, conversation)
        rows.append(
            {"turn": turn, "ttft_ms": round(ttft * 1000, 1), "total_ms": round(total * 1000, 1)}
        )
    return rows


async def level(make_call, concurrency: int, rounds: int) -> dict:
    ttft, total, errors = [], [], []
    for _ in range(rounds):
        results = await asyncio.gather(
            *(make_call() for _ in range(concurrency)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                errors.append(f"{type(result).__name__}: {str(result)[:160]}")
            else:
                ttft.append(result[0])
                total.append(result[1])
    return latency_summary(ttft, total, errors)


def single_user_server(user: str) -> psutil.Process:
    for process in psutil.process_iter(["environ"]):
        if (process.info["environ"] or {}).get("JUPYTERHUB_USER") == user:
            return process
    raise RuntimeError(f"{user}'s server was not found")


async def measure(hub, fake_url: str, levels: list[int]) -> dict:
    user = "student1"
    hub.start_server(user)
    server = single_user_server(user)
    gateway = gateway_process(hub)
    token = hub.token_for(user)
    chat_url = f"{hub.url}/user/{user}/tutor/api/chat"
    headers = {"Authorization": f"token {token}"}
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=500))
    sdk_http = anthropic.DefaultAsyncHttpxClient(timeout=120)
    gateway_sdk = anthropic.AsyncAnthropic(
        base_url=hub.gateway_url.rstrip("/"),
        auth_token=hub.token_for(user, ["access:services!service=tutor"]),
        http_client=sdk_http,
        max_retries=0,
    )
    direct_sdk = anthropic.AsyncAnthropic(
        base_url=fake_url, api_key=FAKE_KEY, http_client=sdk_http, max_retries=0
    )
    paths = {
        "chat_api": lambda: via_chat_api(http, chat_url, headers),
        "gateway_sdk": lambda: timed_answer(gateway_sdk, QUESTION),
        "direct_sdk": lambda: timed_answer(direct_sdk, QUESTION),
    }
    for call in paths.values():  # warm up: connections, hub token caches, first imports
        await level(call, 1, 2)
    report: dict = {
        "levels": {},
        "memory_idle_mb": {
            "gateway": round(gateway.memory_info().rss / 2**20, 1),
            "single_user_server": round(server.memory_info().rss / 2**20, 1),
        },
    }
    for concurrency in levels:
        rounds = 20 if concurrency == 1 else 2
        row = {name: await level(call, concurrency, rounds) for name, call in paths.items()}
        row["orchestrator_added_ttft_p50_ms"] = round(
            row["chat_api"]["ttft_p50_ms"] - row["gateway_sdk"]["ttft_p50_ms"], 1
        )
        row["gateway_added_ttft_p50_ms"] = round(
            row["gateway_sdk"]["ttft_p50_ms"] - row["direct_sdk"]["ttft_p50_ms"], 1
        )
        report["levels"][str(concurrency)] = row
    report["conversation_length"] = await conversation_growth(http, chat_url, headers, 20)
    report["memory_after_mb"] = {
        "gateway": round(gateway.memory_info().rss / 2**20, 1),
        "single_user_server": round(server.memory_info().rss / 2**20, 1),
    }
    await http.aclose()
    await sdk_http.aclose()
    hub.stop_server(user)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--delay", type=float, default=0.02, help="fake seconds per delta")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    started = time.time()
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_upstream_process(args.delay) as fake_url,
        start_stack(Path(tmp), fake_url) as hub,
    ):
        report = asyncio.run(measure(hub, fake_url, levels))
    report |= {
        "benchmark": "end_to_end",
        "fake_seconds_per_delta": args.delay,
        "seconds": round(time.time() - started, 1),
        "note": "one run on this machine; chat_api = panel -> server -> gateway -> fake",
    }
    report_result("end_to_end", report)


if __name__ == "__main__":
    main()
