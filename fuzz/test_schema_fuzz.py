"""Schema fuzzing: Schemathesis, driven by docs/openapi.yaml, against the real server on SQLite
and PostgreSQL, logged in and logged out, with a valid CSRF token and the web app's Origin on
every unsafe request (hooks.py).

Every check Schemathesis has runs: no 5xx; status codes, content types, headers and bodies as
documented; schema-valid requests accepted and schema-violating ones refused; methods the
document does not list answered 405 with a matching `Allow`; stateful sequences through the
document's links (create a todo, then read, change and delete it).

`make test` runs this with a fixed seed and few examples per operation (a few minutes in all);
`make fuzz` runs it longer with a random seed:
    FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 12)
    FUZZ_SEED          a number, or `random` (default: a fixed number)
A failure prints Schemathesis's report, with a curl command to reproduce each failing case, and
the server's log.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from servers import ServerProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOCUMENT = REPO / "docs" / "openapi.yaml"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
SEED = os.environ.get("FUZZ_SEED", "20261130")
# A bound on one run, well above what it needs, so a hang fails instead of stalling CI.
RUN_TIMEOUT = float(os.environ.get("FUZZ_RUN_TIMEOUT", str(max(300, MAX_EXAMPLES * 40))))

# Settings that keep the fuzzer's own sign-ups (one per sign-up, log-in and log-out case when
# logged in) from being throttled; the throttles have tests of their own.
SERVER_ENV = {
    "SIGNUPS_PER_ADDRESS": "1000000",
    "HASHING_QUEUE_PER_ADDRESS": "64",
    "LOG_LEVEL": "warning",
}


@pytest.fixture
def fuzz_server(database_url, request):
    server = ServerProcess(database_url, env=SERVER_ENV).start()
    yield server
    failed = getattr(request.node, "fuzz_failed", False)
    if failed:
        print(f"\n--- server log ({server.url}) ---\n{server.logs()[-20000:]}")
    server.cleanup()


@pytest.mark.parametrize("auth", ["session", "anonymous"])
def test_schema_fuzz(fuzz_server, auth, request, tmp_path):
    seed = str(random.randrange(2**32)) if SEED == "random" else SEED
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "SCHEMATHESIS_HOOKS": "hooks",
        "TODOLIST_FUZZ_URL": fuzz_server.url,
        "TODOLIST_FUZZ_AUTH": auth,
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"),
        "run", str(DOCUMENT),
        "--url", fuzz_server.url,
        "--checks", "all",
        # replaced by hooks.positive_data_accepted
        "--exclude-checks", "positive_data_acceptance",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", seed,
        "--generation-database", "none",
        "--workers", "1",
        "--no-color",
        "--report", "junit",
        "--report-dir", str(tmp_path / "report"),
    ]
    print(f"seed {seed}: {' '.join(command)}")
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    alive = fuzz_server.process is not None and fuzz_server.process.poll() is None
    request.node.fuzz_failed = result.returncode != 0 or not alive
    print(result.stdout[-60000:])
    print(result.stderr[-10000:])
    assert alive, "the server exited during fuzzing"
    assert result.returncode == 0, f"Schemathesis found failures (seed {seed}); see its report above"
