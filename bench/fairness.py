"""Fairness: one student's time to first token while another student floods the gateway.

Starts an embedded PostgreSQL with the sample course ingested and published (so every
question is embedded, searched and guarded), the fake Anthropic API and a real JupyterHub
with the gateway under the demo's limits (``configs/gateway_config_demo.py``: a budget, a rate limit
and at most three questions of one student answered at once), then, in one run, measures a
*victim* student asking questions one after the other:

- **alone**: nobody else is asking;
- **burst**: just before each of the victim's questions the *flooder* (another student)
  opens 200 streams at once;
- **sustained**: the flooder keeps 200 requests in flight the whole time, sending a new
  one as soon as one ends (answered or refused).

The flooder runs in its own process (with plain ``httpx``, as cheap a client as an attacker
would use), so its client work does not share the victim's event loop; it still shares the
machine's cores with the gateway, the hub, PostgreSQL and the fake, which a real attacker's
server would not.  The victim asks no faster than the demo's rate limit allows.  Reports
p50/p95 of the victim's time to first token per phase, the ratio to *alone* (goal: p95
within 1.5x), and what the flooder got (answered, refused, by status).  Prints JSON and
writes ``bench/results/fairness.json``.

    python bench/fairness.py [--questions 20] [--flood 200] [--delay 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

import anthropic
import httpx
import psutil
from common import REPO
from common import report as report_result
from gateway_overhead import prepare_course
from harness import fake_upstream_process, latency_summary, start_stack
from traitlets.config.loader import PyFileConfigLoader

MODEL = "claude-sonnet-4-5"
SCOPES = ["access:services!service=tutor"]
DEMO_CONFIG = REPO / "hub" / "jupyter_tutor_hub" / "configs" / "gateway_config_demo.py"
#: Seconds between the flood's start and the victim's question in the burst phase: the
#: 200 requests are on the wire and being admitted or refused when the victim asks.
BURST_LEAD = 0.05
GOAL_RATIO = 1.5


def demo_requests_per_minute() -> int:
    """The rate limit the demo's gateway ships with (the victim keeps under it)."""
    config = PyFileConfigLoader(DEMO_CONFIG.name, str(DEMO_CONFIG.parent)).load_config()
    return int(config.Metering.get("requests_per_minute", 0))


# --- the flooder, in its own process ------------------------------------------------------


async def _flood_one(client: httpx.AsyncClient, url: str, body: dict, tally: Counter) -> None:
    """One request of the flood, read to its end; its outcome counted by status."""
    try:
        async with client.stream("POST", url, json=body) as response:
            async for _ in response.aiter_bytes():
                pass
            tally[str(response.status_code)] += 1
    except httpx.HTTPError as err:
        tally[type(err).__name__] += 1


async def _flood(conn: Connection, url: str, token: str, width: int) -> None:
    """Obey the main process: ``burst`` fires ``width`` requests at once; ``sustain`` keeps
    ``width`` in flight until ``stop``; ``quit`` ends. Each phase's tally is sent back."""
    body = {
        "model": MODEL,
        "max_tokens": 300,
        "stream": True,
        "messages": [{"role": "user", "content": "Flood: why does my loop never end?"}],
    }
    headers = {"Authorization": f"Bearer {token}", "anthropic-version": "2023-06-01"}
    limits = httpx.Limits(max_connections=width + 10, max_keepalive_connections=width + 10)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=120) as client:
        tally: Counter = Counter()
        bursts: list[asyncio.Task] = []
        workers: list[asyncio.Task] = []
        stop = asyncio.Event()

        async def keep_going() -> None:
            while not stop.is_set():
                await _flood_one(client, url, body, tally)

        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "burst":
                bursts += [
                    asyncio.create_task(_flood_one(client, url, body, tally)) for _ in range(width)
                ]
            elif command == "sustain":
                stop.clear()
                workers = [asyncio.create_task(keep_going()) for _ in range(width)]
            elif command == "stop":
                stop.set()
                await asyncio.gather(*workers)
            elif command == "tally":
                await asyncio.gather(*bursts)
                bursts = []
                conn.send(dict(tally))
                tally.clear()
            else:
                return


def flooder(conn: Connection, url: str, token: str, width: int) -> None:
    asyncio.run(_flood(conn, url, token, width))


# --- the victim, in this process ------------------------------------------------------------


async def ask(client: anthropic.AsyncAnthropic, n: int) -> tuple[float, float]:
    """(seconds to the first text delta, seconds to the end) of one streamed answer."""
    started = time.perf_counter()
    first = None
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=300,
        stream=True,
        messages=[{"role": "user", "content": f"Question {n}: why is my list empty?"}],
    )
    async for event in stream:
        if first is None and event.type == "content_block_delta":
            first = time.perf_counter()
    end = time.perf_counter()
    return (first or end) - started, end - started


async def victim_phase(
    client: anthropic.AsyncAnthropic,
    questions: int,
    gap: float,
    before_each=None,
) -> dict:
    """``questions`` questions one after the other, at most one every ``gap`` seconds."""
    ttft: list[float] = []
    total: list[float] = []
    errors: list[str] = []
    for n in range(questions):
        started = time.monotonic()
        if before_each:
            before_each()
            await asyncio.sleep(BURST_LEAD)
        try:
            first, end = await ask(client, n)
            ttft.append(first)
            total.append(end)
        except anthropic.APIError as err:
            errors.append(f"{type(err).__name__}: {str(err)[:200]}")
        await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))
    return latency_summary(ttft, total, errors) | {
        "ttft_max_ms": round(max(ttft, default=0) * 1000, 2)
    }


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a process and its children so far (the hub: proxy, gateway, servers)."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


async def measure(
    victim_token: str,
    gateway_url: str,
    conn: Connection,
    questions: int,
    gap: float,
    hub: psutil.Process,
) -> dict:
    client = anthropic.AsyncAnthropic(
        base_url=gateway_url.rstrip("/"), auth_token=victim_token, max_retries=0, timeout=120
    )
    await victim_phase(client, 2, gap)  # warm up: hub token cache, pools, first retrieval
    phases: dict[str, dict] = {}

    async def phase(name: str, before=None, after=None, before_each=None) -> None:
        wall, cpu = time.monotonic(), cpu_seconds(hub)
        if before:
            conn.send(before)
        result = await victim_phase(client, questions, gap, before_each)
        if after:
            conn.send(after)
        conn.send("tally")
        flood = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        seconds = time.monotonic() - wall
        result["flooder"] = {
            "requests": sum(flood.values()),
            "by_status": flood,
            "requests_per_second": round(sum(flood.values()) / seconds, 1),
        }
        result["hub_side_cpu_percent"] = round(100 * (cpu_seconds(hub) - cpu) / seconds, 1)
        result["seconds"] = round(seconds, 1)
        phases[name] = result

    await phase("alone")
    await phase("burst", before_each=lambda: conn.send("burst"))
    await phase("sustained", before="sustain", after="stop")
    alone = phases["alone"]
    for name in ("burst", "sustained"):
        for q in ("p50", "p95"):
            ratio = phases[name][f"ttft_{q}_ms"] / max(alone[f"ttft_{q}_ms"], 1e-9)
            phases[name][f"ttft_{q}_ratio_to_alone"] = round(ratio, 2)
        phases[name]["within_goal"] = phases[name]["ttft_p95_ratio_to_alone"] <= GOAL_RATIO
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20, help="victim questions per phase")
    parser.add_argument("--flood", type=int, default=200, help="flooder's streams at once")
    parser.add_argument("--delay", type=float, default=0.02, help="fake seconds per token")
    args = parser.parse_args()
    rpm = demo_requests_per_minute()
    gap = 60 / rpm * 1.05 if rpm else 1.0
    context = multiprocessing.get_context("spawn")
    started = time.time()
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_upstream_process(args.delay) as fake_url,
        start_stack(Path(tmp), fake_url, DEMO_CONFIG.read_text(), prepare_course) as hub,
    ):
        flooder_token = hub.token_for("student1", SCOPES)
        victim_token = hub.token_for("student2", SCOPES)
        ours, theirs = context.Pipe()
        flood = context.Process(
            target=flooder,
            args=(theirs, hub.gateway_url + "v1/messages", flooder_token, args.flood),
        )
        flood.start()
        try:
            phases = asyncio.run(
                measure(
                    victim_token,
                    hub.gateway_url,
                    ours,
                    args.questions,
                    gap,
                    psutil.Process(hub.process.pid),
                )
            )
        finally:
            ours.send("quit")
            flood.join(30)
            if flood.is_alive():
                flood.terminate()
    report_result(
        "fairness",
        {
            "benchmark": "fairness",
            "phases": phases,
            "questions_per_phase": args.questions,
            "flood_width": args.flood,
            "victim_gap_seconds": round(gap, 2),
            "gateway_limits": "configs/gateway_config_demo.py",
            "goal": f"victim TTFT p95 within {GOAL_RATIO}x of alone",
            "fake_seconds_per_token": args.delay,
            "cpu_count": psutil.cpu_count(),
            "seconds": round(time.time() - started, 1),
            "python": sys.version.split()[0],
        },
    )


if __name__ == "__main__":
    main()
