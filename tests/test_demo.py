"""``jupyter-tutor demo``: the product in one command, started and stopped as a person does.

It must come up on 127.0.0.1 with the embedded database, the sample course indexed and its
policy published, print the URL and the logins, and stop cleanly on Ctrl-C; a second start
reuses everything.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from hub_harness import free_port
from jupyter_client import BlockingKernelClient
from server_harness import run_in

from jupyter_tutor_hub.apps.demo import isolation_line

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "demo-test-password"


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    """A data folder for one demo, outside pytest's own temporary root.

    As root the demo's users (the gateway's included) must traverse every folder above it;
    pytest closes its ``pytest-of-USER`` folder to its owner again whenever another session
    starts on the machine, which would lock a running demo's gateway out of its database.
    """
    path = Path(tempfile.mkdtemp(prefix="tutor-demo-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_demo(
    data_dir: Path, port: int, *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TUTOR_"))}
    env |= {
        "TUTOR_DATA_DIR": str(data_dir),
        "TUTOR_DEMO_PASSWORD": PASSWORD,
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{env['PATH']}",
    } | (env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_tutor.cli", "demo", "--port", str(port), *args],
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
        if not line:  # end of output: the demo is exiting
            with contextlib.suppress(subprocess.TimeoutExpired):
                demo.wait(30)
            break
        lines.append(line)
        if "Press Ctrl-C to stop" in line:
            return lines
    raise AssertionError(
        f"the demo did not come up (exit status {demo.poll()}):\n" + "".join(lines[-40:])
    )


def stop(demo: subprocess.Popen[str]) -> int:
    demo.send_signal(signal.SIGINT)
    try:
        return demo.wait(60)
    finally:
        if demo.poll() is None:
            demo.kill()


def test_demo_runs_the_product_and_stops_on_ctrl_c(demo_dir: Path) -> None:
    port = free_port(11)  # the hub, its API, the proxy's API and (port + 10) the gateway
    demo = start_demo(demo_dir, port)
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
    assert (demo_dir / "postgres").is_dir()

    # A second start reuses the database and the index: quick, and the same course.
    again = start_demo(demo_dir, port)
    try:
        assert "Press Ctrl-C" in "".join(wait_for_banner(again, timeout=120))
    finally:
        assert stop(again) == 0


def test_demo_exits_non_zero_and_cleans_up_when_the_gateway_dies(demo_dir: Path) -> None:
    import psutil

    port = free_port(12)
    demo = start_demo(demo_dir / "data", port)
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
    assert str(demo_dir / "data" / "demo.log") in output
    assert not any(p.is_running() for p in [hub, *parts])


# -- the demo as root: one system user per student ---------------------------------------

CANARY = "sk-ant-canary-isolation-0123456789"


def probe(socket_dir: str, other_home: str, secret_files: list[str], canary: str) -> dict:
    """Run in a student's kernel: everything a hostile student would try, and what came of it."""
    import glob
    import os
    import pwd

    import psycopg

    leaks, readable = [], 0
    for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        readable += 1
        names = (b"ANTHROPIC_API_KEY=", b"OPENAI_API_KEY=", b"TUTOR_DATABASE_URL=")
        if canary.encode() in data or any(name in data for name in names):
            leaks.append(path)
    try:
        psycopg.connect(f"postgresql://postgres@/tutor?host={socket_dir}", connect_timeout=5)
        database = "connected"
    except psycopg.OperationalError as err:
        database = str(err).strip()[:300]
    opened = []
    for path in [other_home, *secret_files]:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                open(path, "rb").close()
            opened.append(path)
        except PermissionError:
            pass
    return {
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "readable": readable,
        "leaks": leaks,
        "database": database,
        "opened": opened,
    }


def student_token(port: int, user: str) -> str:
    """Log in through the hub's form, as a browser does, and make an API token there."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as web:
        web.get("/hub/login")
        login = web.post(
            "/hub/login",
            data={"username": user, "password": PASSWORD, "_xsrf": web.cookies["_xsrf"]},
            follow_redirects=False,
        )
        assert login.status_code == 302, login.text[:500]
        xsrf = next(c.value for c in web.cookies.jar if c.name == "_xsrf")
        made = web.post(
            f"/hub/api/users/{user}/tokens", json={"note": "test"}, headers={"X-XSRFToken": xsrf}
        )
        assert made.status_code == 201, made.text
        return made.json()["token"]


def student_kernel(port: int, user: str) -> BlockingKernelClient:
    """A kernel of ``user``'s own server, started through the hub and that server's API."""
    api = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {student_token(port, user)}"}
    started = httpx.post(f"{api}/hub/api/users/{user}/server", headers=headers, timeout=60)
    assert started.status_code in (201, 202), started.text
    deadline = time.monotonic() + 120
    while not httpx.get(f"{api}/hub/api/users/{user}", headers=headers).json()["servers"].get(
        "", {}
    ).get("ready"):
        assert time.monotonic() < deadline, f"{user}'s server did not start"
        time.sleep(0.5)
    session = httpx.post(
        f"{api}/user/{user}/api/sessions",
        headers=headers,
        json={"path": "probe.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
        timeout=60,
    )
    assert session.status_code == 201, session.text
    kernel_id = session.json()["kernel"]["id"]
    runtime = Path(pwd.getpwnam(user).pw_dir) / ".local" / "share" / "jupyter" / "runtime"
    connection = runtime / f"kernel-{kernel_id}.json"
    while not connection.exists():
        assert time.monotonic() < deadline, f"no connection file for {user}'s kernel"
        time.sleep(0.2)
    client = BlockingKernelClient()
    client.load_connection_file(str(connection))
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return client


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("adduser"), reason="per-user isolation needs root"
)
def test_demo_as_root_keeps_students_from_the_key_the_database_and_each_other(
    demo_dir: Path,
) -> None:
    port = free_port(11)
    data = demo_dir / "data"
    python_dirs = list(Path(sys.executable).resolve().parents)
    modes_before = {d: d.stat().st_mode for d in python_dirs}
    demo = start_demo(
        data,
        port,
        "--no-ingest",
        env_extra={"ANTHROPIC_API_KEY": CANARY, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"},
    )
    try:
        banner = "".join(wait_for_banner(demo))
        assert "Isolation: each demo user is a system user" in banner
        pgdata = data / "postgres"
        socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]
        client = student_kernel(port, "student1")
        args = [
            socket_dir,
            pwd.getpwnam("student2").pw_dir,
            [
                str(data / "hub" / "jupyterhub_cookie_secret"),
                str(data / "hub" / "jupyterhub.sqlite"),
                str(data / "hub" / "gateway-env.json"),
                str(data / "gateway"),
                str(data / "demo.log"),
                str(pgdata),
            ],
            CANARY,
        ]
        code = inspect.getsource(probe) + f"\nprint(json.dumps(probe(*{args!r})))"
        _, printed = run_in(client, "import json\n" + code)
        client.stop_channels()
        found = json.loads(printed.strip().splitlines()[-1])
        assert found["user"] == "student1"
        assert found["readable"] > 0  # the student's own processes, at least
        assert found["leaks"] == []
        assert found["database"] != "connected"
        assert found["opened"] == []
        # Only the gateway holds the key: not the hub, the proxy or PostgreSQL.
        holders = [
            " ".join(p.cmdline())
            for p in psutil.process_iter()
            if _environ_has(p, CANARY) and p.pid != demo.pid
        ]
        assert holders and all("jupyter_tutor_hub.apps.gateway" in c for c in holders), holders
    finally:
        code = stop(demo)
    assert code == 0
    assert {d: d.stat().st_mode for d in python_dirs} == modes_before  # /root closed again


def _environ_has(process: psutil.Process, value: str) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(value in v for v in process.environ().values())
    return False


def test_demo_not_as_root_says_it_is_single_user_trust() -> None:
    line = isolation_line("")
    assert "Single-user trust" in line and "Run the demo as root" in line
