"""What the gateway adds: time to first token and total time, through it versus direct.

Starts an embedded PostgreSQL with the sample course ingested and published (so every
question is embedded, searched, policed and guarded as in production), the fake Anthropic
API and the fake OpenAI-compatible API (subprocesses streaming tokens at a realistic
pace), a minimal relay (``minimal_relay.py``: forwards bytes, nothing else) and a real
JupyterHub with the gateway as a managed service, with a daily budget and a rate limit so
every question reserves and settles budget.  Then, at each concurrency level, the same
streaming questions from distinct students (one hub user and token each), one path at a
time (one student: one question per path in turn, round after round):

- ``direct``: the anthropic SDK straight to the fake;
- ``relay``: the same SDK through the minimal relay (the physical floor of relaying);
- ``gateway``: the same SDK through the gateway, with each student's hub token;
- ``openai_direct``: the openai SDK straight to the fake Chat Completions API;
- ``openai_relay``: the openai SDK through the minimal relay;
- ``gateway_openai``: the anthropic SDK through the gateway, asking for a model the gateway
  routes to the OpenAI-compatible upstream (translated both ways).

Before each burst every student's panel "opens" (one ``api/courses`` call each), as in
class, so the burst finds their tokens in the gateway's cache; every question of the run
is new, so none comes from the cache of question embeddings.

It reports p50/p95 of each path and what the gateway adds over the direct path of its
API, errors, whether every gateway answer left its two turns stored, and the gateway's
memory per open stream.  With ``--profile`` it also samples the gateway with py-spy during
the gateway runs and keeps a flame graph and the hottest frames per level in
``bench/profiles/``.  Prints JSON and writes it to ``bench/results/gateway_overhead.json``.

    python bench/gateway_overhead.py [--levels 1,50,500] [--delay 0.02] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import psutil
import psycopg
from common import BENCH
from common import report as report_result
from harness import (
    FAKE_KEY,
    MODEL,
    fake_upstream_process,
    gateway_process,
    latency_summary,
    serving_process,
    start_stack,
    timed_answer,
)

from jupyter_tutor_hub.apps.demo import SAMPLE_COURSE_NAME, sample_course_dir
from jupyter_tutor_hub.db import Database

#: The model name the gateway routes to the OpenAI-compatible upstream (the fake).
OPENAI_MODEL = "campus/qwen"
OPENAI_KEY = "sk-openai-fake-test-key-0123"
SCOPES = ["access:services!service=tutor"]
PROFILES = BENCH / "profiles"

#: Production-like limits: every question reserves budget and counts against a rate.
GATEWAY_CONFIG = """
c.Database.pool_max_size = 20
c.Metering.daily_usd_budget = 50.0
c.Metering.requests_per_minute = 600
c.ModelPolicy.allowed_models = ["claude-sonnet-4-6", "claude-haiku-4-5", {openai_model!r}]
c.Router.upstreams = [{{
    "name": "campus",
    "base_url": {openai_url!r},
    "api_key_file": {key_file!r},
    "models": {{{openai_model!r}: "qwen2.5-coder"}},
    "prices": {{{openai_model!r}: {{"input": 0.2, "output": 0.6}}}},
}}]
"""

Asker = Callable[[int], Awaitable[tuple[float, float]]]
#: Every question of the run is new (no help from the gateway's cache of embeddings).
QUESTIONS = itertools.count()


def question(n: int) -> str:
    return f"Question {next(QUESTIONS)} of student {n}: why does my loop never end?"


def ask_anthropic(client: anthropic.AsyncAnthropic, model: str = MODEL) -> Asker:
    async def one(n: int) -> tuple[float, float]:
        return await timed_answer(client, question(n), model)

    return one


def ask_openai(client: openai.AsyncOpenAI) -> Asker:
    async def one(n: int) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        stream = await client.chat.completions.create(
            model="qwen2.5-coder",
            max_tokens=300,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": question(n)}],
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        end = time.perf_counter()
        return (first or end) - started, end - started

    return one


class Samples:
    """What one path's questions took, gathered over one or more bursts."""

    def __init__(self) -> None:
        self.ttft: list[float] = []
        self.total: list[float] = []
        self.errors: list[str] = []
        self.peak_rss = 0

    async def burst(self, askers: list[Asker], concurrency: int, sample_rss=None) -> None:
        """``concurrency`` questions at once, question n from student n."""
        tasks = [asyncio.create_task(askers[n](n)) for n in range(concurrency)]
        while sample_rss and not all(t.done() for t in tasks):
            self.peak_rss = max(self.peak_rss, sample_rss())
            await asyncio.sleep(0.05)
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                self.errors.append(type(result).__name__ + ": " + str(result)[:200])
            else:
                self.ttft.append(result[0])
                self.total.append(result[1])

    def summary(self) -> dict[str, Any]:
        summary = latency_summary(self.ttft, self.total, self.errors)
        return summary | {"peak_rss_bytes": self.peak_rss}


async def run_level(
    askers: list[Asker], concurrency: int, rounds: int, sample_rss=None
) -> dict[str, Any]:
    """``rounds`` bursts of ``concurrency`` questions, question n from student n."""
    samples = Samples()
    for _ in range(rounds):
        await samples.burst(askers, concurrency, sample_rss)
    return samples.summary()


async def alternated(paths: dict[str, list[Asker]], rounds: int, sample_rss=None) -> dict[str, Any]:
    """One student's questions, one path after the other in every round: a few
    milliseconds apart, each path sees the same moments of this shared machine (run one
    path after another, the direct path alone moved by 10 ms between runs)."""
    samples = {name: Samples() for name in paths}
    for _ in range(rounds):
        for name, askers in paths.items():
            await samples[name].burst(askers, 1, sample_rss if name == "gateway" else None)
    return {name: s.summary() for name, s in samples.items()}


#: py-spy from this Python's environment (the test extra installs it beside python).
PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"


class Profiler:
    """py-spy sampling the gateway process while one level runs (``--profile``)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> None:
        if self.pid is None:
            return
        PROFILES.mkdir(exist_ok=True)
        for fmt, output in (("flamegraph", self.svg(name)), ("raw", self.raw(name))):
            self.processes.append(
                subprocess.Popen(
                    [
                        PY_SPY,
                        "record",
                        "--pid",
                        str(self.pid),
                        "--rate",
                        "250",
                        "--nonblocking",
                        "--format",
                        fmt,
                        "--output",
                        str(output),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self, name: str) -> dict[str, Any] | None:
        if self.pid is None:
            return None
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            process.wait(60)
        self.processes = []
        hot = hottest_frames(self.raw(name))
        self.raw(name).unlink()
        return hot

    @staticmethod
    def svg(name: str) -> Path:
        """The flame graph, kept."""
        return PROFILES / f"{name}.svg"

    @staticmethod
    def raw(name: str) -> Path:
        """The collapsed stacks (large), summarised by :func:`hottest_frames`, not kept."""
        return Path(tempfile.gettempdir()) / f"tutor-{name}-{os.getpid()}.txt"


def hottest_frames(raw: Path, top: int = 25) -> dict[str, Any]:
    """From py-spy's collapsed stacks: the share of samples each frame is on the stack
    (inclusive), for the frames of the gateway's own code and the libraries it calls."""
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        # "function (path:line)" → "function (path)": one entry per function
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}:
            inclusive[frame] += n
    shares = {
        frame: round(100 * n / samples, 1)
        for frame, n in inclusive.most_common()
        if not frame.startswith(("<module>", "_run_once", "run_forever", "start (", "run ("))
    }
    return {"samples": samples, "inclusive_percent": dict(list(shares.items())[:top])}


def prepare_course(database_url: str) -> dict[str, str]:
    """Ingest and publish the sample course; every question is grounded in it."""
    from jupyter_tutor_hub.course.embedder import SentenceTransformerEmbedder
    from jupyter_tutor_hub.course.ingest import ingest_course
    from jupyter_tutor_hub.policy.config import read_course
    from jupyter_tutor_hub.policy.store import publish

    course = read_course(sample_course_dir())
    with Database(url=database_url).open_pool() as pool:
        ingest_course(
            pool,
            SentenceTransformerEmbedder(),
            sample_course_dir(),
            SAMPLE_COURSE_NAME,
            title=course.config.title,
            index_also=course.config.index_also,
        )
        with pool.connection() as conn:
            publish(conn, course, SAMPLE_COURSE_NAME)
    return {"TUTOR_DEFAULT_COURSE": SAMPLE_COURSE_NAME}


def stored_turns(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT role, status, count(*) FROM messages GROUP BY role, status"
        ).fetchall()
    return {f"{role}_{status}": n for role, status, n in rows}


async def measure(
    levels: list[int], urls: dict[str, str], tokens: list[str], gateway_pid: int, profile: bool
) -> dict[str, Any]:
    http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=2000, max_keepalive_connections=2000), timeout=120
    )
    ahttp = anthropic.DefaultAsyncHttpxClient(
        limits=httpx.Limits(max_connections=2000, max_keepalive_connections=2000), timeout=120
    )

    def direct(base_url: str) -> list[Asker]:
        client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=FAKE_KEY, http_client=ahttp, max_retries=0
        )
        return [ask_anthropic(client)] * len(tokens)

    def openai_client(base_url: str) -> list[Asker]:
        client = openai.AsyncOpenAI(
            base_url=base_url, api_key=OPENAI_KEY, http_client=http, max_retries=0
        )
        return [ask_openai(client)] * len(tokens)

    def via_gateway(model: str) -> list[Asker]:
        return [
            ask_anthropic(
                anthropic.AsyncAnthropic(
                    base_url=urls["gateway"].rstrip("/"),
                    auth_token=token,
                    http_client=ahttp,
                    max_retries=0,
                ),
                model,
            )
            for token in tokens
        ]

    paths: dict[str, list[Asker]] = {
        "direct": direct(urls["anthropic"]),
        "relay": direct(urls["relay"]),
        "gateway": via_gateway(MODEL),
        "openai_direct": openai_client(urls["openai"]),
        "openai_relay": openai_client(urls["relay"] + "/v1"),
        "gateway_openai": via_gateway(OPENAI_MODEL),
    }
    gateway = psutil.Process(gateway_pid)
    # Warm up every path (connection pools, the first retrieval, the guard's index).
    warmup = 3
    for askers in paths.values():
        await run_level(askers, 1, warmup)
    idle_rss = gateway.memory_info().rss
    profiler = Profiler(gateway_pid if profile else None)
    report: dict[str, Any] = {"levels": {}, "gateway_idle_rss_bytes": idle_rss, "profiles": {}}
    answered_via_gateway = 2 * warmup

    def gateway_rss() -> int:
        return gateway.memory_info().rss

    for concurrency in levels:
        rounds = 30 if concurrency == 1 else (3 if concurrency <= 50 else 1)
        await panels_open(http, urls["gateway"], tokens[:concurrency])
        if concurrency == 1:
            profiler.start("gateway_1")  # every path runs while it samples the gateway
            row = await alternated(paths, rounds, gateway_rss)
            hot = profiler.stop("gateway_1")
        else:
            row, hot = {}, None
            for name, askers in paths.items():
                if name == "gateway":
                    profiler.start(f"gateway_{concurrency}")
                    row[name] = await run_level(askers, concurrency, rounds, gateway_rss)
                    hot = profiler.stop(f"gateway_{concurrency}")
                else:
                    row[name] = await run_level(askers, concurrency, rounds)
        if hot:
            report["profiles"][str(concurrency)] = hot
        answered_via_gateway += sum(
            r["requests"] - r["errors"] for name, r in row.items() if name.startswith("gateway")
        )
        report["levels"][str(concurrency)] = row | added(row, concurrency, idle_rss)
    report["gateway_answers"] = answered_via_gateway
    await http.aclose()
    await ahttp.aclose()
    return report


async def panels_open(http: httpx.AsyncClient, gateway_url: str, tokens: list[str]) -> None:
    """What each student's side panel does when it opens, before the exercise's questions:
    one call to the gateway (``api/courses``), which identifies the student with the hub.
    The burst then finds the tokens in the gateway's cache, as in class (it keeps them
    ``HubAuth.cache_max_age``)."""
    responses = await asyncio.gather(
        *(
            http.get(gateway_url + "api/courses", headers={"Authorization": f"Bearer {token}"})
            for token in tokens
        )
    )
    for response in responses:
        response.raise_for_status()


def added(row: dict[str, Any], concurrency: int, idle_rss: int) -> dict[str, Any]:
    """What the gateway (and the relay) add over the direct path of the same API."""

    def diff(a: str, b: str, key: str) -> float:
        return round(row[a][key] - row[b][key], 2)

    return {
        "added_ttft_p50_ms": diff("gateway", "direct", "ttft_p50_ms"),
        "added_ttft_p95_ms": diff("gateway", "direct", "ttft_p95_ms"),
        "added_total_p50_ms": diff("gateway", "direct", "total_p50_ms"),
        "relay_added_ttft_p50_ms": diff("relay", "direct", "ttft_p50_ms"),
        "relay_added_ttft_p95_ms": diff("relay", "direct", "ttft_p95_ms"),
        "gateway_over_direct_ttft_p95": round(
            row["gateway"]["ttft_p95_ms"] / max(row["direct"]["ttft_p95_ms"], 0.01), 2
        ),
        "openai_added_ttft_p50_ms": diff("gateway_openai", "openai_direct", "ttft_p50_ms"),
        "openai_added_ttft_p95_ms": diff("gateway_openai", "openai_direct", "ttft_p95_ms"),
        "openai_relay_added_ttft_p50_ms": diff("openai_relay", "openai_direct", "ttft_p50_ms"),
        "gateway_rss_per_open_stream_bytes": round(
            max(0, row["gateway"]["peak_rss_bytes"] - idle_rss) / concurrency
        ),
    }


def goals(levels: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals, met or not, from the numbers."""
    out: dict[str, Any] = {}
    if "1" in levels:
        out["one_p50_added_le_5ms"] = levels["1"]["added_ttft_p50_ms"] <= 5
    if "50" in levels:
        out["fifty_p95_added_le_50ms"] = levels["50"]["added_ttft_p95_ms"] <= 50
    if "500" in levels:
        out["five_hundred_p95_le_1_5x_direct"] = (
            levels["500"]["gateway_over_direct_ttft_p95"] <= 1.5
        )
    out["zero_errors"] = all(
        r[p]["errors"] == 0 for r in levels.values() for p in r if isinstance(r[p], dict)
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,50,500")
    parser.add_argument("--delay", type=float, default=0.02, help="fake seconds per token")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the gateway runs into bench/profiles/"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    students = max(levels)
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_upstream_process(args.delay) as fake_url,
        fake_upstream_process(args.delay, script="fake_openai.py") as openai_url,
    ):
        key_file = Path(tmp) / "openai-key"
        key_file.write_text(OPENAI_KEY)
        config = GATEWAY_CONFIG.format(
            openai_model=OPENAI_MODEL, openai_url=openai_url, key_file=str(key_file)
        )
        relay_args = [
            str(BENCH / "minimal_relay.py"),
            "--anthropic",
            fake_url,
            "--anthropic-key",
            FAKE_KEY,
            "--openai",
            openai_url.removesuffix("/v1"),
            "--openai-key",
            OPENAI_KEY,
        ]
        with (
            serving_process(relay_args) as relay_url,
            start_stack(Path(tmp), fake_url, config, prepare_course) as hub,
        ):
            names = [f"student{n:04d}" for n in range(students)]
            hub.api("POST", "/users", json={"usernames": names}).raise_for_status()
            tokens = [hub.token_for(name, SCOPES) for name in names]
            process = gateway_process(hub)
            database_url = process.environ()["TUTOR_DATABASE_URL"]
            urls = {
                "anthropic": fake_url,
                "openai": openai_url,
                "relay": relay_url,
                "gateway": hub.gateway_url,
            }
            started = time.time()
            report = asyncio.run(measure(levels, urls, tokens, process.pid, args.profile))
            stored = stored_turns(database_url)
    answers = report["gateway_answers"]
    report |= {
        "benchmark": "gateway_overhead",
        "stored": stored,
        "every_turn_stored": stored.get("assistant_complete", 0) == answers
        and stored.get("user_complete", 0) == answers,
        "goals": goals(report["levels"]),
        "fake_seconds_per_token": args.delay,
        "cpu_count": psutil.cpu_count(),
        "seconds": round(time.time() - started, 1),
        "python": sys.version.split()[0],
        "note": "p50/p95 over one run on this machine; direct = SDK straight to the fake;"
        " relay = a relay that only forwards bytes; distinct students at every level",
    }
    report_result("gateway_overhead", report)


if __name__ == "__main__":
    main()
