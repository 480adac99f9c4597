"""``jupyter-tutor demo``: the product in one command, started and stopped as a person does.

It must come up on 127.0.0.1 with the embedded database, the sample course indexed and its
policy published, print the URL and the logins, and stop cleanly on Ctrl-C; a second start
reuses everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from hub_harness import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_demo(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TUTOR_"))}
    env |= {
        "TUTOR_DATA_DIR": str(data_dir),
        "TUTOR_DEMO_PASSWORD": "demo-test-password",
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{env['PATH']}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_tutor.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_banner(demo: subprocess.Popen[str], timeout: float = 180) -> list[str]:
    """The demo's output up to its banner (the URL, the logins, the password)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line and demo.poll() is not None:
            break
        lines.append(line)
        if "Press Ctrl-C to stop" in line:
            return lines
    raise AssertionError("the demo did not come up:\n" + "".join(lines[-40:]))


def stop(demo: subprocess.Popen[str]) -> int:
    demo.send_signal(signal.SIGINT)
    try:
        return demo.wait(60)
    finally:
        if demo.poll() is None:
            demo.kill()


def test_demo_runs_the_product_and_stops_on_ctrl_c(tmp_path) -> None:
    port = free_port(11)  # the hub, its API, the proxy's API and (port + 10) the gateway
    demo = start_demo(tmp_path, port)
    try:
        banner = "".join(wait_for_banner(demo))
        assert f"http://127.0.0.1:{port}/" in banner
        assert "student1, student2, student3, instructor1" in banner
        assert "demo-test-password" in banner
        assert "offline responder" in banner  # no key: said plainly
        assert httpx.get(f"http://127.0.0.1:{port}/hub/api/").status_code == 200
        gateway = f"http://127.0.0.1:{port + 10}/services/tutor/"
        health = httpx.get(gateway + "health").json()
        # "starting" while the embedding model loads (text-only retrieval meanwhile)
        assert health["status"] in {"ok", "starting"}
        assert (health["database"], health["upstream"]) == ("ok", "offline")
        # Log in as a student would, through the hub's form.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as web:
            form = web.get("/hub/login")
            xsrf = form.cookies.get("_xsrf") or web.cookies.get("_xsrf")
            login = web.post(
                "/hub/login",
                data={"username": "student1", "password": "demo-test-password", "_xsrf": xsrf},
            )
            assert login.status_code == 302, login.text[:500]
    finally:
        code = stop(demo)
    rest = demo.stdout.read()
    assert code == 0, rest[-3000:]
    # Quiet: the hub's own log goes to a file; the terminal gets the banner and one line.
    output = banner + rest
    for noise in ("[ConfigProxy] error", "Traceback", "Task was destroyed", "'proto'"):
        assert noise not in output, output[-3000:]
    assert (tmp_path / "postgres").is_dir()

    # A second start reuses the database and the index: quick, and the same course.
    again = start_demo(tmp_path, port)
    try:
        assert "Press Ctrl-C" in "".join(wait_for_banner(again, timeout=120))
    finally:
        assert stop(again) == 0


def test_demo_exits_non_zero_and_cleans_up_when_the_gateway_dies(tmp_path: Path) -> None:
    import psutil

    port = free_port(12)
    demo = start_demo(tmp_path / "data", port)
    try:
        wait_for_banner(demo)
        hub = psutil.Process(demo.pid).children()[0]
        parts = hub.children()
        gateway = next(
            p for p in parts if "jupyter_tutor_hub.apps.gateway" in " ".join(p.cmdline())
        )
        gateway.kill()
        output, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 1
    assert "The demo stopped because the tutor gateway" in output
    assert str(tmp_path / "data" / "demo.log") in output
    assert not any(p.is_running() for p in [hub, *parts])
