#!/usr/bin/env python3
"""Runs a command with a throw-away PostgreSQL 15 cluster and TODOLIST_TEST_POSTGRES_URL
pointing at it, then stops the cluster: `python3 Tests/with_postgres.py swift test --skip-build`.

The Swift store tests run against SQLite always and against PostgreSQL when that
variable is set; this is how `make test` gives them a server without any set-up."""
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "HTTP"))

from servers import PostgresCluster  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cluster = PostgresCluster().start()
    try:
        env = dict(os.environ, TODOLIST_TEST_POSTGRES_URL=f"postgres://postgres@127.0.0.1:{cluster.port}/postgres")
        return subprocess.call(sys.argv[1:], env=env)
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    sys.exit(main())
