"""Versioned SQL migrations, applied at start, each exactly once.

Migrations are the ``NNNN_name.sql`` files beside this module.  They run in order, each in
its own transaction, and are recorded in ``schema_migrations``.  A transaction-level
advisory lock makes it safe for several gateway replicas to start at the same time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from .errors import PgVectorUnavailable

log = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same in every process that migrates.
_LOCK_KEY = 7_246_315_001


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The migrations shipped with this package, oldest first."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied_versions(conn: psycopg.Connection) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty on a fresh database)."""
    table = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if table is None or table[0] is None:
        return []
    return [
        row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    ]


def migrate(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now."""
    migrations = bundled_migrations() if migrations is None else migrations
    _check_pgvector(conn)
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = set(applied_versions(conn))
        for migration in migrations:
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied_now.append(migration.version)
    return applied_now


def _check_pgvector(conn: psycopg.Connection) -> None:
    """Fail early, with the way out, when the server cannot give us pgvector."""
    installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    if installed:
        return
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if not available:
        raise PgVectorUnavailable(
            "The PostgreSQL server at TUTOR_DATABASE_URL has no pgvector extension. "
            "Install pgvector on that server (https://github.com/pgvector/pgvector#installation, "
            "e.g. the postgresql-NN-pgvector package or the pgvector/pgvector image), or unset "
            "TUTOR_DATABASE_URL to use the embedded PostgreSQL, which ships pgvector."
        )
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege as err:
        raise PgVectorUnavailable(
            "pgvector is installed on the PostgreSQL server but this database user may not "
            "enable it. Ask the database administrator to run `CREATE EXTENSION vector;` in "
            f"this database once (as a superuser), then start again. ({err.diag.message_primary})"
        ) from err
