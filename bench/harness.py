"""What the benchmarks share: the real stack on 127.0.0.1, started and stopped cleanly.

The stack is the one the tests use (tests/hub_harness.py, tests/fake_anthropic.py): an
embedded PostgreSQL in a temporary folder, the fake Anthropic API as a subprocess, a real
JupyterHub with the gateway as a managed service.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import anthropic
import psutil
from common import REPO, migrated_database

sys.path.insert(0, str(REPO / "tests"))

from fake_anthropic import DEFAULT_KEY as FAKE_KEY
from hub_harness import RunningHub, start_hub

from jupyter_tutor_hub.db import EmbeddedPostgres

#: The model every benchmark asks for (the fake upstream answers any name).
MODEL = "claude-sonnet-4-6"


async def timed_answer(
    client: anthropic.AsyncAnthropic, question: str, model: str = MODEL
) -> tuple[float, float]:
    """(seconds to the first text delta, seconds to the end) of one streamed answer."""
    started = time.perf_counter()
    first = None
    stream = await client.messages.create(
        model=model,
        max_tokens=300,
        stream=True,
        messages=[{"role": "user", "content": question}],
    )
    async for event in stream:
        if first is None and event.type == "content_block_delta":
            first = time.perf_counter()
    end = time.perf_counter()
    return (first or end) - started, end - started


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(ttft: Sequence[float], total: Sequence[float], errors: list[str]) -> dict:
    """p50/p95 of time to first token and to the end (ms), and the errors seen."""
    return {
        "requests": len(total) + len(errors),
        "errors": len(errors),
        "error_samples": errors[:3],
        "ttft_p50_ms": round(percentile(ttft, 50) * 1000, 2),
        "ttft_p95_ms": round(percentile(ttft, 95) * 1000, 2),
        "total_p50_ms": round(percentile(total, 50) * 1000, 2),
        "total_p95_ms": round(percentile(total, 95) * 1000, 2),
    }


@contextlib.contextmanager
def fake_upstream_process(
    delay: float, chunk_size: int = 4, script: str = "fake_anthropic.py"
) -> Iterator[str]:
    """A fake upstream in its own process (so it does not share our GIL): the Anthropic
    API, or with ``script="fake_openai.py"`` the Chat Completions API."""
    command = ["--delay", str(delay), "--chunk-size", str(chunk_size)]
    with serving_process([str(REPO / "tests" / script), *command]) as url:
        yield url


@contextlib.contextmanager
def serving_process(args: Sequence[str]) -> Iterator[str]:
    """A Python script that prints ``{"url": ...}`` once it listens; stopped at the end."""
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(process.stdout.readline())["url"]
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def start_stack(
    folder: Path,
    fake_url: str,
    gateway_config: str = "",
    prepare: Callable[[str], dict[str, str]] | None = None,
) -> Iterator[RunningHub]:
    """Embedded PostgreSQL + JupyterHub + gateway (pointed at ``fake_url``).

    ``prepare`` gets the database URL before the hub starts (to ingest a course, say) and
    returns environment variables for the hub and gateway.
    """
    server = EmbeddedPostgres(folder / "pgdata")
    url = migrated_database(server, "bench").url
    config = folder / "gateway_config.py"
    config.write_text(gateway_config)
    env = {"TUTOR_GATEWAY_CONFIG": str(config)}
    if prepare is not None:
        env |= prepare(url)
    hub = start_hub(
        folder,
        database_url=url,
        upstream_url=fake_url,
        api_key=FAKE_KEY,
        extra_env=env,
    )
    try:
        yield hub
    finally:
        hub.stop()
        server.stop()


def gateway_process(hub: RunningHub) -> psutil.Process:
    """The gateway service the hub started."""
    for child in psutil.Process(hub.process.pid).children(recursive=True):
        if "jupyter_tutor_hub.apps.gateway" in " ".join(child.cmdline()):
            return child
    raise RuntimeError("the gateway process was not found")
