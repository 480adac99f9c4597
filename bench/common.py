"""What the retrieval benchmarks share: a private database, question sets, results.

Each benchmark starts its own embedded PostgreSQL (with pgvector) in a temporary folder,
so it measures a clean, local server and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

from jupyter_tutor_hub.db import Database, EmbeddedPostgres, migrate

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
SHARED_COURSES = REPO.parent / "shared" / "courses"


@contextlib.contextmanager
def bench_server() -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tutor-bench-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pgdata")
        try:
            _set_shared_buffers(server, SHARED_BUFFERS)
            yield server
        finally:
            server.stop()


#: What ``infra/k8s/database.yaml`` gives the production server, so the benchmarks measure
#: the server as deployed: initdb's 128 MB holds less than the courses the university case
#: searches (about 20 MB of rows and indexes each, in two databases).
SHARED_BUFFERS = "512MB"


def _set_shared_buffers(server: EmbeddedPostgres, size: str) -> None:
    """Restart ``server`` with ``size`` of shared buffers (a setting read only at start)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(size)))
    postmaster = psutil.Process(server.pid)
    os.kill(postmaster.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    postmaster.wait(60)
    server.ensure_running()


def migrated_database(server: EmbeddedPostgres, name: str) -> Database:
    """A new database ``name`` on ``server`` with the tutor's schema."""
    url = server.create_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return Database(url=url)


def load_questions(path: Path) -> list[dict[str, Any]]:
    """A JSONL question set: ``{"id", "question", "gold": [{"path", "cells"}]}`` per line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def report(name: str, result: dict[str, Any]) -> None:
    """Print ``result`` as JSON and keep it in ``bench/results/NAME.json``."""
    text = json.dumps(result, indent=2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
