"""Real processes for HTTP and browser tests: the built server binary on a loopback
port, and a throw-away PostgreSQL 15 cluster in a temporary folder.

Shared by backend/Tests/HTTP and e2e/; nothing here mocks the database or the server.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[3]
DEFAULT_BINARY = REPO / "backend" / ".build" / "debug" / "todolist-server"
# The longest an access-log line waits in the server before it is written (`LogOutput`).
LOG_FLUSH_SECONDS = 0.05
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


_ports_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A loopback port free now and never handed out before by this process. The kernel
    repeats ports it gave for a closed socket, so two servers of one stack could get the same
    port: the second one's failure to listen would then be hidden by the first one's answers."""
    with _ports_lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds a TCP socket listening on `port` (Linux /proc). An answer on
    the port proves less: it may come from another process that holds the port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return False
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, PermissionError):
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) in inodes:
                return True
        except OSError:
            continue
    return False


def wait_until_listening(process: subprocess.Popen, port: int, deadline: float, logs) -> None:
    """Waits until `process` itself listens on `port` (`listens_on`), until the monotonic
    `deadline`; raises RuntimeError, with `logs()`, if it exits or the deadline passes."""
    while not listens_on(process.pid, port):
        if process.poll() is not None:
            raise RuntimeError(f"not listening on port {port}: exited with {process.returncode}:\n{logs()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not listening on port {port} in time:\n{logs()}")
        time.sleep(0.05)


def server_binary() -> Path:
    binary = Path(os.environ.get("TODOLIST_SERVER_BIN", DEFAULT_BINARY))
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: build the backend first (make -C backend build)")
    return binary


class ServerProcess:
    """One `todolist-server serve` process with its own log file."""

    def __init__(self, database_url: str, env: dict[str, str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.workdir = Path(tempfile.mkdtemp(prefix="todolist-server-"))
        self.log_path = self.workdir / "server.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "FRONTEND_ORIGINS": "http://localhost:3000",
            "DATABASE_URL": database_url,
            "BCRYPT_COST": "4",
            "LOG_LEVEL": "info",
            # Every test client shares one loopback address: the per-address sign-up
            # throttle and hashing share are lifted here; the tests of those limits set them.
            "SIGNUPS_PER_ADDRESS": "1000000",
            "HASHING_QUEUE_PER_ADDRESS": "32",
        }
        self.env.update(env or {})
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def start(self, timeout: float = 30.0, output: int | None = None) -> "ServerProcess":
        """Starts the server and waits until it answers. Its output goes to its log file, or to
        the file descriptor `output` (then `logs()` has nothing: the caller reads it)."""
        log = open(self.log_path, "ab") if output is None else output
        self.process = subprocess.Popen(
            [str(server_binary()), "serve"], env=self.env, cwd=self.workdir,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        wait_until_listening(self.process, self.port, deadline, self.logs)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                requests.get(self.url + "/api/ping/", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.logs()}")

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def new_log_lines(self, until: str | None = None, timeout: float = 5.0) -> str:
        """Log written since the last call: what one test caused. Warnings and errors are in
        the log before the answer that follows them; a request's access line (info) within the
        server's flush interval (`LOG_FLUSH_SECONDS`): with `until`, waits up to `timeout` for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.logs()
            fresh = text[self._log_offset:]
            if until is None or until in fresh or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self._log_offset = len(text)
        return fresh

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def sqlite_url(folder: Path) -> str:
    return f"sqlite://{folder / 'todolist.sqlite3'}"


class PostgresCluster:
    """A PostgreSQL 15 cluster of its own, in a temporary folder, on a loopback port.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the
    `postgres` account that Debian's package creates.
    """

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="todolist-pg-"))
        self.data = self.dir / "data"
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.dir, 0o755)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--"] + command
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.dir)

    def start(self) -> "PostgresCluster":
        if not self.data.exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "--no-sync", "-E", "UTF8", "--locale=C")
        result = self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {result.stdout}{result.stderr}\n{self.log()}")
        return self

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def log(self) -> str:
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            check=True, capture_output=True, text=True)
        return result.stdout

    def create_database(self) -> str:
        name = "todolist_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
