"""What a scratch kernel is allowed: the bubblewrap command, its resource limits, its kill.

The invariant: the model's code sees nothing of the host but the system's read-only
programs and libraries, the Python environment (its real prefixes, wherever they live,
also under /tmp), the student's root (read-only) and its own work folder; it holds no
capability (a user namespace with every capability dropped, also when the server runs as
root), has no network and sees no other process.  Resource limits are set *inside* the
user namespace (``prlimit`` after bubblewrap), so the process limit counts the sandbox's
processes only.  Without bubblewrap the same limits apply, but not the isolation.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import site
import sys
from dataclasses import dataclass

#: The system's programs and libraries, read-only (needed to run any interpreter).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: Secrets of the system configuration, hidden behind empty files or folders.
_MASKED_FILES = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-")
_MASKED_DIRS = ("/etc/ssh", "/etc/sudoers.d", "/etc/ssl/private")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one scratch kernel (each of its processes)."""

    memory_mb: int
    cpu_seconds: int
    processes: int
    file_mb: int

    def prlimit(self) -> list[str]:
        """``prlimit`` arguments that set these limits (hard and soft) and run the rest."""
        memory = self.memory_mb * 1024 * 1024
        size = self.file_mb * 1024 * 1024
        return [
            shutil.which("prlimit") or "prlimit",
            f"--as={memory}:{memory}",
            f"--cpu={self.cpu_seconds}:{self.cpu_seconds}",
            f"--nproc={self.processes}:{self.processes}",
            f"--fsize={size}:{size}",
            "--",
        ]

    def explain(self, ename: str, evalue: str) -> str | None:
        """A note naming the limit an error comes from, or None for an ordinary error."""
        if ename == "MemoryError":
            return (
                f"[The code hit the scratch kernel's memory limit ({self.memory_mb} MB of "
                "address space); work with less data at once.]"
            )
        if ename == "BlockingIOError" or "Resource temporarily unavailable" in evalue:
            return (
                f"[The code hit the scratch kernel's process limit ({self.processes} "
                "processes); it cannot start more.]"
            )
        if "File too large" in evalue:
            return (
                f"[The code hit the scratch kernel's file size limit ({self.file_mb} MB per file).]"
            )
        return None


def environment_paths(kernel_argv0: str | None = None) -> list[str]:
    """The real folders of the Python environment: prefixes, ``sys.path`` entries (this
    covers ``.pth`` and editable installs) and the kernel's own interpreter prefix, with
    symlinks resolved (a venv under /tmp, a pyenv interpreter behind a symlink)."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    candidates += site.getsitepackages() + [p for p in sys.path if os.path.isabs(p)]
    if kernel_argv0 and os.path.isabs(kernel_argv0):
        for path in (kernel_argv0, os.path.realpath(kernel_argv0)):
            candidates.append(os.path.dirname(os.path.dirname(path)))
    found: list[str] = []
    for path in candidates:
        for variant in (os.path.abspath(path), os.path.realpath(path)):
            if os.path.exists(variant) and not _is_system(variant) and variant not in found:
                found.append(variant)
    return found


def _is_system(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in _SYSTEM_DIRS)


def _under(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def bwrap_command(
    workdir: str, root_dir: str, environment: list[str], hidden: list[str]
) -> list[str]:
    """bubblewrap arguments: a user namespace without capabilities, new PID, IPC, UTS and
    network namespaces, the system and ``environment`` read-only, ``root_dir`` read-only
    (``hidden`` folders inside it masked), a private /tmp and ``workdir`` writable."""
    args = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-user", "--cap-drop", "ALL",
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session",
        "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    ]  # fmt: skip
    for folder in _SYSTEM_DIRS:
        if os.path.exists(folder):
            args += ["--ro-bind", folder, folder]
    args += [a for f in _MASKED_FILES if os.path.exists(f) for a in ("--ro-bind", "/dev/null", f)]
    args += [a for d in _MASKED_DIRS if os.path.isdir(d) for a in ("--tmpfs", d)]
    for folder in [*environment, root_dir]:
        args += ["--ro-bind", folder, folder]
    for folder in hidden:
        if _under(folder, [*environment, root_dir]) and os.path.isdir(folder):
            args += ["--tmpfs", folder]
    args += ["--bind", workdir, workdir, "--chdir", workdir, "--"]
    return args


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process descended from it, also those that left its
    session (``start_new_session``).  Under bubblewrap this is the whole PID namespace;
    without it, a process whose parent already exited (a double fork) is not found."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    todo, seen = [pid], []
    while todo:
        current = todo.pop()
        seen.append(current)
        todo += children.get(current, [])
    for victim in seen:
        with contextlib.suppress(OSError):
            os.kill(victim, signal.SIGKILL)
