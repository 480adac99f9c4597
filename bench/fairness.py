"""Fairness: one student's time to first token while another student floods the gateway.

Starts an embedded PostgreSQL with the sample course ingested and published (so every
question is embedded, searched and guarded), the fake Anthropic API and a real JupyterHub
with the gateway under the demo's limits (``configs/gateway_config_demo.py``: a budget, a rate limit
and at most three questions of one student answered at once), then, in one run, measures a
*victim* student asking questions one after the other:

- **alone**: nobody else is asking;
- **burst**: just before the victim's question the *flooder* (another student) opens 200
  streams at once;
- **sustained**: the flooder keeps 200 requests in flight, sending a new one as soon as
  one ends (answered or refused), from a second before the victim's question to its end.

The three alternate, one question each per round, so that a change in the load of the
shared machine during the run weighs on every phase alike.

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
from harness import MODEL, fake_upstream_process, latency_summary, start_stack, timed_answer
from traitlets.config.loader import PyFileConfigLoader

SCOPES = ["access:services!service=tutor"]
DEMO_CONFIG = REPO / "hub" / "jupyter_tutor_hub" / "configs" / "gateway_config_demo.py"
#: Seconds between the flood's start and the victim's question in the burst phase: the
#: 200 requests are on the wire and being admitted or refused when the victim asks.
BURST_LEAD = 0.05
#: Seconds the sustained flood runs before the victim asks (every one of its 200 workers
#: has sent at least one request by then).
SUSTAIN_LEAD = 1.0
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


class Phase:
    """What the victim saw in one phase, and what the flood and the hub side did meanwhile."""

    def __init__(self) -> None:
        self.ttft: list[float] = []
        self.total: list[float] = []
        self.errors: list[str] = []
        self.flood: Counter = Counter()
        self.seconds = 0.0
        self.cpu = 0.0

    def summary(self) -> dict:
        requests = sum(self.flood.values())
        return latency_summary(self.ttft, self.total, self.errors) | {
            "ttft_max_ms": round(max(self.ttft, default=0) * 1000, 2),
            "flooder": {
                "requests": requests,
                "by_status": dict(self.flood),
                "requests_per_second": round(requests / self.seconds, 1),
            },
            "hub_side_cpu_percent": round(100 * self.cpu / self.seconds, 1),
            "seconds": round(self.seconds, 1),
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
    """Rounds of three questions (alone, under a burst, under a sustained flood), so that
    a change of the shared machine's load during the run weighs on every phase alike."""
    client = anthropic.AsyncAnthropic(
        base_url=gateway_url.rstrip("/"), auth_token=victim_token, max_retries=0, timeout=120
    )
    for n in range(2):  # warm up: hub token cache, pools, first retrieval
        await timed_answer(client, f"Question {n}: why is my list empty?")
        await asyncio.sleep(gap)
    loop = asyncio.get_running_loop()
    phases = {name: Phase() for name in ("alone", "burst", "sustained")}
    for n in range(questions):
        for name, phase in phases.items():
            started, cpu = time.monotonic(), cpu_seconds(hub)
            if name != "alone":
                conn.send("burst" if name == "burst" else "sustain")
                await asyncio.sleep(BURST_LEAD if name == "burst" else SUSTAIN_LEAD)
            try:
                first, end = await timed_answer(client, f"Question {n}: why is my list empty?")
                phase.ttft.append(first)
                phase.total.append(end)
            except anthropic.APIError as err:
                phase.errors.append(f"{type(err).__name__}: {str(err)[:200]}")
            if name == "sustained":
                conn.send("stop")
            conn.send("tally")
            phase.flood.update(await loop.run_in_executor(None, conn.recv))
            phase.cpu += cpu_seconds(hub) - cpu
            await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))
            phase.seconds += time.monotonic() - started
    report = {name: phase.summary() for name, phase in phases.items()}
    alone = report["alone"]
    for name in ("burst", "sustained"):
        for q in ("p50", "p95"):
            ratio = report[name][f"ttft_{q}_ms"] / max(alone[f"ttft_{q}_ms"], 1e-9)
            report[name][f"ttft_{q}_ratio_to_alone"] = round(ratio, 2)
        report[name]["within_goal"] = report[name]["ttft_p95_ratio_to_alone"] <= GOAL_RATIO
    return report


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
