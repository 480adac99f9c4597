"""How fast the product starts: the gateway's health after spawn, and the demo twice.

Issue 13's goals: the gateway's ``health`` answers within 3 s of its spawn (it opens the
port before the heavy imports and the embedding model), and a second ``jupyter-tutor demo``
in the same data folder is ready within 10 s. Measured here, in one run:

- the gateway process alone, spawned ``--gateway-runs`` times against one database: time
  to the first ``health`` answer (``starting``) and to ``ok`` (model loaded);
- the demo started twice in one data folder (the first start creates the database, the
  users and indexes the sample course; the second reuses them): time to the banner, to the
  gateway's first ``health`` answer and to ``ok``, and the time Ctrl-C takes to stop it.

    python bench/startup.py [--gateway-runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import REPO, bench_server, migrated_database, report
from harness import percentile  # also puts tests/ on the path
from hub_harness import free_port

PREFIX = "/services/tutor/"
POLL = 0.05


def _status(url: str) -> str | None:
    """The health status the gateway reports, or None while nothing answers."""
    try:
        return str(httpx.get(url, timeout=2).json().get("status"))
    except (httpx.HTTPError, ValueError):
        return None


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without keys or tutor settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TUTOR_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def _watch_health(
    process: subprocess.Popen, url: str, started: float, timeout: float = 300
) -> dict[str, float | None]:
    """Seconds from ``started`` to the first health answer and to ``ok``."""
    first = ready = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        status = _status(url)
        now = time.monotonic() - started
        if status is not None and first is None:
            first = now
        if status == "ok":
            ready = now
            break
        time.sleep(POLL)
    return {"first_health_s": _round(first), "ready_s": _round(ready)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def gateway_runs(runs: int) -> dict:
    """The gateway process spawned ``runs`` times: its first health answer and readiness."""
    results = []
    with bench_server() as server:
        database = migrated_database(server, "startup")
        for _ in range(runs):
            port = free_port()
            env = _clean_env(
                JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
                JUPYTERHUB_SERVICE_PREFIX=PREFIX,
                JUPYTERHUB_API_TOKEN="not-used",
                JUPYTERHUB_API_URL="http://127.0.0.1:9/hub/api",
                TUTOR_DATABASE_URL=database.url,
            )
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_tutor_hub.apps.gateway"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                url = f"http://127.0.0.1:{port}{PREFIX}health"
                results.append(_watch_health(process, url, started))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
    firsts = [r["first_health_s"] for r in results if r["first_health_s"] is not None]
    readies = [r["ready_s"] for r in results if r["ready_s"] is not None]
    return {
        "runs": results,
        "first_health_p50_s": _round(percentile(firsts, 50)) if firsts else None,
        "first_health_max_s": max(firsts) if firsts else None,
        "ready_p50_s": _round(percentile(readies, 50)) if readies else None,
        "answered_every_time": len(firsts) == runs,
    }


def demo_start(data_dir: Path, port: int) -> dict:
    """One start of the demo in ``data_dir``: banner, gateway health, then Ctrl-C."""
    env = _clean_env(
        TUTOR_DATA_DIR=str(data_dir),
        TUTOR_DEMO_PASSWORD="bench-password",
        PATH=f"{REPO / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
    )
    log = data_dir.parent / f"demo-{port}.log"
    started = time.monotonic()
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "jupyter_tutor.cli", "demo", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    banner = None
    assert demo.stdout is not None
    for line in demo.stdout:
        if "Press Ctrl-C to stop" in line:
            banner = time.monotonic() - started
            break
    health = _watch_health(demo, f"http://127.0.0.1:{port + 10}{PREFIX}health", started)
    stopping = time.monotonic()
    demo.send_signal(signal.SIGINT)
    try:
        code = demo.wait(120)
    except subprocess.TimeoutExpired:
        demo.kill()
        code = demo.wait()
    return {
        "banner_s": _round(banner),
        **health,
        "stop_s": round(time.monotonic() - stopping, 2),
        "exit_code": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway-runs", type=int, default=5, help="gateway spawns to time")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    gateway = gateway_runs(args.gateway_runs)
    with tempfile.TemporaryDirectory(prefix="tutor-bench-demo-") as folder:
        data_dir = Path(folder) / "data"
        first = demo_start(data_dir, free_port(11))
        second = demo_start(data_dir, free_port(11))
    report(
        "startup",
        {
            "goals": "gateway health within 3 s of spawn; second demo start ready within 10 s",
            "gateway": gateway,
            "demo": {"first": first, "second": second},
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "cores": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()
