"""Load: many students streaming answers through the gateway at once, for minutes.

Each simulated student has their own JupyterHub user and token and loops: ask, read the
streamed answer to the end, think for a moment, ask again.  The fake upstream streams
tokens at a realistic pace.  At the end every answered request must have its two turns
stored (rows are counted against requests), there must be no errors, and the gateway's
memory must stay flat (the last third of the run against the first third).  Prints JSON
and writes ``bench/results/load_test.json``.

    python bench/load_test.py [--students 500] [--seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import anthropic
import httpx
import psutil
import psycopg
from common import report as report_result
from harness import fake_upstream_process, gateway_process, percentile, start_stack

MODEL = "claude-sonnet-4-6"
SCOPES = ["access:services!service=tutor"]
GATEWAY_CONFIG = "c.Database.pool_max_size = 20\n"


class Tally:
    """What the students saw."""

    def __init__(self) -> None:
        self.answered = 0
        self.errors: list[str] = []
        self.ttft: list[float] = []


async def student(
    client: anthropic.AsyncAnthropic, deadline: float, tally: Tally, rng: random.Random
) -> None:
    await asyncio.sleep(rng.uniform(0, 5))  # students do not all start on the same tick
    while time.monotonic() < deadline:
        started = time.monotonic()
        first = None
        try:
            stream = await client.messages.create(
                model=MODEL,
                max_tokens=300,
                stream=True,
                messages=[{"role": "user", "content": "Why is my list empty after the loop?"}],
            )
            async for event in stream:
                if first is None and event.type == "content_block_delta":
                    first = time.monotonic()
            tally.answered += 1
            tally.ttft.append((first or time.monotonic()) - started)
        except Exception as err:  # every failure is a finding: count it, keep going
            tally.errors.append(f"{type(err).__name__}: {str(err)[:160]}")
        await asyncio.sleep(rng.uniform(1, 3))  # reading the answer, trying the hint


async def run(
    tokens: list[str], gateway_url: str, gateway: psutil.Process, seconds: float
) -> dict:
    http = anthropic.DefaultAsyncHttpxClient(
        limits=httpx.Limits(max_connections=len(tokens) + 10), timeout=120
    )
    clients = [
        anthropic.AsyncAnthropic(
            base_url=gateway_url.rstrip("/"), auth_token=t, http_client=http, max_retries=0
        )
        for t in tokens
    ]
    tally = Tally()
    rss: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    rng = random.Random(7)
    tasks = [asyncio.create_task(student(c, deadline, tally, rng)) for c in clients]
    start = time.monotonic()
    while not all(t.done() for t in tasks):
        rss.append((time.monotonic() - start, gateway.memory_info().rss))
        await asyncio.sleep(1)
    await http.aclose()
    third = max(1, len(rss) // 3)
    early = statistics.mean(r for _, r in rss[:third])
    late = statistics.mean(r for _, r in rss[-third:])
    return {
        "answered": tally.answered,
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "ttft_p50_ms": round(percentile(tally.ttft, 50) * 1000, 1),
        "ttft_p95_ms": round(percentile(tally.ttft, 95) * 1000, 1),
        "answers_per_second": round(tally.answered / (time.monotonic() - start), 1),
        "gateway_rss_first_third_mb": round(early / 2**20, 1),
        "gateway_rss_last_third_mb": round(late / 2**20, 1),
        "gateway_rss_growth_ratio": round(late / early, 3),
    }


def count_turns(database_url: str) -> dict:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT role, status, count(*) FROM messages GROUP BY role, status"
        ).fetchall()
    return {f"{role}_{status}": n for role, status, n in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--delay", type=float, default=0.08, help="fake seconds per delta")
    parser.add_argument("--chunk-size", type=int, default=16, help="characters per delta")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_upstream_process(args.delay, args.chunk_size) as fake_url,
        start_stack(Path(tmp), fake_url, GATEWAY_CONFIG) as hub,
    ):
        names = [f"load{n:04d}" for n in range(args.students)]
        hub.api("POST", "/users", json={"usernames": names}).raise_for_status()
        tokens = [hub.token_for(name, SCOPES) for name in names]
        gateway = gateway_process(hub)
        report = asyncio.run(run(tokens, hub.gateway_url, gateway, args.seconds))
        report["stored"] = count_turns(hub_database_url(hub))
    answered = report["answered"]
    stored = report["stored"]
    report |= {
        "benchmark": "load_test",
        "students": args.students,
        "seconds": args.seconds,
        "every_turn_stored": stored.get("assistant_complete", 0) == answered
        and stored.get("user_complete", 0) >= answered,
        "zero_errors": report["errors"] == 0,
        "memory_flat": report["gateway_rss_growth_ratio"] < 1.1,
    }
    report_result("load_test", report)


def hub_database_url(hub) -> str:
    """The database the stack's gateway writes to (from the hub's environment)."""
    return gateway_process(hub).environ()["TUTOR_DATABASE_URL"]


if __name__ == "__main__":
    main()
