"""Fixtures shared by the whole suite: a real embedded PostgreSQL with pgvector, and
paths to the course material that sits beside the checkout in development and CI."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fake_anthropic import FakeAnthropic

from jupyter_tutor_hub.db import Database, EmbeddedPostgres, migrate

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_COURSES = REPO_ROOT.parent / "shared" / "courses"
SAMPLE_COURSE = REPO_ROOT / "examples" / "sample-course"

_database_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One embedded PostgreSQL for the whole session, in a temporary folder."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "pgdata")
    yield server
    server.stop()


@pytest.fixture
def empty_database_url(pg_server: EmbeddedPostgres) -> str:
    """A brand-new database on the session server, without any schema."""
    return pg_server.create_database(f"t{os.getpid()}_{next(_database_names)}")


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A brand-new database with the tutor's schema applied."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate(conn)
    return empty_database_url


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """A :class:`Database` configured for a fresh, migrated database."""
    db = Database(url=database_url, data_dir=str(tmp_path))
    yield db
    db.close()


@pytest.fixture
def shared_courses() -> Path:
    """``../shared/courses`` (real public courses); skip where it is absent."""
    if not SHARED_COURSES.is_dir():
        pytest.skip("../shared/courses is not beside this checkout (development and CI only)")
    return SHARED_COURSES


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """The fake Anthropic API, one server for the whole session."""
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_upstream(fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    """The session's fake Anthropic API with an empty script and no recorded requests."""
    fake_anthropic.clear()
    return fake_anthropic


@pytest.fixture(scope="session")
def hub_database_url(pg_server: EmbeddedPostgres) -> str:
    """The database of the session's JupyterHub gateway, migrated."""
    url = pg_server.create_database("hub_session")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return url


@pytest.fixture(scope="session")
def hub(tmp_path_factory, hub_database_url: str, fake_anthropic):
    """A real JupyterHub with the tutor gateway as a managed service, for the session.

    The gateway talks to the fake Anthropic API with a test key; its breaker and retries
    are set low so fault tests finish quickly.
    """
    from hub_harness import start_hub

    data_dir = tmp_path_factory.mktemp("hub")
    config = data_dir / "gateway_config.py"
    config.write_text(
        "c.Upstream.max_retries = 1\n"
        "c.Upstream.breaker_threshold = 3\n"
        "c.Upstream.breaker_cooldown = 3\n"
        "c.Upstream.timeout = 20\n"
    )
    running = start_hub(
        data_dir,
        database_url=hub_database_url,
        upstream_url=fake_anthropic.url,
        api_key=fake_anthropic.api_key,
        extra_env={"TUTOR_GATEWAY_CONFIG": str(config), "TUTOR_DEFAULT_COURSE": "intro-python"},
    )
    yield running
    running.stop()
