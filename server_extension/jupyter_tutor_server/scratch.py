"""The scratch kernels where ``run_code`` runs the model's code, never the student's kernel.

A scratch kernel uses the same kernel spec (the same Python environment) as the student's
notebook, in a private working folder, with an environment stripped of every token.  Where
bubblewrap is installed it runs inside a sandbox with no network and a read-only system
(see ``sandbox.py`` and docs/isolation.md).  Each run has a time limit (past it the kernel
and every process it started are killed and a fresh kernel replaces it), resource limits
(memory, CPU seconds, processes, file size; an error from one names the limit) and an
output cap (applied inside the kernel before anything is sent, and again here), and a
kernel that died is replaced.
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
from traitlets import Bool, Enum, Float, Instance, Int, Unicode
from traitlets.config import LoggingConfigurable

from jupyter_tutor.text import strip_ansi

from .errors import ToolError
from .kernel_code import call_expression, output_cap
from .sandbox import Limits, bwrap_command, environment_paths, kill_tree

#: Environment variables a scratch kernel never sees: tokens of the hub, of this server,
#: of the chat API, and model keys (single-user mode).
_SECRET_PREFIXES = ("JUPYTERHUB_", "JPY_", "JUPYTER_TUTOR_", "ANTHROPIC_", "TUTOR_")
_SECRET_NAMES = {"JUPYTER_TOKEN"}


class ScratchKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs under resource limits and, when
    ``sandboxed``, under bubblewrap (see ``sandbox.py``).

    In the sandbox's own PID namespace the kernel's parent is PID 1, so the kernel is
    started "independent" with ``JPY_PARENT_PID=1``, which tells ipykernel not to watch its
    parent (``--die-with-parent`` ties it to this server instead).  Signals to the process
    group would hit bubblewrap itself, so interrupts go as messages on the control channel.
    """

    workdir = Unicode(help="The sandbox's only writable folder (sockets, files, cwd).")
    root_dir = Unicode(help="The server's root, readable in the sandbox.")
    sandboxed = Bool(False, help="Run the kernel under bubblewrap.")
    limits = Instance(Limits, allow_none=True, help="Resource limits of the kernel.")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        limited = (self.limits.prlimit() if self.limits else []) + cmd
        if not self.sandboxed:
            return limited
        hidden = [jupyter_runtime_dir()]
        environment = environment_paths(cmd[0] if cmd else None)
        return bwrap_command(self.workdir, self.root_dir, environment, hidden) + limited

    @property
    def kernel_spec(self) -> Any:
        spec = super().kernel_spec
        if spec is not None and self.sandboxed:
            spec.interrupt_mode = "message"
        return spec

    def kill_all(self) -> None:
        """Kill the kernel and every process it started (the whole sandbox)."""
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.poll() is None:
            kill_tree(process.pid)


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
        self.ename = ""
        self.evalue = ""

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
            self.ename, self.evalue = str(content.get("ename")), str(content.get("evalue"))
            tb = strip_ansi("\n".join(content.get("traceback", [])))
            self.error = tb[-self.limit :] or f"{content.get('ename')}: {content.get('evalue')}"

    def output(self) -> str:
        text = "".join(self.parts)
        if self.dropped or "[output cut by the tutor]" in text:
            text += f"\n[output cut: only the first {self.limit} characters are kept]"
        return text


class ScratchKernel:
    """One scratch kernel and its client."""

    def __init__(self, manager: ScratchKernelManager, workdir: str, env: dict[str, str]) -> None:
        self.manager = manager
        self.workdir = workdir
        self.env = env
        self.client: Any = None

    async def start(self, output_limit: int) -> None:
        await self.manager.start_kernel(
            env=self.env, cwd=self.workdir, independent=self.manager.sandboxed
        )
        await self._connect(output_limit)

    async def restart(self, output_limit: int) -> None:
        """A fresh kernel in place of a dead or stuck one (same folder, same sockets); every
        process the old one started is killed, also those in a new session."""
        self.client.stop_channels()
        self.manager.kill_all()
        await self.manager.restart_kernel(now=True)
        await self._connect(output_limit)

    async def _connect(self, output_limit: int) -> None:
        self.client = self.manager.client()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        setup = call_expression(output_cap, f"h['install']({int(output_limit)})")
        msg_id = self.client.execute(setup, silent=True, store_history=False)
        await self._collect(msg_id, _Collector(0), time.monotonic() + 30)

    async def shutdown(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.manager.has_kernel:
            self.manager.kill_all()
            await self.manager.shutdown_kernel(now=True)

    async def run(self, code: str, *, timeout: float, limit: int, limits: Limits) -> Outcome:
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
                await self.restart(limit)
                outcome.notes.append(
                    f"[Stopped: the code was still running after {timeout:g} s (time limit). "
                    "The scratch kernel and every process it started were killed; a fresh "
                    "kernel is ready, so variables defined by earlier runs are gone.]"
                )
            elif ended == "died":
                outcome.failed = True
                await self.restart(limit)
                outcome.notes.append(
                    "[The scratch kernel died while running this code (a crash, the code "
                    f"exited the process, or it used more than {limits.cpu_seconds} s of CPU "
                    "time, the CPU limit); a fresh kernel was started.]"
                )
        except asyncio.CancelledError:
            # The student pressed Stop: do not leave the model's code running.
            await asyncio.shield(self.manager.interrupt_kernel())
            raise
        outcome.output = collector.output()
        if collector.error:
            outcome.error = collector.error
            outcome.failed = True
            note = limits.explain(collector.ename, collector.evalue)
            if note:
                outcome.notes.append(note)
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
        10.0,
        help="""Seconds the model's code may run (run_code); past it the scratch kernel and
        every process it started are killed and a fresh kernel replaces it.""",
    ).tag(config=True)
    memory_mb = Int(
        1024,
        help="""Address space (RLIMIT_AS) of each scratch kernel process, in MB; past it the
        code gets a MemoryError and the model is told it hit the memory limit.""",
    ).tag(config=True)
    cpu_seconds = Int(
        300,
        help="""CPU seconds (RLIMIT_CPU) each scratch kernel process may use over its life;
        past it the process is killed (a kernel is then replaced by a fresh one).""",
    ).tag(config=True)
    max_processes = Int(
        64,
        help="""Processes (RLIMIT_NPROC) a scratch kernel may have.  Under bubblewrap this
        counts the sandbox's own processes; without it, all processes of the server's user
        (and root is exempt).""",
    ).tag(config=True)
    max_file_mb = Int(
        100,
        help="Largest file (RLIMIT_FSIZE) a scratch kernel may write, in MB.",
    ).tag(config=True)
    sandbox = Enum(
        ["auto", "bwrap", "none"],
        "auto",
        help="""Isolation of scratch kernels. `auto`: bubblewrap (no capabilities, no
        network, nothing of the host but the Python environment, the server's root
        read-only and the kernel's folder) where `bwrap` is installed, none otherwise;
        `bwrap`: refuse to run code without it; `none`: never sandbox (e.g. when the whole
        server is a container that already has no network).  The resource limits apply
        either way (docs/isolation.md).""",
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

    @property
    def limits(self) -> Limits:
        return Limits(self.memory_mb, self.cpu_seconds, self.max_processes, self.max_file_mb)

    def description(self) -> str:
        """What run_code's tool description says about isolation: only what holds."""
        limits = (
            f"Limits: {self.timeout:g} s per run, {self.memory_mb} MB of memory, "
            f"{self.max_processes} processes, files up to {self.max_file_mb} MB, and an "
            "output cap."
        )
        if self.sandboxed:
            return "It runs in a sandbox with no network and no access to other files. " + limits
        return (
            "It is NOT sandboxed: it can reach the network and read and write the files "
            "of the server's user; do not use it to do either. " + limits
        )

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
        # Fewer malloc arenas: the same work in less address space (RLIMIT_AS).
        env.setdefault("MALLOC_ARENA_MAX", "2")
        kwargs: dict[str, Any] = {
            "kernel_name": kernel_name,
            "kernel_spec_manager": self.kernel_spec_manager,
            "connection_file": os.path.join(workdir, "kernel.json"),
            "workdir": workdir,
            "limits": self.limits,
        }
        if self.sandboxed:
            # Inside the sandbox there is no network, not even the server's loopback:
            # the kernel talks over Unix sockets in the shared folder instead.  Its home is
            # its own folder (the student's home is not there).
            env.update(JPY_PARENT_PID="1", HOME=workdir)
            manager = ScratchKernelManager(
                sandboxed=True,
                root_dir=os.path.realpath(self.root_dir),
                transport="ipc",
                ip=os.path.join(workdir, "k"),
                **kwargs,
            )
        else:
            manager = ScratchKernelManager(**kwargs)
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
                    limits=self.limits,
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
