#!/usr/bin/env bash
# `make bench`: release builds, then bench.py measures every scenario against the ceiling and, on
# PostgreSQL, against pgbench running the server's statements (bench/pgbench.py), then through nginx
# with 1 and 2 instances (bench/instances.py; `--instances ''` skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
# A scratch path of its own, so a release build never waits on (or evicts) the debug one.
(cd backend && swift build -c release --scratch-path .build-release --product todolist-server \
  && swift build -c release --scratch-path .build-release --product bench-ceiling)
status=0
python3 bench/bench.py \
  --server backend/.build-release/release/todolist-server \
  --ceiling backend/.build-release/release/bench-ceiling "$@" || status=$?
# Data at scale (issue 13): a seeded database against a small one; results in bench/results/*-scale.md.
python3 bench/scale.py --server backend/.build-release/release/todolist-server || status=$?
exit $status
