"""A real Jupyter server with the tutor extension, as a subprocess, for the tests.

The server is the installed product (``python -m jupyter_server``, extensions enabled by
their installed config), on a free 127.0.0.1 port, with its own config, data, runtime
and IPython folders so nothing of the developer's leaks in.  Helpers drive its chat API
the way the panel does and connect to kernels it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from chat_contract import validate_event
from hub_harness import free_port
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.blocking import BlockingKernelClient

from jupyter_tutor.sse import iter_event_data

#: What a single-user-mode server under test loads: course retrieval answers two fixed
#: passages (the retrieval engine is tested on its own; here only its results matter).
RETRIEVAL_STUB = """
from dataclasses import asdict, dataclass

from jupyter_tutor_hub.gateway.service import TutorGateway


@dataclass
class Hit:
    course: str
    path: str
    cell: int
    heading: str
    text: str
    score: float = 1.0

    def to_dict(self):
        return asdict(self)


PASSAGES = [
    Hit("intro-python", "week1/loops.ipynb", 3, "While loops", "A while loop repeats..."),
    Hit("intro-python", "week1/names.ipynb", 1, "Names", "A name must be defined before..."),
]


async def retrieve(self, course, question, k=None):
    return PASSAGES[: k or len(PASSAGES)]


TutorGateway.retrieve = retrieve
TutorGateway.load_embedder = lambda self, has_courses=True: None
"""


@dataclass
class RunningServer:
    """A Jupyter server subprocess and ways to call it."""

    root: Path
    port: int
    base_url: str
    token: str
    runtime_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"token {self.token}", **extra}

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any):
        headers = {**(self.headers() if auth else {}), **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def chat(self, body: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """POST chat and read the whole answer: the list of events."""
        return list(self.stream_chat(body, **kwargs))

    def stream_chat(self, body: Any, timeout: float = 120, **kwargs: Any) -> Iterator[dict]:
        with httpx.stream(
            "POST",
            self.url + "tutor/api/chat",
            json=body,
            headers=self.headers(),
            timeout=timeout,
            **kwargs,
        ) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for data in iter_event_data(response.iter_lines()):
                event = json.loads(data)
                validate_event(event)  # every event any test sees keeps the documented contract
                yield event

    def start_session(self, notebook: str) -> str:
        """Open ``notebook`` with a kernel, as JupyterLab does; returns the kernel id."""
        response = self.request(
            "POST",
            "api/sessions",
            json={
                "path": notebook,
                "type": "notebook",
                "name": notebook,
                "kernel": {"name": "python3"},
            },
        )
        response.raise_for_status()
        return response.json()["kernel"]["id"]

    def kernel_client(self, kernel_id: str) -> BlockingKernelClient:
        """A client of a kernel this server started (through its connection file)."""
        client = BlockingKernelClient()
        client.load_connection_file(str(self.runtime_dir / f"kernel-{kernel_id}.json"))
        # No heartbeat channel: its 1 s deadline reads a busy machine as a dead kernel
        # ("Kernel died before replying to kernel_info"); readiness is the kernel_info reply.
        client.start_channels(hb=False)
        client.wait_for_ready(timeout=60)
        return client

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    workdir: Path,
    env: dict[str, str],
    *,
    base_url: str = "/",
    config: str = "",
) -> RunningServer:
    """Start ``jupyter server`` with the tutor; wait until its API answers."""
    root = workdir / "root"
    runtime = workdir / "runtime"
    config_dir = workdir / "config"
    for folder in (root, runtime, config_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.py").write_text(config)
    port = free_port()
    token = os.urandom(12).hex()
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "TUTOR_", "JUPYTERHUB_", "JUPYTER_", "JPY_"))
    }
    base_env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_DATA_DIR=str(workdir / "data"),
        IPYTHONDIR=str(workdir / "ipython"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    base_env.update(env)
    log_path = workdir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the subprocess for its lifetime
    args = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    process = subprocess.Popen(args, cwd=root, env=base_env, stdout=log, stderr=subprocess.STDOUT)
    server = RunningServer(root, port, base_url, token, runtime, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter server exited:\n{server.log()[-3000:]}")
        try:
            if server.request("GET", "api/status").status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"jupyter server did not start:\n{server.log()[-3000:]}")


#: What a student's hub token allows: calling the tutor gateway.
STUDENT_SCOPES = ["access:services!service=tutor", "custom:tutor:use"]


def serve_student(
    hub: Any,
    workdir: Path,
    student: str,
    *,
    base_url: str = "/",
    config: str = "",
    env: dict[str, str] | None = None,
    gateway_url: str = "",
) -> Iterator[RunningServer]:
    """Run ``student``'s Jupyter server, its tutor talking to ``hub``'s gateway (or the one
    at ``gateway_url``) with the student's token, until the generator resumes: a fixture's
    ``yield from``.  ``env`` adds to the server's environment (``PYTHONPATH`` for plugins)."""
    running = start_server(
        workdir,
        {
            "TUTOR_GATEWAY_URL": gateway_url or hub.gateway_url,
            "JUPYTERHUB_API_TOKEN": hub.token_for(student, STUDENT_SCOPES),
            **(env or {}),
        },
        base_url=base_url,
        config=config,
    )
    yield running
    running.stop()


class ServerKernel:
    """What nbclient needs of a kernel manager, for a kernel the Jupyter server started.

    nbclient then executes a notebook on a kernel with exactly the environment and
    extensions the server gives its kernels (what JupyterLab would get).
    """

    has_kernel = True

    def __init__(self, server: RunningServer, kernel_id: str) -> None:
        self.server = server
        self.kernel_id = kernel_id

    def client(self, **kwargs: Any) -> AsyncKernelClient:
        client = AsyncKernelClient(**kwargs)
        client.load_connection_file(str(self.server.runtime_dir / f"kernel-{self.kernel_id}.json"))
        return client

    async def is_alive(self) -> bool:
        return self.server.request("GET", f"api/kernels/{self.kernel_id}").status_code == 200

    async def interrupt_kernel(self) -> None:
        self.server.request("POST", f"api/kernels/{self.kernel_id}/interrupt")

    async def cleanup_resources(self) -> None:
        """The server owns the kernel: nothing to clean up here."""


def assert_valid_history(messages: list[dict]) -> None:
    """What the Messages API demands of a history: alternating roles from a user turn,
    and every tool use answered by its result in the very next message."""
    assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2) + [
        "user"
    ] * (len(messages) % 2)
    for i, message in enumerate(messages):
        content = message["content"] if isinstance(message["content"], list) else []
        uses = {b["id"] for b in content if b.get("type") == "tool_use"}
        if uses:
            answered = {
                b["tool_use_id"]
                for b in messages[i + 1]["content"]
                if b.get("type") == "tool_result"
            }
            assert uses == answered, (uses, answered)


def run_in(client: BlockingKernelClient, code: str) -> tuple[dict, str]:
    """Execute ``code`` as a notebook cell would; the reply and the printed text."""
    printed: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "execute_result":
            printed.append(msg["content"]["data"].get("text/plain", ""))

    reply = client.execute_interactive(code, timeout=60, output_hook=hook)
    return reply, "".join(printed)


def displayed(client: BlockingKernelClient, code: str) -> str:
    """The Markdown ``code`` displays (each version of an updated display), in order."""
    shown: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] in ("display_data", "update_display_data"):
            shown.append(msg["content"]["data"].get("text/markdown", ""))

    client.execute_interactive(code, timeout=60, output_hook=hook)
    return "\n".join(shown)


def notebook(*sources: str, outputs: dict[int, list[dict]] | None = None) -> dict:
    """A minimal nbformat 4 notebook of code cells (``outputs`` by cell index)."""
    cells = []
    for index, source in enumerate(sources):
        cells.append(
            {
                "cell_type": "code",
                "id": f"cell{index}",
                "metadata": {},
                "execution_count": index + 1 if outputs and index in outputs else None,
                "source": source,
                "outputs": (outputs or {}).get(index, []),
            }
        )
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
