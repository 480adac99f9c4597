"""Fixtures shared by the whole suite: a real embedded PostgreSQL with pgvector, and
paths to the course material that sits beside the checkout in development and CI."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import anthropic
import psycopg
import pytest
from fake_anthropic import FakeAnthropic
from hub_harness import free_port
from jupyterhub.services.auth import HubAuth
from tornado.httpserver import HTTPServer
from traitlets.config import Config

from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.apps.web import make_app
from jupyter_tutor_hub.db import Database, EmbeddedPostgres, migrate
from jupyter_tutor_hub.gateway.auth import HubTokenIdentifier
from jupyter_tutor_hub.gateway.service import TutorGateway

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_COURSES = REPO_ROOT.parent / "shared" / "courses"
SAMPLE_COURSE = sample_course_dir()

_database_names = itertools.count()

#: Session services that could not start, with why: reported once at the end of the run
#: (which then fails), while the tests that need them are skipped, not 98 errors alike.
_UNSTARTED: dict[str, str] = {}

Service = TypeVar("Service")


def start_session_service(name: str, start: Callable[[], Service]) -> Service:
    """``start()``, or skip every test that needs ``name`` when it cannot start."""
    try:
        return start()
    except Exception as err:
        _UNSTARTED[name] = f"{type(err).__name__}: {err}"
        pytest.skip(f"{name} did not start: see the end of the report")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run where a session service did not start fails, however many tests passed."""
    if _UNSTARTED and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, why in _UNSTARTED.items():
        terminalreporter.write_line(
            f"ERROR: {name} did not start, so the tests that need it were skipped: {why}",
            red=True,
            bold=True,
        )

#: Fixtures that start a whole JupyterHub or a Jupyter server, and modules that run the
#: demo: their tests are not in the fast tier.
_SLOW_FIXTURES = {"hub", "make_gateway", "server"}
_SLOW_MODULES = {"test_demo.py", "test_gateway_startup.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need a hub, a server or the demo ``slow``; ``make test-fast``
    runs the others."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if _SLOW_FIXTURES & fixtures or item.path.name in _SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One embedded PostgreSQL for the whole session, in a temporary folder."""
    folder = tmp_path_factory.mktemp("pg") / "pgdata"
    server = start_session_service("PostgreSQL", lambda: EmbeddedPostgres(folder))
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
    running = start_session_service(
        "The session's JupyterHub",
        lambda: start_hub(
            data_dir,
            database_url=hub_database_url,
            upstream_url=fake_anthropic.url,
            api_key=fake_anthropic.api_key,
            extra_env={
                "TUTOR_GATEWAY_CONFIG": str(config),
                "TUTOR_DEFAULT_COURSE": "intro-python",
            },
        ),
    )
    yield running
    running.stop()


class InProcessGateway:
    """A gateway served from the test process, identifying callers with the session hub."""

    def __init__(self, gateway: TutorGateway, port: int, server: HTTPServer) -> None:
        self.gateway = gateway
        self.url = f"http://127.0.0.1:{port}/services/tutor"
        self.server = server

    def client(self, token: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.url, auth_token=token, max_retries=0)


@pytest.fixture
async def make_gateway(hub, database_url, fake_upstream):
    """Start gateways configured by keyword arguments (``Metering__daily_token_budget``…).

    ``api_key=None`` runs the offline responder; ``db_url`` another database than the
    test's fresh one.
    """
    started: list[InProcessGateway] = []

    async def start(
        api_key: str | None = "default", db_url: str | None = None, **settings
    ) -> InProcessGateway:
        config = Config()
        for key, value in settings.items():
            section, name = key.split("__")
            config[section][name] = value
        config.Upstream.api_key = fake_upstream.api_key if api_key == "default" else (api_key or "")
        config.Upstream.base_url = fake_upstream.url
        database = Database(url=db_url or database_url, config=config)
        gateway = TutorGateway(config=config)
        gateway.pool = await database.open_async_pool()
        identifier = HubTokenIdentifier(HubAuth(api_url=hub.api_url, api_token="unused"))
        port = free_port()
        server = HTTPServer(make_app("/services/tutor/", gateway, identifier))
        server.listen(port, "127.0.0.1")
        running = InProcessGateway(gateway, port, server)
        started.append(running)
        return running

    yield start
    for running in started:
        running.server.stop()
        await running.gateway.pool.close()
