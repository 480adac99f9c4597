"""The database layer against a real embedded PostgreSQL with pgvector."""

from __future__ import annotations

import psycopg
import pytest
from course_fixtures import insert_chunk
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
            insert_chunk(
                conn, doc, "c", "for loops repeat", _vector(0.1), 384, ordinal=0, content_hash="h"
            )
            row = conn.execute(
                "SELECT (v.embedding::vector(384)) <=> %s::vector(384),"
                " c.tsv @@ plainto_tsquery('english', 'loop')"
                " FROM chunks c JOIN chunk_vectors v ON v.chunk_id = c.id",
                (_vector(0.1),),
            ).fetchone()
    finally:
        pool.close()
    assert row[0] == pytest.approx(0.0, abs=1e-6)
    assert row[1] is True


def _vector(value: float, dimension: int = 384) -> str:
    return "[" + ",".join([str(value)] * dimension) + "]"


def _partitions_storage(conn: psycopg.Connection, table: str, column: str) -> set[str]:
    """How the partitions of ``table`` store ``column`` (``m``, main: kept in the row)."""
    rows = conn.execute(
        "SELECT DISTINCT a.attstorage FROM pg_inherits i JOIN pg_attribute a"
        " ON a.attrelid = i.inhrelid AND a.attname = %s WHERE i.inhparent = %s::regclass",
        (column, table),
    ).fetchall()
    return {r[0] for r in rows}


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

        assert migrate(conn, [m for m in migrations if m.version <= 120]) == [120]

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
        assert _partitions_storage(conn, "chunks", "embedding") == {"m"}
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'chunks'::regclass"
            ).fetchone()[0]
            == 3
        )


def test_vectors_move_to_a_narrow_table_that_follows_the_chunks(
    empty_database_url: str,
) -> None:
    """Migration 0130 on a hub with data: each vector moves, with its chunk's id, course,
    dimension and visibility, to ``chunk_vectors``; the chunks keep everything else; and
    the database keeps the two in step afterwards."""
    migrations = bundled_migrations()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn, [m for m in migrations if m.version < 130])
        for course, dimension in (("intro", 384), ("data", 8)):
            conn.execute(
                "INSERT INTO courses (id, embedding_dim) VALUES (%s, %s)", (course, dimension)
            )
            for path in ("a.ipynb", "b.ipynb"):
                doc = conn.execute(
                    "INSERT INTO documents (course_id, path, kind, content_hash)"
                    " VALUES (%s, %s, 'notebook', 'h') RETURNING id",
                    (course, path),
                ).fetchone()[0]
                for ordinal, visibility in enumerate(("student", "protected")):
                    conn.execute(
                        "INSERT INTO chunks (document_id, course_id, ordinal, text,"
                        " content_hash, visibility, embedding, embedding_dim)"
                        " VALUES (%s, %s, %s, %s, 'h', %s, %s::vector, %s)",
                        (
                            doc,
                            course,
                            ordinal,
                            f"{course} {path} loops {ordinal} " + "while " * 400,
                            visibility,
                            _vector(0.25 + ordinal, dimension),
                            dimension,
                        ),
                    )
        before = conn.execute(
            "SELECT id, course_id, visibility, embedding_dim, embedding::text, tsv::text"
            " FROM chunks ORDER BY id"
        ).fetchall()

        assert migrate(conn) == [m.version for m in migrations if m.version >= 130]

        vectors = conn.execute(
            "SELECT v.chunk_id, v.course_id, v.visibility, v.embedding_dim, v.embedding::text,"
            " c.tsv::text FROM chunk_vectors v JOIN chunks c ON c.id = v.chunk_id ORDER BY 1"
        ).fetchall()
        assert vectors == before
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'chunks'"
            ).fetchall()
        }
        assert "tsv" in columns and not {"embedding", "embedding_dim"} & columns
        indexes = {r[0]: r[1] for r in conn.execute("SELECT indexname, tablename FROM pg_indexes")}
        assert indexes["chunk_vectors_embedding_384"] == "chunk_vectors"
        assert indexes["chunk_vectors_embedding_8"] == "chunk_vectors"
        assert not [name for name in indexes if name.startswith("chunks_embedding")]
        tables = dict(
            conn.execute(
                "SELECT obj_description(inhrelid, 'pg_class'), inhrelid::regclass::text"
                " FROM pg_inherits WHERE inhparent = 'chunk_vectors'::regclass"
            ).fetchall()
        )
        assert set(tables) == {
            "Chunk embeddings of course intro",
            "Chunk embeddings of course data",
        }
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT chunk_id FROM chunk_vectors WHERE course_id = 'data'"
                " ORDER BY embedding::vector(8) <=> %s::vector(8) LIMIT 3",
                (_vector(0.5, 8),),
            ).fetchall()
        )
        assert tables["Chunk embeddings of course data"] in plan
        assert tables["Chunk embeddings of course intro"] not in plan
        assert _partitions_storage(conn, "chunk_vectors", "embedding") == {"m"}

        # In step afterwards: a chunk's new visibility reaches its vector, and a vector
        # goes with its chunk, its document and its course.
        first, second = (r[0] for r in before[:2])
        conn.execute("UPDATE chunks SET visibility = 'protected' WHERE id = %s", (first,))
        conn.execute("DELETE FROM chunks WHERE id = %s", (second,))
        assert conn.execute(
            "SELECT chunk_id, visibility FROM chunk_vectors WHERE chunk_id IN (%s, %s)",
            (first, second),
        ).fetchall() == [(first, "protected")]
        conn.execute("DELETE FROM documents WHERE course_id = 'intro' AND path = 'a.ipynb'")
        conn.execute("DELETE FROM courses WHERE id = 'data'")
        left = conn.execute("SELECT count(*) FROM chunk_vectors").fetchone()[0]
        assert left == conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 2

        # A course created afterwards gets both of its tables with its row.
        conn.execute("INSERT INTO courses (id) VALUES ('pandas')")
        made = conn.execute(
            "SELECT obj_description(inhrelid, 'pg_class') FROM pg_inherits"
            " WHERE obj_description(inhrelid, 'pg_class') LIKE '%pandas'"
        ).fetchall()
        assert sorted(made) == [
            ("Chunk embeddings of course pandas",),
            ("Chunks of course pandas",),
        ]


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
