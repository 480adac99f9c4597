"""The one way the hub side reaches PostgreSQL: a configured, migrated connection pool.

With ``TUTOR_DATABASE_URL`` set (production) the pool connects there; without it a private
embedded PostgreSQL with pgvector is started under the data directory.  Either way the
schema is migrated before the first connection is handed out, and pgvector's types are
registered on every connection.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector, register_vector_async
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from traitlets import Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from jupyter_tutor.paths import default_data_dir

from .embedded import EmbeddedPostgres
from .errors import DatabaseError
from .migrations import migrate

DATABASE_URL_ENV = "TUTOR_DATABASE_URL"


def redact(url: str) -> str:
    """``url`` with any password replaced, safe for logs and error messages."""
    return re.sub(r"(://[^:/@]*:)[^@]+@", r"\1***@", url)


class Database(LoggingConfigurable):
    """Settings and lifecycle of the tutor's database."""

    url = Unicode(
        help=f"""libpq URL of the PostgreSQL server (with pgvector) to use.
        Defaults to ${DATABASE_URL_ENV}; when empty, an embedded server is started under
        `data_dir`.""",
    ).tag(config=True)

    @default("url")
    def _url_default(self) -> str:
        return os.environ.get(DATABASE_URL_ENV, "")

    data_dir = Unicode(
        help="Folder that holds the embedded server's data (`postgres/` inside it).",
    ).tag(config=True)

    @default("data_dir")
    def _data_dir_default(self) -> str:
        return str(default_data_dir())

    pool_min_size = Integer(1, help="Connections the pool keeps open.").tag(config=True)
    pool_max_size = Integer(10, help="Most connections the pool opens.").tag(config=True)
    pool_timeout = Integer(
        5,
        help="""Seconds a request waits for a database connection before it fails with a
        clear "database unavailable" error (instead of hanging while the server is down).""",
    ).tag(config=True)

    _embedded: EmbeddedPostgres | None = None

    def resolve_url(self) -> str:
        """The URL to connect to, starting the embedded server if none is configured."""
        if self.url:
            return self.url
        if self._embedded is None:
            self._embedded = EmbeddedPostgres(Path(self.data_dir) / "postgres")
        return self._embedded.url()

    @property
    def embedded(self) -> EmbeddedPostgres | None:
        """The embedded server, once :meth:`resolve_url` started it (None: an external one)."""
        return self._embedded

    def migrate(self) -> list[int]:
        """Bring the schema up to date; return the versions applied now."""
        with self._connect() as conn:
            return migrate(conn)

    def open_pool(self) -> ConnectionPool:
        """A migrated, open synchronous pool (command-line tools)."""
        self.migrate()
        pool = ConnectionPool(
            self.resolve_url(),
            min_size=self.pool_min_size,
            max_size=self.pool_max_size,
            timeout=self.pool_timeout,
            configure=register_vector,
            check=ConnectionPool.check_connection,
            open=False,
        )
        pool.open(wait=True, timeout=30)
        return pool

    async def open_async_pool(self) -> AsyncConnectionPool:
        """A migrated, open asyncio pool (the gateway).

        ``check`` tests each connection as it is handed out, so after a database restart
        the pool replaces dead connections instead of failing requests forever.
        """
        self.migrate()
        pool = AsyncConnectionPool(
            self.resolve_url(),
            min_size=self.pool_min_size,
            max_size=self.pool_max_size,
            timeout=self.pool_timeout,
            configure=register_vector_async,
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        await pool.open(wait=True, timeout=30)
        return pool

    def close(self) -> None:
        """Release the embedded server (stopped if this was the last process using it)."""
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

    def _connect(self) -> psycopg.Connection:
        url = self.resolve_url()
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as err:
            raise DatabaseError(
                f"Could not connect to the tutor database at {redact(url)}: "
                f"{str(err).strip()}. Check {DATABASE_URL_ENV} (or unset it to use the "
                "embedded server) and that the server is running."
            ) from err
