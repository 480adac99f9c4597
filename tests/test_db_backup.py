"""``jupyter-tutor db backup`` / ``db restore`` against the real embedded PostgreSQL."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import psycopg
import pytest
from course_fixtures import insert_chunk
from psycopg.types.json import Jsonb

from jupyter_tutor_hub.apps.db import (
    BackupApp,
    RestoreApp,
    _libpq_args,
    embedded_pg_bin_dir,
    find_pg_tool,
)
from jupyter_tutor_hub.db import DatabaseError

TABLES = ("courses", "documents", "chunks", "chunk_vectors", "conversations", "messages", "usage")


def _fill(url: str, conversations: int = 3) -> None:
    """A course with embedded chunks and a few conversations with messages and usage."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO courses (id, title) VALUES ('intro', 'Intro to Python')")
        doc = conn.execute(
            "INSERT INTO documents (course_id, path, kind, content_hash)"
            " VALUES ('intro', 'week1/loops.ipynb', 'notebook', 'h1') RETURNING id"
        ).fetchone()[0]
        for i in range(3):
            vector = "[" + ",".join(str((i + j) % 7 / 7) for j in range(384)) + "]"
            text = f"A while loop repeats ({i})."
            columns = {"ordinal": i, "heading": "Loops", "content_hash": f"c{i}"}
            insert_chunk(conn, doc, "intro", text, vector, 384, **columns)
        for n in range(conversations):
            cid = uuid.uuid4()
            conn.execute(
                "INSERT INTO conversations (id, user_name, course_id, title, notebook_path)"
                " VALUES (%s, %s, 'intro', %s, 'week1/loops.ipynb')",
                (cid, f"student{n}", f"Question {n} — ünïcode"),
            )
            user = conn.execute(
                "INSERT INTO messages (conversation_id, role, content)"
                " VALUES (%s, 'user', %s) RETURNING id",
                (cid, Jsonb([{"type": "text", "text": f"Why does loop {n} never stop?"}])),
            ).fetchone()[0]
            answer = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, model, status)"
                " VALUES (%s, 'assistant', %s, 'claude-haiku-4-5', 'complete') RETURNING id",
                (cid, Jsonb([{"type": "text", "text": "Check the loop condition."}])),
            ).fetchone()[0]
            assert user < answer
            conn.execute(
                "INSERT INTO usage (user_name, conversation_id, message_id, model,"
                " input_tokens, output_tokens, cost_usd)"
                " VALUES (%s, %s, %s, 'claude-haiku-4-5', 1200, 300, 0.0027)",
                (f"student{n}", cid, answer),
            )


def _snapshot(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in (*TABLES, "schema_migrations")
        }


def _run(app_class: type, *argv: str) -> None:
    app = app_class()
    app.initialize(list(argv))
    app.start()


def test_backup_then_restore_into_an_empty_database_keeps_everything(
    database_url: str, empty_database_url: str, tmp_path: Path, capsys
) -> None:
    _fill(database_url)
    before = _snapshot(database_url)
    backup = tmp_path / "tutor.dump"

    _run(BackupApp, f"--url={database_url}", str(backup))
    out = capsys.readouterr().out
    assert "3 conversations, 6 messages" in out
    assert backup.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["tutor.dump"]  # no partial file left

    _run(RestoreApp, f"--url={empty_database_url}", "--yes", str(backup))
    assert "3 conversations, 6 messages" in capsys.readouterr().out
    assert _snapshot(empty_database_url) == before
    with psycopg.connect(empty_database_url) as conn:
        # the vector index is back and usable
        hit = conn.execute(
            "SELECT c.text FROM chunks c JOIN chunk_vectors v ON v.chunk_id = c.id"
            " WHERE v.embedding_dim = 384 ORDER BY v.embedding::vector(384) <=>"
            " (SELECT embedding::vector(384) FROM chunk_vectors WHERE chunk_id ="
            " (SELECT id FROM chunks WHERE ordinal = 1)) LIMIT 1"
        ).fetchone()[0]
        assert hit == "A while loop repeats (1)."
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
        assert "chunk_vectors_embedding_384" in indexes


def test_restore_over_a_changed_database_brings_every_conversation_back(
    database_url: str, tmp_path: Path, capsys
) -> None:
    _fill(database_url, conversations=5)
    before = _snapshot(database_url)
    backup = tmp_path / "nightly.dump"
    _run(BackupApp, f"--url={database_url}", str(backup))

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM conversations WHERE user_name IN ('student0', 'student3')")
        conn.execute("UPDATE messages SET status = 'error'")
        conn.execute(
            "INSERT INTO conversations (id, user_name) VALUES (%s, 'after-backup')",
            (uuid.uuid4(),),
        )
    assert _snapshot(database_url) != before

    _run(RestoreApp, f"--url={database_url}", "-y", str(backup))
    assert _snapshot(database_url) == before
    assert "5 conversations, 10 messages" in capsys.readouterr().out


def test_restore_needs_confirmation(database_url: str, tmp_path: Path, capsys) -> None:
    _fill(database_url, conversations=1)
    backup = tmp_path / "b.dump"
    _run(BackupApp, f"--url={database_url}", str(backup))
    with pytest.raises(SystemExit) as exit_info:
        _run(RestoreApp, f"--url={database_url}", str(backup))
    assert exit_info.value.code == 1
    assert "pass --yes" in capsys.readouterr().err


def test_restore_rejects_a_file_that_is_no_backup(
    database_url: str, tmp_path: Path, capsys
) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not an archive")
    with pytest.raises(SystemExit):
        _run(RestoreApp, f"--url={database_url}", "--yes", str(bogus))
    assert "is not a backup made by `jupyter-tutor db backup`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(RestoreApp, f"--url={database_url}", "--yes", str(tmp_path / "missing.dump"))
    assert "No backup file at" in capsys.readouterr().err


def test_backup_into_a_missing_folder_fails_clearly(
    database_url: str, tmp_path: Path, capsys
) -> None:
    with pytest.raises(SystemExit):
        _run(BackupApp, f"--url={database_url}", str(tmp_path / "nope" / "x.dump"))
    assert "does not exist" in capsys.readouterr().err


def test_the_embedded_package_ships_matching_client_tools() -> None:
    bin_dir = embedded_pg_bin_dir()
    assert bin_dir is not None
    assert find_pg_tool("pg_dump", 18) == bin_dir / "pg_dump"
    assert find_pg_tool("pg_restore", 18, str(bin_dir)) == bin_dir / "pg_restore"


def test_client_tools_older_than_the_server_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 15.8'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert find_pg_tool("pg_dump", 14, str(tmp_path)) == fake
    with pytest.raises(DatabaseError) as err:
        find_pg_tool("pg_dump", 18, str(tmp_path))
    message = str(err.value)
    assert "PostgreSQL 15" in message
    assert "postgresql-client-18" in message
    assert "--pg-bin" in message


def test_the_password_stays_out_of_the_command_line() -> None:
    conninfo, env = _libpq_args("postgresql://tutor:s3cret@db.internal:5432/tutor?sslmode=require")
    assert "s3cret" not in conninfo
    assert "sslmode=require" in conninfo
    assert env["PGPASSWORD"] == "s3cret"
    conninfo, env = _libpq_args("postgresql://postgres:@/tutor?host=/tmp/sock")
    assert "host=/tmp/sock" in conninfo
    assert env.get("PGPASSWORD") == os.environ.get("PGPASSWORD")


def test_round_trip_through_the_embedded_server_without_a_url(
    database_url: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """No URL: the commands start (or reuse) the embedded server under --data-dir."""
    monkeypatch.delenv("TUTOR_DATABASE_URL", raising=False)
    _fill(database_url, conversations=2)
    before = _snapshot(database_url)
    first, second = tmp_path / "from-url.dump", tmp_path / "from-embedded.dump"
    data_dir = tmp_path / "data"
    _run(BackupApp, f"--url={database_url}", str(first))

    _run(RestoreApp, f"--data-dir={data_dir}", "--yes", str(first))
    _run(BackupApp, f"--data-dir={data_dir}", str(second))
    assert "2 conversations, 4 messages" in capsys.readouterr().out

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM conversations")
    _run(RestoreApp, f"--url={database_url}", "--yes", str(second))
    assert _snapshot(database_url) == before


def test_an_unreachable_server_is_reported_without_a_traceback(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        _run(BackupApp, "--url=postgresql://tutor:s3cret@127.0.0.1:1/tutor", str(tmp_path / "x"))
    err = capsys.readouterr().err
    assert "Could not connect to the tutor database at postgresql://tutor:***@" in err
    assert "s3cret" not in err and "Traceback" not in err
