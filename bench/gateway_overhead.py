"""What the gateway adds: time to first token and total time, through it versus direct.

Starts an embedded PostgreSQL, the fake Anthropic API (a subprocess streaming tokens at a
realistic pace) and a real JupyterHub with the gateway as a managed service, then runs the
same streaming requests with the official SDK twice: straight to the fake, and through the
gateway with a student's hub token.  At each concurrency level it reports p50/p95 of both
and their difference, errors, and the gateway's memory per open stream.  Prints JSON and
writes it to ``bench/results/gateway_overhead.json``.

    python bench/gateway_overhead.py [--levels 1,50,500] [--delay 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import anthropic
import httpx
import psutil
from common import report as report_result
from harness import FAKE_KEY, fake_upstream_process, gateway_process, latency_summary, start_stack

MODEL = "claude-sonnet-4-5"


async def one_stream(client: anthropic.AsyncAnthropic, n: int) -> tuple[float, float]:
    """(seconds to the first text delta, seconds to the end) of one streamed answer."""
    started = time.perf_counter()
    first = None
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=300,
        stream=True,
        messages=[{"role": "user", "content": f"Question {n}: why does my loop never end?"}],
    )
    async for event in stream:
        if first is None and event.type == "content_block_delta":
            first = time.perf_counter()
    end = time.perf_counter()
    return (first or end) - started, end - started


async def run_level(
    client: anthropic.AsyncAnthropic, concurrency: int, rounds: int, sample_rss=None
) -> dict:
    ttft: list[float] = []
    total: list[float] = []
    errors: list[str] = []
    peak = 0
    for _ in range(rounds):
        tasks = [asyncio.create_task(one_stream(client, n)) for n in range(concurrency)]
        while sample_rss and not all(t.done() for t in tasks):
            peak = max(peak, sample_rss())
            await asyncio.sleep(0.05)
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                errors.append(type(result).__name__ + ": " + str(result)[:200])
            else:
                ttft.append(result[0])
                total.append(result[1])
    return latency_summary(ttft, total, errors) | {"peak_rss_bytes": peak}


async def measure(levels: list[int], stack) -> dict:
    fake_url, gateway_url, token, gateway_pid = stack
    http = anthropic.DefaultAsyncHttpxClient(
        limits=httpx.Limits(max_connections=2000, max_keepalive_connections=2000),
        timeout=120,
    )
    direct = anthropic.AsyncAnthropic(
        base_url=fake_url, api_key=FAKE_KEY, http_client=http,
        max_retries=0,
    )
    via = anthropic.AsyncAnthropic(
        base_url=gateway_url.rstrip("/"), auth_token=token, http_client=http, max_retries=0
    )
    gateway = psutil.Process(gateway_pid)
    # Warm up both paths (hub token cache, connection pools, first retrieval).
    for client in (direct, via):
        await run_level(client, 1, 3)
    idle_rss = gateway.memory_info().rss
    report: dict = {"levels": {}, "gateway_idle_rss_bytes": idle_rss}
    for concurrency in levels:
        rounds = 30 if concurrency == 1 else (3 if concurrency <= 50 else 1)
        d = await run_level(direct, concurrency, rounds)
        g = await run_level(via, concurrency, rounds, lambda: gateway.memory_info().rss)
        report["levels"][str(concurrency)] = {
            "direct": d,
            "gateway": g,
            "added_ttft_p50_ms": round(g["ttft_p50_ms"] - d["ttft_p50_ms"], 2),
            "added_ttft_p95_ms": round(g["ttft_p95_ms"] - d["ttft_p95_ms"], 2),
            "added_total_p50_ms": round(g["total_p50_ms"] - d["total_p50_ms"], 2),
            "gateway_rss_per_open_stream_bytes": round(
                max(0, g["peak_rss_bytes"] - idle_rss) / concurrency
            ),
        }
    await http.aclose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,50,500")
    parser.add_argument("--delay", type=float, default=0.02, help="fake seconds per token")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_upstream_process(args.delay) as fake_url,
        start_stack(Path(tmp), fake_url) as hub,
    ):
        token = hub.token_for("student1", ["access:services!service=tutor"])
        pid = gateway_process(hub).pid
        started = time.time()
        report = asyncio.run(measure(levels, (fake_url, hub.gateway_url, token, pid)))
    report |= {
        "benchmark": "gateway_overhead",
        "fake_seconds_per_token": args.delay,
        "cpu_count": psutil.cpu_count(),
        "seconds": round(time.time() - started, 1),
        "python": sys.version.split()[0],
        "note": "p50/p95 over one run on this machine; direct = SDK straight to the fake",
    }
    report_result("gateway_overhead", report)


if __name__ == "__main__":
    main()
