"""The database layer against a real embedded PostgreSQL with pgvector."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from jupyter_tutor_hub.db import (
    Database,
    DatabaseError,
    PgVectorUnavailable,
    bundled_migrations,
    migrate,
)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_fresh_database_gets_the_whole_schema(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        applied = migrate(conn)
    assert applied == [m.version for m in bundled_migrations()]
    assert {"courses", "documents", "chunks", "conversations", "messages", "usage"} <= _tables(
        empty_database_url
    )


def test_rerunning_migrations_applies_nothing(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert migrate(conn) == []
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert count == len(bundled_migrations())


def test_upgrade_applies_only_the_new_migrations(empty_database_url: str) -> None:
    migrations = bundled_migrations()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert migrate(conn, migrations[:1]) == [migrations[0].version]
        assert migrate(conn, migrations) == [m.version for m in migrations[1:]]
        assert migrate(conn, migrations) == []


def test_vectors_and_full_text_work(database: Database) -> None:
    pool = database.open_pool()
    try:
        with pool.connection() as conn:
            conn.execute("INSERT INTO courses (id) VALUES ('c')")
            doc = conn.execute(
                "INSERT INTO documents (course_id, path, kind, content_hash)"
                " VALUES ('c', 'a.ipynb', 'notebook', 'h') RETURNING id"
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO chunks (document_id, course_id, ordinal, text, content_hash,"
                " embedding, embedding_dim) VALUES (%s, 'c', 0, 'for loops repeat', 'h',"
                " %s::vector, 384)",
                (doc, "[" + ",".join(["0.1"] * 384) + "]"),
            )
            row = conn.execute(
                "SELECT (embedding::vector(384)) <=> %s::vector(384),"
                " tsv @@ plainto_tsquery('english', 'loop') FROM chunks",
                ("[" + ",".join(["0.1"] * 384) + "]",),
            ).fetchone()
    finally:
        pool.close()
    assert row[0] == pytest.approx(0.0, abs=1e-6)
    assert row[1] is True


def _vector(value: float, dimension: int = 384) -> str:
    return "[" + ",".join([str(value)] * dimension) + "]"


def test_chunks_move_into_a_partition_per_course_with_their_indexes(
    empty_database_url: str,
) -> None:
    """Migration 0120 on a hub with data: every chunk kept, each course in its own table,
    every embedding dimension in use indexed, and searches read only their course's."""
    migrations = bundled_migrations()
    before = [m for m in migrations if m.version < 120]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn, before)
        for course, dimension in (("intro", 384), ("data", 8)):
            conn.execute(
                "INSERT INTO courses (id, embedding_dim) VALUES (%s, %s)", (course, dimension)
            )
            doc = conn.execute(
                "INSERT INTO documents (course_id, path, kind, content_hash)"
                " VALUES (%s, 'a.ipynb', 'notebook', 'h') RETURNING id",
                (course,),
            ).fetchone()[0]
            for ordinal in range(3):
                conn.execute(
                    "INSERT INTO chunks (document_id, course_id, ordinal, text, content_hash,"
                    " embedding, embedding_dim) VALUES (%s, %s, %s, %s, 'h', %s::vector, %s)",
                    (
                        doc,
                        course,
                        ordinal,
                        f"{course} loops {ordinal}",
                        _vector(0.1 + ordinal, dimension),
                        dimension,
                    ),
                )
        ids = conn.execute("SELECT id, course_id, text FROM chunks ORDER BY id").fetchall()

        assert migrate(conn) == [m.version for m in migrations if m.version >= 120]

        assert conn.execute("SELECT id, course_id, text FROM chunks ORDER BY id").fetchall() == ids
        tables = dict(
            conn.execute(
                "SELECT obj_description(inhrelid, 'pg_class'), inhrelid::regclass::text"
                " FROM pg_inherits WHERE inhparent = 'chunks'::regclass"
            ).fetchall()
        )
        assert set(tables) == {"Chunks of course intro", "Chunks of course data"}
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'"
            ).fetchall()
        }
        assert {"chunks_embedding_384", "chunks_embedding_8", "chunks_tsv"} <= indexes
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT id FROM chunks WHERE course_id = 'data'"
                " AND tsv @@ plainto_tsquery('english', 'loops')"
            ).fetchall()
        )
        assert tables["Chunks of course data"] in plan
        assert tables["Chunks of course intro"] not in plan

        # A course created later gets its own table as its row is inserted (any id: ids
        # are free text), and its chunks continue the same ids.
        odd = "pandas: the 2nd 'edition'"
        conn.execute("INSERT INTO courses (id) VALUES (%s)", (odd,))
        doc = conn.execute(
            "INSERT INTO documents (course_id, path, kind, content_hash)"
            " VALUES (%s, 'b.ipynb', 'notebook', 'h') RETURNING id",
            (odd,),
        ).fetchone()[0]
        new_id = conn.execute(
            "INSERT INTO chunks (document_id, course_id, ordinal, text, content_hash)"
            " VALUES (%s, %s, 0, 'groupby', 'h') RETURNING id",
            (doc, odd),
        ).fetchone()[0]
        assert new_id > max(r[0] for r in ids)
        # Every course's vectors stay in its rows (migration 0100), new courses' too.
        storage = conn.execute(
            "SELECT DISTINCT a.attstorage FROM pg_inherits i JOIN pg_attribute a"
            " ON a.attrelid = i.inhrelid AND a.attname = 'embedding'"
            " WHERE i.inhparent = 'chunks'::regclass"
        ).fetchall()
        assert storage == [("m",)]
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'chunks'::regclass"
            ).fetchone()[0]
            == 3
        )


def test_url_setting_is_used_as_given(database_url: str, tmp_path) -> None:
    db = Database(url=database_url, data_dir=str(tmp_path / "unused"))
    assert db.resolve_url() == database_url
    assert db.migrate() == []
    assert not (tmp_path / "unused").exists()


def test_environment_variable_sets_the_url(database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DATABASE_URL", database_url)
    assert Database().resolve_url() == database_url


def test_embedded_server_is_reused_across_runs(tmp_path) -> None:
    first = Database(url="", data_dir=str(tmp_path))
    first.migrate()
    pgdata = tmp_path / "postgres"
    assert (pgdata / "PG_VERSION").exists()
    second = Database(url="", data_dir=str(tmp_path))
    assert second.migrate() == []  # same data, schema already there
    second.close()
    first.close()


def test_server_without_pgvector_rights_gets_a_clear_error(
    empty_database_url: str, pg_server
) -> None:
    """A real server where `CREATE EXTENSION vector` fails: a user who may not create it."""
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS student_owner")
        conn.execute("CREATE ROLE student_owner LOGIN")
    dbname = conninfo_to_dict(empty_database_url)["dbname"]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(f'GRANT ALL ON DATABASE "{dbname}" TO student_owner')
        conn.execute("GRANT ALL ON SCHEMA public TO student_owner")
    url = empty_database_url.replace("postgres:@", "student_owner:@")
    with pytest.raises(PgVectorUnavailable, match="CREATE EXTENSION vector"):
        Database(url=url).migrate()


def test_unreachable_server_says_what_to_check(tmp_path) -> None:
    url = f"postgresql://tutor:secret@/tutor?host={tmp_path}"
    with pytest.raises(DatabaseError) as info:
        Database(url=url).migrate()
    message = str(info.value)
    assert "TUTOR_DATABASE_URL" in message
    assert "secret" not in message
