"""The scratch kernel as an attacker's model would use it: each escape tried from inside
``run_code``'s kernel and refused, each resource limit hit with a clear tool error, and the
time limit killing every process the code started.

These drive :class:`ScratchKernels` directly (the seam ``run_code`` calls), in this
process as root (the machine's user) and, in ``test_as_a_normal_user``, in a child process
running as an unprivileged system user created for the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from psycopg.conninfo import conninfo_to_dict

from jupyter_tutor_server.scratch import Outcome, ScratchKernels

needs_bwrap = pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
SECRET = "tutor-test-secret-4711"


def run(codes: list[str], root: Path, **config: object) -> list[Outcome]:
    """Run each of ``codes`` in one scratch kernel configured by ``config``."""

    root = root / "student1"  # the server's root: readable, so not where other homes are
    root.mkdir(exist_ok=True)

    async def go() -> list[Outcome]:
        kernels = ScratchKernels(KernelSpecManager(), str(root), **config)
        try:
            return [await kernels.run(code, "python3", 4000) for code in codes]
        finally:
            await kernels.shutdown()

    return asyncio.run(go())


ESCAPES = """
import glob, json, os, socket, subprocess
found = {}
found["capeff"] = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
def runs(*cmd):
    return subprocess.run(cmd, capture_output=True).returncode == 0
found["remount"] = runs("mount", "-o", "remount,bind,rw", "/")
found["umount"] = runs("umount", "-l", "/tmp") or runs("umount", "-l", "/proc")
def reads(path):
    try:
        return bool(os.listdir(path)) if os.path.isdir(path) else bool(open(path).read(1))
    except OSError:
        return False
found["homes"] = [p for p in HOMES if reads(p)]
def connects(family, address):
    try:
        with socket.socket(family) as s:
            s.settimeout(3)
            s.connect(address)
        return True
    except OSError:
        return False
found["database"] = connects(socket.AF_UNIX, DB_SOCKET)
found["network"] = connects(socket.AF_INET, ("127.0.0.1", PORT))
leaked = []
for path in glob.glob("/proc/[0-9]*/environ"):
    try:
        if SECRET in open(path).read():
            leaked.append(path)
    except OSError:
        pass
found["environ"] = leaked
found["usr_writable"] = os.access("/usr", os.W_OK)
print(json.dumps(found))
"""


def escapes_code(homes: list[str], db_socket: str, port: int) -> str:
    header = f"HOMES = {homes!r}\nDB_SOCKET = {db_socket!r}\nPORT = {port}\nSECRET = {SECRET!r}\n"
    return header + ESCAPES


def database_socket(pg_server) -> str:
    params = conninfo_to_dict(pg_server.url())
    path = os.path.join(str(params["host"]), f".s.PGSQL.{params.get('port') or 5432}")
    assert os.path.exists(path), path  # the socket the sandbox must not reach
    return path


@pytest.fixture
def other_homes(tmp_path):
    """Folders standing for other students' homes (0700, with a file), under /tmp and
    under /home."""
    homes = [tmp_path / "home-student2"]
    if os.access("/home", os.W_OK):
        homes.append(Path(tempfile.mkdtemp(prefix="tutor-test-home-", dir="/home")))
    for home in homes:
        home.mkdir(exist_ok=True)
        (home / "notes.txt").write_text("private")
        home.chmod(0o700)
    yield [str(h) for h in homes]
    for home in homes[1:]:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 the sandbox must not reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def escapes(output: str) -> dict:
    return json.loads(next(line for line in output.splitlines() if line.startswith("{")))


#: What the escape attempts find in a sound sandbox: no capability, nothing reached.
NO_ESCAPE = {
    "capeff": "0000000000000000",
    "remount": False,
    "umount": False,
    "homes": [],
    "database": False,
    "network": False,
    "environ": [],
    "usr_writable": False,
}


@needs_bwrap
def test_escapes_are_refused(pg_server, other_homes, listener, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_TEST_SECRET", SECRET)  # this process's environ holds it
    code = escapes_code(other_homes, database_socket(pg_server), listener)
    (outcome,) = run([code], tmp_path, sandbox="bwrap")
    found = escapes(outcome.output)
    assert found == NO_ESCAPE, outcome.text()


LIMITS = {"memory_mb": 1024, "max_processes": 20, "max_file_mb": 10}
MEMORY = "block = bytearray(1024 * 1024 * 1024)"
PROCESSES = "import subprocess\nkids = [subprocess.Popen(['sleep', '30']) for _ in range(100)]"
FILE = "open('big.bin', 'wb').write(b'x' * (50 * 1024 * 1024))"


def assert_limits_hit(outcomes: list[Outcome], processes: bool) -> None:
    memory, kids, big, after = outcomes
    assert memory.failed and "memory limit (1024 MB" in memory.text()
    if processes:
        assert kids.failed and "process limit (20 processes)" in kids.text()
    assert big.failed and "file size limit (10 MB" in big.text()
    assert not after.failed and "still here" in after.text()


@needs_bwrap
def test_limits_give_clear_errors_in_the_sandbox(tmp_path) -> None:
    codes = [MEMORY, PROCESSES, FILE, "print('still here')"]
    # Linux never applies RLIMIT_NPROC to uid 0, also inside a user namespace (the
    # sandbox's processes are still uid 0 on the host): checked only as a normal user.
    outcomes = run(codes, tmp_path, sandbox="bwrap", **LIMITS)
    assert_limits_hit(outcomes, processes=os.geteuid() != 0)


def test_limits_hold_without_bubblewrap(tmp_path) -> None:
    codes = [MEMORY, PROCESSES, FILE, "print('still here')"]
    # Without a user namespace RLIMIT_NPROC counts all of the user's processes, and root
    # is exempt: only the other limits are checked here.
    outcomes = run(codes, tmp_path, sandbox="none", **LIMITS)
    assert_limits_hit(outcomes, processes=os.geteuid() != 0)


DETACHED = (
    "import subprocess\n"
    "subprocess.Popen(['sleep', '{n}'], start_new_session=True)\n"
    "print('started', flush=True)\n"
    "while True:\n    pass\n"
)


def sleeping(n: int) -> list[int]:
    """Processes of this machine running ``sleep n``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"%d" % n]:
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("sandbox", [pytest.param("bwrap", marks=needs_bwrap), "none"])
def test_detached_child_is_killed_at_the_time_limit(tmp_path, sandbox) -> None:
    n = 40000 + os.getpid() % 20000
    stuck, after = run(
        [DETACHED.format(n=n), "print('fresh')"], tmp_path, sandbox=sandbox, timeout=3
    )
    assert stuck.failed and "time limit" in stuck.text() and "started" in stuck.text()
    assert "fresh" in after.text()
    assert sleeping(n) == []


@needs_bwrap
def test_environment_under_tmp_works(tmp_path) -> None:
    """A kernel whose Python environment lives under /tmp (hidden by the sandbox's own
    /tmp unless its real prefix is bound)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next((venv / "lib").glob("python*/site-packages"))
    # This environment's packages (ipykernel) through a .pth, as a layered venv does.
    paths = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
    (site_packages / "zz-base.pth").write_text("\n".join(paths) + "\n")
    spec = tmp_path / "kernels" / "tmpenv"
    spec.mkdir(parents=True)
    argv = [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))

    async def go() -> Outcome:
        specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
        kernels = ScratchKernels(specs, str(tmp_path), sandbox="bwrap")
        try:
            return await kernels.run("import sys; print(sys.prefix)", "tmpenv", 4000)
        finally:
            await kernels.shutdown()

    outcome = asyncio.run(go())
    assert not outcome.failed and str(venv) in outcome.output, outcome.text()


def test_tool_description_says_what_is_not_isolated(tmp_path) -> None:
    bare = ScratchKernels(KernelSpecManager(), str(tmp_path), sandbox="none")
    assert "NOT sandboxed" in bare.description() and "network" in bare.description()
    boxed = ScratchKernels(KernelSpecManager(), str(tmp_path), sandbox="bwrap")
    assert "no network" in boxed.description() and "1024 MB" in boxed.description()


AS_USER = """
import asyncio, json, sys
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_tutor_server.scratch import ScratchKernels

args = json.loads(sys.argv[1])

async def go():
    kernels = ScratchKernels(KernelSpecManager(), args["root"], **args["config"])
    try:
        return [await kernels.run(code, "python3", 4000) for code in args["codes"]]
    finally:
        await kernels.shutdown()

print(json.dumps([[o.failed, o.text(), o.output] for o in asyncio.run(go())]))
"""


def hidden_ancestors(paths: list[str]) -> list[str]:
    """Folders other users cannot enter on the way to ``paths`` (e.g. /root, 0700)."""
    found = []
    for path in paths:
        parts = Path(path).parts
        for i in range(2, len(parts) + 1):
            folder = os.path.join(*parts[:i])
            if os.path.isdir(folder) and not os.stat(folder).st_mode & 0o001:
                if folder not in found:
                    found.append(folder)
                break
    return found


@pytest.fixture
def normal_user():
    """An unprivileged system user created for this test (removed after it)."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("creating a normal user needs root and useradd")
    name = f"tutor-sbx{os.getpid() % 100000}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


@needs_bwrap
def test_as_a_normal_user(normal_user, pg_server, other_homes, listener, monkeypatch) -> None:
    """The server runs as an unprivileged user: the same escapes refused, and here the
    process limit holds too.  This machine's Python lives under /root (0700), so the test
    shows the user only that environment there (a root-made mount namespace), nothing else
    of /root."""
    from jupyter_tutor_server.sandbox import environment_paths

    monkeypatch.setenv("TUTOR_TEST_SECRET", SECRET)
    base = Path(tempfile.mkdtemp(prefix="tutor-sbx-user-"))
    try:
        root, home = base / "student1", base / "home"
        root.mkdir()
        home.mkdir()
        base.chmod(0o755)
        shutil.chown(root, normal_user)
        shutil.chown(home, normal_user)
        n = 40000 + os.getpid() % 20000
        codes = [
            escapes_code(other_homes, database_socket(pg_server), listener),
            DETACHED.format(n=n),
            MEMORY,
            PROCESSES,
            FILE,
            "print('still here')",
        ]
        args = {"root": str(root), "codes": codes, "config": {"timeout": 3, **LIMITS}}
        outer = ["bwrap", "--dev-bind", "/", "/"]
        environment = environment_paths(sys.executable)
        for folder in hidden_ancestors(environment):
            outer += ["--tmpfs", folder]
        for folder in environment:
            for hidden in hidden_ancestors([folder]):
                # bubblewrap makes missing mount points 0700: open the way for the user.
                parts = Path(folder).relative_to(hidden).parts
                for i in range(1, len(parts)):
                    outer += ["--perms", "0755", "--dir", os.path.join(hidden, *parts[:i])]
                outer += ["--ro-bind", folder, folder]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
        env.update(HOME=str(home), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
        done = subprocess.run(
            [*outer, "setpriv", f"--reuid={normal_user}", f"--regid={normal_user}",
             "--clear-groups", "--", sys.executable, "-c", AS_USER, json.dumps(args)],
            capture_output=True, text=True, env=env, cwd=str(home), timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outcomes = [Outcome(output=o, failed=f, notes=[t]) for f, t, o in json.loads(done.stdout)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    found = escapes(outcomes[0].output)
    assert found == NO_ESCAPE, outcomes[0].text()
    assert outcomes[1].failed and "time limit" in outcomes[1].text()
    assert sleeping(n) == []
    assert_limits_hit(outcomes[2:], processes=True)
