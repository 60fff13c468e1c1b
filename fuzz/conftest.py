"""Fixtures for schema fuzzing: the real server binary (backend/Tests/HTTP/servers.py) on a
fresh SQLite file or a fresh database in a throw-away PostgreSQL cluster."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend" / "Tests" / "HTTP"))

from servers import PostgresCluster  # noqa: E402

DATABASES = os.environ.get("TODOLIST_TEST_DATABASES", "sqlite,postgres").split(",")


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.cleanup()


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_cluster").create_database()
    return f"sqlite://{tmp_path / 'todolist.sqlite3'}"
