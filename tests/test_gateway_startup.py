"""The gateway opens its port at once and loads its heavy parts behind it (issue 13).

A real ``python -m jupyter_tutor_hub.apps.gateway`` process against the test database:
``health`` answers ``starting`` before the routes are built, then the real health, and
``SIGTERM`` stops it cleanly.  Wall time is measured in ``bench/startup.py``, not here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from jupyter_tutor_hub.apps.startup import SwitchingRouter, starting_app
from jupyter_tutor_hub.gateway.service import TutorGateway
from tests.hub_harness import free_port

PREFIX = "/services/tutor/"


async def test_starting_app_answers_health_and_refuses_the_rest() -> None:
    router = SwitchingRouter(starting_app(PREFIX))
    sock, port = bind_unused_port()
    server = HTTPServer(router)
    server.add_sockets([sock])
    client = AsyncHTTPClient()
    try:
        health = await client.fetch(f"http://127.0.0.1:{port}{PREFIX}health", raise_error=False)
        assert (health.code, health.body) == (503, b'{"status": "starting"}')
        ask = await client.fetch(
            f"http://127.0.0.1:{port}{PREFIX}v1/messages",
            method="POST",
            body="{}",
            raise_error=False,
        )
        assert ask.code == 503 and ask.headers["Retry-After"]
        assert b"starting" in ask.body and b"overloaded_error" in ask.body
    finally:
        server.stop()


def test_retrieval_is_text_only_until_the_model_is_loaded() -> None:
    gateway = TutorGateway(default_course="")
    assert gateway.embedder is None and gateway.offline_cutoff is None


def _health(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_gateway_process_opens_its_port_first_and_stops_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(
        os.environ,
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
        JUPYTERHUB_SERVICE_PREFIX=PREFIX,
        JUPYTERHUB_API_TOKEN="not-used",
        JUPYTERHUB_API_URL="http://127.0.0.1:9/hub/api",
        TUTOR_DATABASE_URL=database_url,
        TUTOR_DEFAULT_COURSE="",
    )
    env.pop("ANTHROPIC_API_KEY", None)
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_tutor_hub.apps.gateway"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}{PREFIX}health"
    statuses: list[tuple[int, str]] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            response = _health(url)
            if response is not None:
                status = (response.status_code, response.json()["status"])
                if not statuses or statuses[-1] != status:
                    statuses.append(status)
                if status == (200, "ok"):
                    break
            time.sleep(0.05)
        assert statuses and statuses[-1] == (200, "ok"), log_path.read_text()
        # The first answer came from the start-up application, before the heavy imports.
        assert statuses[0] == (503, "starting"), statuses
        body = httpx.get(url, timeout=5).json()
        assert body["database"] == "ok" and body["retrieval"] == "text"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the gateway did not stop within 60 s of SIGTERM")
    assert code == 0, log_path.read_text()
    assert "Traceback" not in log_path.read_text()


def test_gateway_exits_non_zero_when_the_database_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
        TUTOR_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2",
    )
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_tutor_hub.apps.gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1
    assert "could not start" in result.stderr + result.stdout
