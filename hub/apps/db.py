"""``jupyter-tutor db``: the tutor's database from the command line."""

from __future__ import annotations

from traitlets.config import Application

from jupyter_tutor import __version__

from ..db import Database, DatabaseError, redact
from ..db.migrations import applied_versions, bundled_migrations


class _DatabaseCommand(Application):
    """Shared by the ``db`` subcommands: a configured :class:`Database`."""

    version = __version__
    classes = [Database]
    aliases = {"url": "Database.url", "data-dir": "Database.data_dir"}

    def start(self) -> None:
        database = Database(parent=self)
        try:
            self.run(database)
        except DatabaseError as err:
            self.log.error(str(err))
            self.exit(1)
        finally:
            database.close()

    def run(self, database: Database) -> None:
        raise NotImplementedError


class MigrateApp(_DatabaseCommand):
    """Apply the schema migrations that are not applied yet."""

    name = "jupyter-tutor-db-migrate"
    description = __doc__

    def run(self, database: Database) -> None:
        applied = database.migrate()
        print(f"applied: {applied}" if applied else "schema is up to date")


class InfoApp(_DatabaseCommand):
    """Show which database the tutor uses and its schema version."""

    name = "jupyter-tutor-db-info"
    description = __doc__

    def run(self, database: Database) -> None:
        import psycopg

        url = database.resolve_url()
        with psycopg.connect(url) as conn:
            versions = applied_versions(conn)
            server = conn.execute("SHOW server_version").fetchone()[0]
            vector = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()
        print(f"url:        {redact(url)}")
        print(f"embedded:   {'no' if database.url else 'yes, in ' + database.data_dir}")
        print(f"server:     PostgreSQL {server}, pgvector {vector[0] if vector else 'missing'}")
        latest = bundled_migrations()[-1].version
        print(f"schema:     {versions[-1] if versions else 'empty'} (latest {latest})")


class DatabaseApp(Application):
    """Manage the tutor's database: migrate, show where it is."""

    name = "jupyter-tutor-db"
    version = __version__
    description = __doc__
    subcommands = {
        "migrate": (MigrateApp, MigrateApp.__doc__),
        "info": (InfoApp, InfoApp.__doc__),
    }

    def start(self) -> None:
        if self.subapp is None:
            self.print_help()
            self.exit(1)
        self.subapp.start()
