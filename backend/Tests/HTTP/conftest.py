"""Fixtures: the real server binary against a fresh SQLite file or a fresh
PostgreSQL database in a cluster this test run starts and stops itself."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from api import ApiClient  # noqa: E402
from servers import PostgresCluster, ServerProcess, sqlite_url  # noqa: E402

DATABASES = os.environ.get("TODOLIST_TEST_DATABASES", "sqlite,postgres").split(",")


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.cleanup()


@pytest.fixture(params=DATABASES)
def db(request) -> str:
    """The database kind: tests using it run once per database."""
    return request.param


class ServerFactory:
    def __init__(self, request, tmp_path):
        self.request = request
        self.tmp_path = tmp_path
        self.servers: list[ServerProcess] = []

    def database_url(self, kind: str) -> str:
        if kind == "postgres":
            return self.request.getfixturevalue("postgres_cluster").create_database()
        folder = self.tmp_path / f"sqlite-{len(self.servers)}"
        folder.mkdir(exist_ok=True)
        return sqlite_url(folder)

    def start(self, kind: str = "sqlite", database_url: str | None = None, **env: str) -> ServerProcess:
        server = ServerProcess(database_url or self.database_url(kind), env=env)
        self.servers.append(server)
        return server.start()

    def cleanup(self, failed: bool) -> None:
        for server in self.servers:
            if failed:
                print(f"\n--- server log ({server.url}) ---\n{server.logs()[-20000:]}")
            server.cleanup()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture
def servers(request, tmp_path):
    """Starts servers on demand (for tests that need several or special settings)."""
    factory = ServerFactory(request, tmp_path)
    yield factory
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    factory.cleanup(failed)


@pytest.fixture
def server(servers, db) -> ServerProcess:
    """A server on each database in turn."""
    return servers.start(db)


@pytest.fixture
def sqlite_server(servers) -> ServerProcess:
    """A server on SQLite, for behaviour that does not depend on the database."""
    return servers.start("sqlite")


@pytest.fixture
def client(server) -> ApiClient:
    return ApiClient(server.url)


@pytest.fixture
def sqlite_client(sqlite_server) -> ApiClient:
    return ApiClient(sqlite_server.url)
