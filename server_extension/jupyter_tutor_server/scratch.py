"""The scratch kernels where ``run_code`` runs the model's code, never the student's kernel.

A scratch kernel uses the same kernel spec (the same Python environment) as the student's
notebook, in a private working folder, with an environment stripped of every token.  Where
bubblewrap is installed it runs inside a sandbox with no network and a read-only system
(see docs/isolation.md).  Each run has a time limit (a stuck loop is interrupted, and the
kernel restarted if the interrupt does not help) and an output cap (applied inside the
kernel before anything is sent, and again here), and a kernel that died is replaced.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Enum, Float, Unicode
from traitlets.config import LoggingConfigurable

from jupyter_tutor.text import strip_ansi

from .errors import ToolError

#: Environment variables a scratch kernel never sees: tokens of the hub, of this server,
#: of the chat API, and model keys (single-user mode).
_SECRET_PREFIXES = ("JUPYTERHUB_", "JPY_", "JUPYTER_TUTOR_", "ANTHROPIC_", "TUTOR_")
_SECRET_NAMES = {"JUPYTER_TOKEN"}

#: Runs once in each new scratch kernel (IPython only; other kernels skip it): cuts the
#: output of each execution to the cap inside the kernel, so a 50 MB print never travels.
_OUTPUT_CAP = r"""
def cap_output(limit):
    from IPython import get_ipython
    from jupyter_client.session import extract_header

    session = get_ipython().kernel.session
    send = session.send
    state = {"parent": None, "left": limit}
    kinds = {"stream", "display_data", "execute_result", "update_display_data"}

    def size(msg_type, content):
        if msg_type == "stream":
            return len(content.get("text", ""))
        return sum(len(v) for v in content.get("data", {}).values() if isinstance(v, str))

    def capped(stream, msg_type, content=None, parent=None, *args, **kwargs):
        if isinstance(msg_type, str) and msg_type in kinds and isinstance(content, dict):
            msg_id = extract_header(parent or {}).get("msg_id")
            if msg_id != state["parent"]:
                state.update(parent=msg_id, left=limit)
            left, needed = state["left"], size(msg_type, content)
            if needed > left:
                if left <= 0:
                    return None
                note = "\n[output cut by the tutor]\n"
                if msg_type == "stream":
                    content = dict(content, text=content["text"][:left] + note)
                else:
                    text = str(content.get("data", {}).get("text/plain", ""))[:left] + note
                    content = dict(content, data={"text/plain": text}, metadata={})
                needed = left
            state["left"] = left - needed
        return send(stream, msg_type, content, parent, *args, **kwargs)

    session.send = capped
"""


def bwrap_prefix(workdir: str, root_dir: str) -> list[str]:
    """bubblewrap arguments: no network, everything read-only but ``workdir`` and a private
    /tmp; the server's root (the student's files) readable even when it lies under /tmp;
    Jupyter's runtime folder (server and kernel connection secrets) hidden."""
    return [
        shutil.which("bwrap") or "bwrap",
        "--die-with-parent",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-pid",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        "--ro-bind", root_dir, root_dir,
        "--tmpfs", jupyter_runtime_dir(),
        "--bind", workdir, workdir,
        "--chdir", workdir,
        "--",
    ]  # fmt: skip


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs under bubblewrap.

    In the sandbox's own PID namespace the kernel's parent is PID 1, so the kernel is
    started "independent" with ``JPY_PARENT_PID=1``, which tells ipykernel not to watch its
    parent (``--die-with-parent`` ties it to this server instead).  Signals to the process
    group would hit bubblewrap itself, so interrupts go as messages on the control channel.
    """

    workdir = Unicode(help="The sandbox's only writable folder (sockets, files, cwd).")
    root_dir = Unicode(help="The server's root, readable in the sandbox.")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        prefix = bwrap_prefix(self.workdir, self.root_dir)
        return prefix + super().format_kernel_cmd(extra_arguments)

    @property
    def kernel_spec(self) -> Any:
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec


@dataclass
class Outcome:
    """What one run produced, already cut to the cap."""

    output: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    failed: bool = False

    def text(self) -> str:
        parts = [*self.notes]
        if self.output:
            parts.append(self.output.rstrip("\n"))
        if self.error:
            parts.append(self.error)
        return "\n".join(parts) if parts else "(the code ran and printed nothing)"


class _Collector:
    """Gathers an execution's outputs, keeping at most ``limit`` characters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0
        self.error: str | None = None

    def add(self, text: str) -> None:
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))

    def feed(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            self.add(content.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = content.get("data", {})
            text = data.get("text/plain")
            self.add((str(text) if text is not None else f"[{', '.join(sorted(data))}]") + "\n")
        elif kind == "error":
            tb = strip_ansi("\n".join(content.get("traceback", [])))
            self.error = tb[-self.limit :] or f"{content.get('ename')}: {content.get('evalue')}"

    def output(self) -> str:
        text = "".join(self.parts)
        if self.dropped or "[output cut by the tutor]" in text:
            text += f"\n[output cut: only the first {self.limit} characters are kept]"
        return text


class ScratchKernel:
    """One scratch kernel and its client."""

    def __init__(self, manager: AsyncKernelManager, workdir: str, env: dict[str, str]) -> None:
        self.manager = manager
        self.workdir = workdir
        self.env = env
        self.client: Any = None

    async def start(self, output_limit: int) -> None:
        sandboxed = isinstance(self.manager, SandboxedKernelManager)
        await self.manager.start_kernel(env=self.env, cwd=self.workdir, independent=sandboxed)
        await self._connect(output_limit)

    async def restart(self, output_limit: int) -> None:
        """A fresh kernel in place of a dead or stuck one (same folder, same sockets)."""
        self.client.stop_channels()
        await self.manager.restart_kernel(now=True)
        await self._connect(output_limit)

    async def _connect(self, output_limit: int) -> None:
        self.client = self.manager.client()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        setup = f"exec({_OUTPUT_CAP!r}, ns := {{}}); ns['cap_output']({int(output_limit)})"
        # `ns` lands in the scratch namespace only: nothing of the student's is here.
        msg_id = self.client.execute(setup, silent=True, store_history=False)
        await self._collect(msg_id, _Collector(0), time.monotonic() + 30)

    async def shutdown(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.manager.has_kernel:
            await self.manager.shutdown_kernel(now=True)

    async def run(self, code: str, *, timeout: float, limit: int, grace: float) -> Outcome:
        outcome = Outcome()
        if not await self.manager.is_alive():
            await self.restart(limit)
            outcome.notes.append(
                "[The scratch kernel had died; a fresh one ran this code, so variables "
                "defined by earlier runs are gone.]"
            )
        await self._drain_replies()
        collector = _Collector(limit)
        msg_id = self.client.execute(code, store_history=False, allow_stdin=False)
        try:
            ended = await self._collect(msg_id, collector, time.monotonic() + timeout)
            if ended == "timeout":
                outcome.failed = True
                await self.manager.interrupt_kernel()
                ended = await self._collect(msg_id, collector, time.monotonic() + grace)
                note = f"[Stopped: the code was still running after {timeout:g} s (time limit)"
                if ended != "idle":
                    await self.restart(limit)
                    note += "; the scratch kernel did not stop and was restarted"
                outcome.notes.append(note + ".]")
                collector.error = None  # the KeyboardInterrupt of our own interrupt
            elif ended == "died":
                outcome.failed = True
                await self.restart(limit)
                outcome.notes.append(
                    "[The scratch kernel died while running this code (a crash, or the code "
                    "exited the process); a fresh kernel was started.]"
                )
        except asyncio.CancelledError:
            # The student pressed Stop: do not leave the model's code running.
            await asyncio.shield(self.manager.interrupt_kernel())
            raise
        outcome.output = collector.output()
        if collector.error:
            outcome.error = collector.error
            outcome.failed = True
        return outcome

    async def _drain_replies(self) -> None:
        """Forget the replies of earlier runs (only their outputs were read)."""
        while True:
            try:
                await self.client.get_shell_msg(timeout=0)
            except Empty:
                return

    async def _collect(self, msg_id: str, collector: _Collector, deadline: float) -> str:
        """Read outputs of ``msg_id`` until it ends: ``idle``, ``timeout`` or ``died``."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = await self.client.get_iopub_msg(timeout=min(remaining, 0.5))
            except Empty:
                if not await self.manager.is_alive():
                    return "died"
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"].get("execution_state") == "idle":
                    return "idle"
            else:
                collector.feed(msg)
        return "timeout"


class ScratchKernels(LoggingConfigurable):
    """The scratch kernels of this server, one per kernel spec, started on first use."""

    timeout = Float(
        10.0, help="Seconds the model's code may run before it is interrupted (run_code)."
    ).tag(config=True)
    interrupt_grace = Float(
        3.0, help="Seconds an interrupted run may take to stop before the kernel is restarted."
    ).tag(config=True)
    sandbox = Enum(
        ["auto", "bwrap", "none"],
        "auto",
        help="""Isolation of scratch kernels. `auto`: bubblewrap (no network, read-only
        system) where `bwrap` is installed, none otherwise; `bwrap`: refuse to run code
        without it; `none`: never sandbox (e.g. when the whole server is a container that
        already has no network).""",
    ).tag(config=True)
    idle_timeout = Float(
        600.0, help="Seconds a scratch kernel may stay unused before it is shut down."
    ).tag(config=True)

    def __init__(self, kernel_spec_manager: Any, root_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_spec_manager = kernel_spec_manager
        self.root_dir = root_dir
        self._kernels: dict[str, ScratchKernel] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._idle: dict[str, asyncio.TimerHandle] = {}

    @property
    def sandboxed(self) -> bool:
        return self.sandbox == "bwrap" or (self.sandbox == "auto" and bool(shutil.which("bwrap")))

    def _new_kernel(self, kernel_name: str) -> ScratchKernel:
        if self.sandbox == "bwrap" and not shutil.which("bwrap"):
            raise ToolError(
                "run_code is configured to need bubblewrap (`bwrap`), which is not installed "
                "on this server; the code was not run."
            )
        workdir = tempfile.mkdtemp(prefix="tutor-scratch-")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_SECRET_PREFIXES) and k not in _SECRET_NAMES
        }
        # A private IPython folder: no history or profile of the student's is touched.
        env["IPYTHONDIR"] = os.path.join(workdir, ".ipython")
        kwargs: dict[str, Any] = {
            "kernel_name": kernel_name,
            "kernel_spec_manager": self.kernel_spec_manager,
            "connection_file": os.path.join(workdir, "kernel.json"),
        }
        if self.sandboxed:
            # Inside the sandbox there is no network, not even the server's loopback:
            # the kernel talks over Unix sockets in the shared folder instead.
            env["JPY_PARENT_PID"] = "1"
            manager: AsyncKernelManager = SandboxedKernelManager(
                workdir=workdir,
                root_dir=os.path.realpath(self.root_dir),
                transport="ipc",
                ip=os.path.join(workdir, "k"),
                **kwargs,
            )
        else:
            manager = AsyncKernelManager(**kwargs)
        return ScratchKernel(manager, workdir, env)

    async def run(self, code: str, kernel_name: str, output_limit: int) -> Outcome:
        """Run ``code`` in the scratch kernel of ``kernel_name`` (started if needed),
        keeping at most ``output_limit`` characters of its output."""
        lock = self._locks.setdefault(kernel_name, asyncio.Lock())
        async with lock:
            self._cancel_idle(kernel_name)
            kernel = self._kernels.get(kernel_name)
            if kernel is None:
                kernel = self._new_kernel(kernel_name)
                self.log.info(
                    "Starting a %s scratch kernel (%s) in %s",
                    kernel_name,
                    "sandboxed with bubblewrap" if self.sandboxed else "not sandboxed",
                    kernel.workdir,
                )
                try:
                    await kernel.start(output_limit)
                except BaseException:
                    await self._discard(kernel)
                    raise
                self._kernels[kernel_name] = kernel
            try:
                return await kernel.run(
                    code,
                    timeout=self.timeout,
                    limit=output_limit,
                    grace=self.interrupt_grace,
                )
            finally:
                self._idle[kernel_name] = asyncio.get_running_loop().call_later(
                    self.idle_timeout, lambda: asyncio.ensure_future(self._retire(kernel_name))
                )

    def _cancel_idle(self, kernel_name: str) -> None:
        handle = self._idle.pop(kernel_name, None)
        if handle is not None:
            handle.cancel()

    async def _retire(self, kernel_name: str) -> None:
        async with self._locks[kernel_name]:
            kernel = self._kernels.pop(kernel_name, None)
            if kernel is not None:
                self.log.info("Shutting down the idle %s scratch kernel", kernel_name)
                await self._discard(kernel)

    async def _discard(self, kernel: ScratchKernel) -> None:
        try:
            await kernel.shutdown()
        except Exception:
            self.log.warning("Could not shut a scratch kernel down cleanly", exc_info=True)
        shutil.rmtree(kernel.workdir, ignore_errors=True)

    async def shutdown(self) -> None:
        """Shut every scratch kernel down (the server is stopping); never raises."""
        for name in list(self._idle):
            self._cancel_idle(name)
        kernels, self._kernels = list(self._kernels.values()), {}
        await asyncio.gather(*(self._discard(k) for k in kernels))
