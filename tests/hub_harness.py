"""A real JupyterHub for the tests: the demo configuration, plus an admin service token.

The hub runs as a subprocess with the tutor gateway as a hub-managed service, local
single-user servers (SimpleLocalProcessSpawner) and shared-password users, all on
127.0.0.1 ports chosen free at start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = Path(__file__).with_name("jupyterhub_config_test.py")


def free_port(count: int = 1) -> int:
    """A port ``p`` such that ``p .. p+count-1`` are all free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count >= 65000:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


@dataclass
class RunningHub:
    """A JupyterHub subprocess and the means to drive it through its REST API."""

    data_dir: Path
    port: int
    gateway_port: int
    password: str
    admin_token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    users: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    @property
    def gateway_url(self) -> str:
        """The gateway as the students' servers reach it (directly, with the prefix)."""
        return f"http://127.0.0.1:{self.gateway_port}/services/tutor/"

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx.request(method, f"{self.api_url}{path}", headers=headers, timeout=60, **kwargs)

    def token_for(
        self, user: str, scopes: list[str] | None = None, expires_in: int | None = None
    ) -> str:
        """A new API token of ``user`` (by default scoped like a server's token)."""
        body: dict = {"note": "test"}
        if scopes is not None:
            body["scopes"] = scopes
        if expires_in is not None:
            body["expires_in"] = expires_in
        response = self.api("POST", f"/users/{user}/tokens", json=body)
        response.raise_for_status()
        return response.json()["token"]

    def start_server(self, user: str) -> dict:
        response = self.api("POST", f"/users/{user}/server")
        assert response.status_code in (201, 202, 400), response.text
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return server
            time.sleep(0.5)
        raise TimeoutError(f"{user}'s server did not start; see {self.log_path}")

    def stop_server(self, user: str) -> None:
        self.api("DELETE", f"/users/{user}/server")

    def wait_for_gateway(self, timeout: float = 120) -> None:
        """Wait until the gateway is fully started (embedding model loaded: the tests expect
        hybrid retrieval, not the text-only retrieval it serves while loading)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = httpx.get(self.gateway_url + "health", timeout=2)
                if health.status_code == 200 and health.json().get("status") == "ok":
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise TimeoutError(f"the gateway did not come up; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_hub(
    data_dir: Path,
    *,
    database_url: str,
    upstream_url: str | None,
    api_key: str | None,
    extra_env: dict[str, str] | None = None,
) -> RunningHub:
    """Start JupyterHub with the test config and wait until its API and gateway answer."""
    proxy = shutil.which("configurable-http-proxy") or str(
        REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    )
    if not Path(proxy).exists():
        raise RuntimeError("configurable-http-proxy is missing: run `make test` (npm ci)")
    (data_dir / "hub").mkdir(parents=True, exist_ok=True)
    port = free_port(3)
    gateway_port = free_port(1)
    password = secrets.token_urlsafe(12)
    admin_token = secrets.token_hex(24)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "TUTOR_", "JUPYTERHUB_"))
    }
    env.update(
        PATH=f"{Path(proxy).parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        TUTOR_DATA_DIR=str(data_dir),
        TUTOR_DATABASE_URL=database_url,
        TUTOR_DEMO_PORT=str(port),
        TUTOR_GATEWAY_PORT=str(gateway_port),
        TUTOR_DEMO_PASSWORD=password,
        TUTOR_TEST_ADMIN_TOKEN=admin_token,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    if upstream_url:
        env["ANTHROPIC_BASE_URL"] = upstream_url
    if api_key:
        env["ANTHROPIC_API_KEY"] = api_key
    env.update(extra_env or {})
    log_path = data_dir / "hub.log"
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the subprocess for its lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(TEST_CONFIG)],
        cwd=data_dir / "hub",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    hub = RunningHub(data_dir, port, gateway_port, password, admin_token, process, log_path)
    deadline = time.monotonic() + 150  # the hub itself waits up to 120 s for the gateway service
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterHub exited; see {log_path}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            if hub.api("GET", "/").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        hub.stop()
        raise TimeoutError(f"JupyterHub did not start; see {log_path}")
    hub.wait_for_gateway()
    return hub


class ExternalGateway:
    """``jupyter-tutor gateway`` as its own process, the way production runs it."""

    def __init__(
        self, hub, database_url: str, fake, folder: Path, extra_env: dict | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/services/tutor"
        config = folder / "gateway_config.py"
        config.write_text(
            "c.ConversationStore.checkpoint_seconds = 0.2\n"
            "c.ConversationStore.stale_seconds = 1\n"
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TUTOR_"))
        } | {
            "JUPYTERHUB_API_URL": hub.api_url,
            "JUPYTERHUB_API_TOKEN": "unused-for-identification",
            "TUTOR_DATABASE_URL": database_url,
            "TUTOR_GATEWAY_CONFIG": str(config),
            "ANTHROPIC_BASE_URL": fake.url,
            "ANTHROPIC_API_KEY": fake.api_key,
        } | (extra_env or {})
        self.log = folder / "gateway.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_tutor_hub.apps.gateway", "--port",
                 str(self.port), "--ip", "127.0.0.1", "--plain-logs"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(self.log.read_text()[-2000:])

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
