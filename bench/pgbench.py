"""The PostgreSQL reference (issue 13): pgbench running the statements the server runs for a
request, on the same cluster and the same data as the wrk scenarios, in the same run.

`pgbench -M prepared -c 32 -j 2 -T <duration>`, one pgbench transaction per request:
- `GET /api/todos/`: LoadSession, then ListTodos (the bench reader, 20 todos);
- `POST /api/todos/`: LoadSession, then BEGIN, AppendTodo, the live event record
  (`RecordLiveEvent`), COMMIT, for one of the bench's creators picked at random
  each time (one script per creator, equal weights), as the wrk scenario spreads its creates;
- `PATCH /api/todos/<id>/`: LoadSession, then BEGIN, UpdateTodo, the live event, COMMIT
  (the bench writer's one todo, as the wrk scenario patches it).
That is what the server sends per request (a session is refreshed at most once a minute,
so no refresh). Values are the real ones: each user's id and a live session's `id_hash`,
read from the database after the wrk scenarios; the event's data is a todo's JSON of the
same shape as the server's. The server is stopped while pgbench runs.

pgbench logs a sample of its transactions (`-l --sampling-rate`), from which each row gets
pgbench's own p50 and p99 latency, to set beside the server's p99 at the same 32 clients.

One difference, in pgbench's favour and stated in the results: PostgreSQL has no LISTEN-ing
instance to signal when the events' NOTIFYs commit. (Like pgbench's `-M prepared`, the server
prepares every statement, BEGIN and COMMIT included.)

The statements below are copies of the server's text. `check_copies()` extracts each one from
the Swift source (the string literal of the named declaration, interpolations resolved) and
fails loudly when a copy no longer matches (whitespace aside), so the reference cannot
silently drift from what the server runs. It checks the text, not what each `$n` is bound to.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "backend" / "Sources" / "TodoApp"
PGBENCH = Path("/usr/lib/postgresql/15/bin/pgbench")
CLIENTS = 32
THREADS = 2
# The share of transactions pgbench logs with their latency (`-l --sampling-rate`), for its
# own p50 and p99: at ~30k transactions/s a tenth is thousands a second, enough for a p99,
# and the log's writes take less of the 2 cores pgbench shares with PostgreSQL than logging all.
LOG_SAMPLING_RATE = 0.1
TODO_CAP = 10_000  # TODOS_PER_USER's default, bound by the create
EVENTS_KEPT = 200  # EVENTS_KEPT_PER_USER's default, bound by the event record


@dataclass(frozen=True)
class Statement:
    """A copy of one of the server's statements: `text` with `$n` placeholders as the server
    sends it; `source` the Swift file and `path` the substrings leading, in order, to the
    string literal that holds it there (the literal after the last one)."""
    name: str
    source: str
    path: tuple[str, ...]
    text: str


# Storage/SessionStore.swift, `struct LoadSession`: $1 id_hash, $2 now (ms).
LOAD_SESSION = Statement(
    "LoadSession", "Storage/SessionStore.swift", ("struct LoadSession", "static let text = QueryText("),
    "SELECT sessions.user_id, sessions.csrf_secret, sessions.expires_at, users.username, sessions.public_id, "
    "sessions.last_seen_at FROM sessions JOIN users ON users.id = sessions.user_id "
    "WHERE sessions.id_hash = $1 AND sessions.expires_at > $2")

# Storage/TodoStore.swift, `struct ListTodos` (`TodoRowsQuery.columns` spliced in): $1 user id.
LIST_TODOS = Statement(
    "ListTodos", "Storage/TodoStore.swift", ("struct ListTodos:", "static let text = QueryText("),
    "SELECT id, title, completed, sort_order, created_at, updated_at FROM todos WHERE user_id = $1 "
    "ORDER BY sort_order, id")

# Storage/TodoStore.swift, `struct AppendTodo`, its PostgreSQL text: $1 user id, $2 title,
# $3 completed, $4 now, $5 the per-user cap.
APPEND_TODO = Statement(
    "AppendTodo (PostgreSQL)", "Storage/TodoStore.swift", ("struct AppendTodo:", "postgres:"),
    "SELECT id, title, completed, sort_order, created_at, updated_at FROM todolist_add_todo($1, $2, $3, NULL, $4, $5)")

# Storage/TodoStore.swift, `struct UpdateTodo`: $1 user id, $2 todo id, $3 title, $4 completed,
# $5 order (NULL: kept), $6 now.
UPDATE_TODO = Statement(
    "UpdateTodo", "Storage/TodoStore.swift", ("struct UpdateTodo:", "static let text = QueryText("),
    "UPDATE todos SET title = COALESCE($3, title), completed = COALESCE($4, completed), "
    "sort_order = COALESCE($5, sort_order), updated_at = $6 "
    "WHERE id = $2 AND user_id = $1 RETURNING id, title, completed, sort_order, created_at, updated_at")

# Live/LiveEventLog.swift, `struct RecordLiveEvent`: $1 user id, $2 kind, $3 data, $4 now,
# $5 events kept, $6/$7 the notification's text before and after the event id.
RECORD_EVENT = Statement(
    "RecordLiveEvent", "Live/LiveEventLog.swift", ("struct RecordLiveEvent:", "postgresOnly:"),
    """WITH counter AS (
    INSERT INTO live_event_counters AS c (user_id, last_id) VALUES ($1, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_id = c.last_id + 1 RETURNING last_id
), event AS (
    INSERT INTO live_events (user_id, id, kind, data, created_at)
    SELECT $1, last_id, $2, $3, $4 FROM counter
    RETURNING id
), pruned AS (
    DELETE FROM live_events WHERE user_id = $1
    AND id <= (SELECT last_id FROM counter) - $5
)
SELECT id, pg_notify('todolist_live', $6 || id::text || $7) FROM event""")

COPIES = [LOAD_SESSION, LIST_TODOS, APPEND_TODO, UPDATE_TODO, RECORD_EVENT]


# ---- the copies, checked against the Swift source ----

class StatementDrift(RuntimeError):
    pass


def swift_literal(source: str, start: int, resolve) -> str:
    """The value of the Swift string literal at or after `start`: single-line or multi-line
    (indentation of the closing quotes removed, `\\` line continuations joined), with each
    `\\(expression)` replaced by `resolve(expression)`."""
    opening = source.index('"', start)
    multiline = source.startswith('"""', opening)
    if multiline:
        body_start = source.index("\n", opening) + 1
        closing = source.index('"""', body_start)
        raw = source[body_start:closing]
        indent = raw[raw.rindex("\n") + 1:]
        raw = raw[:raw.rindex("\n")]
        raw = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in raw.split("\n"))
    else:
        position = opening + 1
        while source[position] != '"':
            position += 2 if source[position] == "\\" else 1
        raw = source[opening + 1:position]
    out, position = [], 0
    while position < len(raw):
        char = raw[position]
        if char != "\\":
            out.append(char)
            position += 1
            continue
        following = raw[position + 1]
        if following == "(":
            depth, end = 1, position + 2
            while depth:
                depth += {"(": 1, ")": -1}.get(raw[end], 0)
                end += 1
            out.append(resolve(raw[position + 2:end - 1].strip()))
            position = end
        else:
            out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "\n": ""}[following])
            position += 2
    return "".join(out)


def literal_at(relative: str, path: tuple[str, ...], resolve=None) -> str:
    source = (SOURCES / relative).read_text()
    position = 0
    for step in path:
        found = source.find(step, position)
        if found < 0:
            raise StatementDrift(f"{relative}: `{step}` not found (after {' → '.join(path[:path.index(step)]) or 'the start'})")
        position = found + len(step)
    return swift_literal(source, position, resolve or (lambda expression: f"\\({expression})"))


# Bare names interpolated by a statement that are not declared in its own type.
INHERITED = {"columns": ("Storage/TodoStore.swift", "extension TodoRowsQuery")}


def declared_string(relative: str, anchor: str, name: str, resolve) -> str | None:
    """The value of `static let name = "..."` (or `static var name: String { "..." }`) declared
    in the type or extension that starts at `anchor` in the file, if there."""
    source = (SOURCES / relative).read_text()
    start = source.find(anchor)
    return None if start < 0 else string_in_body(source, start, name, resolve)


def string_in_body(source: str, start: int, name: str, resolve) -> str | None:
    """`name`'s string constant in the declaration starting at `start` (up to its closing brace
    at the start of a line)."""
    end = source.find("\n}\n", start)
    match = re.compile(rf"static (?:let {re.escape(name)}\s*=|var {re.escape(name)}: String \{{)").search(
        source, start, end if end > 0 else len(source))
    return swift_literal(source, match.end(), resolve) if match else None


def type_string(type_name: str, name: str, resolve) -> str | None:
    """`Type.name` wherever `Type` (or an extension of it) is declared under SOURCES."""
    pattern = re.compile(rf"^\s*(?:[a-z]+ )*(?:struct|enum|extension|class|actor) {re.escape(type_name)}\b", re.M)
    for path in sorted(SOURCES.rglob("*.swift")):
        source = path.read_text()
        for match in pattern.finditer(source):
            value = string_in_body(source, match.start(), name, resolve)
            if value is not None:
                return value
    return None


def server_text(statement: Statement) -> str:
    """The statement as the server's source builds it: `\\(bind: ...)` numbered `$1`, `$2`...
    in order (as SQLKit does), `\\(name)`/`\\(Type.name)`/`\\(unsafeRaw: ...)` replaced by the
    string constant declared under that name."""
    binds = iter(range(1, 100))

    def constant(expression: str, context: tuple[str, str]) -> str:
        def nested(inner: str) -> str:
            return constant(inner, context)
        value = None
        if "." in expression:
            type_name, name = expression.rsplit(".", 1)
            value = type_string(type_name, name, nested)
        else:
            value = declared_string(*context, expression, nested)
            if value is None and expression in INHERITED:
                value = declared_string(*INHERITED[expression], expression, nested)
        if value is None:
            raise StatementDrift(f"{statement.source}: {statement.name} interpolates `{expression}`, "
                                 "which bench/pgbench.py cannot resolve to a string constant")
        return value

    def resolve(expression: str) -> str:
        if expression.startswith("bind:"):
            return f"${next(binds)}"
        if expression.startswith("unsafeRaw:"):
            expression = expression.removeprefix("unsafeRaw:").strip()
        return constant(expression, (statement.source, statement.path[0]))

    return literal_at(statement.source, statement.path, resolve)


def normalized(text: str) -> str:
    return " ".join(text.split())


def check_copies() -> None:
    """Raises StatementDrift naming every copy whose text the server no longer runs."""
    drifted = []
    for statement in COPIES:
        try:
            actual = server_text(statement)
        except StatementDrift as error:
            drifted.append(str(error))
            continue
        if normalized(actual) != normalized(statement.text):
            drifted.append(f"{statement.name} ({statement.source}) differs from bench/pgbench.py's copy:\n"
                           f"  server: {normalized(actual)}\n  copy:   {normalized(statement.text)}")
    if drifted:
        raise StatementDrift("bench/pgbench.py's statements no longer match the server's; update the copies "
                             "(and the pgbench scripts if the binds changed):\n" + "\n".join(drifted))


# ---- pgbench scripts ----

def sql(statement: Statement, *binds: str) -> str:
    """The statement for a pgbench script: `$n` becomes pgbench's `:variable` (or NULL, which a
    pgbench variable cannot hold), with a comment naming the declaration it mirrors."""
    def bind(match):
        value = binds[int(match.group(1)) - 1]
        return value if value == "NULL" else f":{value}"
    return f"-- {statement.name} ({statement.source})\n" + re.sub(r"\$(\d+)", bind, statement.text) + ";\n"


def list_script() -> str:
    return sql(LOAD_SESSION, "id_hash", "now") + sql(LIST_TODOS, "user_id")


def event_sql(suffix: str) -> str:
    return sql(RECORD_EVENT, f"user_id{suffix}", f"kind{suffix}", f"data{suffix}", "now", "kept",
               f"before_id{suffix}", f"after_id{suffix}")


def create_script(index: int) -> str:
    s = f"_{index}"
    return (sql(LOAD_SESSION, f"id_hash{s}", "now") + "BEGIN;\n"
            + sql(APPEND_TODO, f"user_id{s}", "title", "completed", "now", "cap") + event_sql(s) + "COMMIT;\n")


def patch_script() -> str:
    return (sql(LOAD_SESSION, "id_hash", "now") + "BEGIN;\n"
            + sql(UPDATE_TODO, "user_id", "todo_id", "title", "completed", "NULL", "now") + event_sql("") + "COMMIT;\n")


def todo_json(todo_id: int, title: str, completed: bool, order: int, now_ms: int) -> str:
    """A todo's JSON as the server writes it into an event (same keys, same shape)."""
    stamp = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps({"id": todo_id, "title": title, "completed": completed, "order": order,
                       "createdAt": stamp, "updatedAt": stamp}, separators=(",", ":"))


def event_variables(suffix: str, user_id: int, kind: str, data: str) -> dict[str, str]:
    """`LiveNotification.eventPayload`: "e <user> " before the id, " <kind> <data>" after it."""
    return {f"user_id{suffix}": str(user_id), f"kind{suffix}": kind, f"data{suffix}": data,
            f"before_id{suffix}": f"e {user_id} ", f"after_id{suffix}": f" {kind} {data}"}


# ---- running it ----

class Database:
    """psql on one database of the bench's cluster."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        self.host, self.port, self.user, self.name = parsed.hostname, parsed.port, parsed.username, parsed.path[1:]

    def query(self, text: str) -> list[list[str]]:
        result = subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.name, "-v", "ON_ERROR_STOP=1",
             "-AtF", "\t", "-c", text], check=True, capture_output=True, text=True)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def session_of(self, username: str, now_ms: int) -> tuple[int, str]:
        """The user's id and the id_hash of their live session that lasts longest."""
        rows = self.query(
            "SELECT users.id, sessions.id_hash FROM users JOIN sessions ON sessions.user_id = users.id "
            f"WHERE users.username = '{username}' AND sessions.expires_at > {now_ms} "
            "ORDER BY sessions.expires_at DESC LIMIT 1")
        if not rows:
            raise RuntimeError(f"no live session of {username} in {self.name}")
        return int(rows[0][0]), rows[0][1]


def run_pgbench(database: Database, scripts: list[str], variables: dict[str, str], duration: int,
                cpu_groups: dict | None = None) -> dict:
    """One pgbench run; its figures, and `cpu_s` per group (see instances.run_wrk_measured) when given."""
    folder = Path(tempfile.mkdtemp(prefix="todolist-pgbench-"))
    try:
        command = [str(PGBENCH), "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", str(THREADS), "-T", str(duration),
                   "-h", database.host, "-p", str(database.port), "-U", database.user,
                   "-l", f"--sampling-rate={LOG_SAMPLING_RATE}", f"--log-prefix={folder / 'transactions'}"]
        for index, script in enumerate(scripts):
            path = folder / f"script{index}.sql"
            path.write_text(script)
            command += ["-f", f"{path}@1"]
        for name, value in variables.items():
            command += ["-D", f"{name}={value}"]
        command.append(database.name)
        before = {name: read() for name, read in (cpu_groups or {}).items()}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        after = {name: read() for name, read in (cpu_groups or {}).items()}
        latencies = logged_latencies_ms(folder.glob("transactions.*"))
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    figures = {**summary_figures(output, latencies), "exit": process.returncode}
    if cpu_groups is not None:
        figures["cpu_s"] = {name: after[name] - before[name] for name in cpu_groups}
        figures["cpu_s"]["pgbench"] = usage.ru_utime + usage.ru_stime
    return figures


def start_round_trips(url: str, rate: int, clients: int, duration: int, folder: Path) -> subprocess.Popen:
    """pgbench sending `SELECT 1` (the extended protocol, as PostgresNIO sends the list cache's
    barrier) over `clients` connections at `rate` transactions a second (Poisson arrivals,
    `-R`), every transaction logged in `folder`: PostgreSQL's own round trip, the least any
    request that waits for one can take."""
    database = Database(url)
    script = folder / "round-trip.sql"
    script.write_text("SELECT 1;\n")
    return subprocess.Popen(
        [str(PGBENCH), "-n", "-M", "extended", "-c", str(clients), "-j", "1", "-R", str(rate), "-T", str(duration),
         "-h", database.host, "-p", str(database.port), "-U", database.user, "-l",
         f"--log-prefix={folder / 'transactions'}", "-f", str(script), database.name],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def round_trip_figures(output: str, folder: Path) -> dict:
    """The figures of a `start_round_trips` run from its output and logs (then removed). A
    transaction's logged time is from its actual start, so the schedule lag of `-R` is not in it."""
    summary = summary_figures(output, logged_latencies_ms(folder.glob("transactions.*")))
    shutil.rmtree(folder, ignore_errors=True)
    return {"requests_per_s": summary["tps"], "errors": summary["failed"] or 0, "raw": output,
            "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"]}


def summary_figures(output: str, latencies: list[float]) -> dict:
    """pgbench's summary (transactions a second and in all, failures, average latency) from
    its output, and the p50 and p99 of its logged transactions' `latencies`."""
    figures = {"tps": 0.0, "transactions": 0, "failed": None, "latency_ms": None, "raw": output,
               "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "logged": len(latencies)}
    if match := re.search(r"^tps = ([\d.]+)", output, re.M):
        figures["tps"] = float(match.group(1))
    if match := re.search(r"number of transactions actually processed: (\d+)", output):
        figures["transactions"] = int(match.group(1))
    if match := re.search(r"number of failed transactions: (\d+)", output):
        figures["failed"] = int(match.group(1))
    if match := re.search(r"^latency average = ([\d.]+) ms", output, re.M):
        figures["latency_ms"] = float(match.group(1))
    return figures


def logged_latencies_ms(logs) -> list[float]:
    """Latencies of the transactions in pgbench's per-transaction logs (one file per thread;
    each line `client_id transaction_no time script_no time_epoch time_us`, `time` the
    transaction's elapsed µs, or a word for a failed one, which is left out: failures are
    counted from pgbench's summary)."""
    latencies = []
    for log in logs:
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
    return latencies


def percentile(values: list[float], rank: float) -> float | None:
    """The nearest-rank percentile (as wrk reports its own), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * rank / 100) - 1)]


# What each wrk scenario's reference is called in the results.
SCENARIOS = {
    "GET /api/todos/ (20 todos)": "LoadSession + ListTodos",
    "POST /api/todos/": "LoadSession + BEGIN, AppendTodo, event, COMMIT",
    "PATCH /api/todos/<id>/": "LoadSession + BEGIN, UpdateTodo, event, COMMIT",
}


def measure(url: str, reader: str, writer: str, creators: list[str], duration: int, warmup: int,
            cpu_groups: dict | None = None) -> list[dict]:
    """pgbench for each scenario on the database at `url`, whose users the wrk scenarios made.
    One row each: scenario "pgbench: <the wrk scenario>", requests_per_s = transactions/s."""
    check_copies()
    database = Database(url)
    now_ms = int(time.time() * 1000)
    common = {"now": str(now_ms), "kept": str(EVENTS_KEPT), "cap": str(TODO_CAP)}

    reader_id, reader_hash = database.session_of(reader, now_ms)
    writer_id, writer_hash = database.session_of(writer, now_ms)
    todo_id, order = (int(v) for v in database.query(
        f"SELECT id, sort_order FROM todos WHERE user_id = {writer_id} ORDER BY id LIMIT 1")[0])
    runs = {
        "GET /api/todos/ (20 todos)": ([list_script()], {"id_hash": reader_hash, "user_id": str(reader_id)}),
        "PATCH /api/todos/<id>/": ([patch_script()], {
            "id_hash": writer_hash, "user_id": str(writer_id), "todo_id": str(todo_id), "title": "patched again",
            "completed": "true",
            **event_variables("", writer_id, "todo.updated", todo_json(todo_id, "patched again", True, order, now_ms))}),
    }
    scripts, variables = [], {"title": "bench write", "completed": "false"}
    for index, username in enumerate(creators):
        user_id, id_hash = database.session_of(username, now_ms)
        scripts.append(create_script(index))
        variables[f"id_hash_{index}"] = id_hash
        variables.update(event_variables(f"_{index}", user_id, "todo.created",
                                         todo_json(1000000 + index, "bench write", False, 1000, now_ms)))
    runs["POST /api/todos/"] = (scripts, variables)

    rows = []
    for scenario in SCENARIOS:  # the order of the wrk scenarios
        scripts, variables = runs[scenario]
        variables = {**common, **variables}
        if warmup:
            run_pgbench(database, scripts, variables, warmup)
        figures = run_pgbench(database, scripts, variables, duration, cpu_groups)
        ok = figures["exit"] == 0 and figures["tps"] > 0 and not figures["failed"] and figures["logged"] > 0
        row = {"scenario": f"pgbench: {scenario}", "reference_for": scenario, "statements": SCENARIOS[scenario],
               "connections": CLIENTS, "database": "postgres", "requests_per_s": figures["tps"],
               "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"], "latency_avg_ms": figures["latency_ms"],
               "logged_transactions": figures["logged"], "non_2xx": 0,
               "errors": figures["failed"] or 0, "ratio": None, "ok": ok, "raw": figures["raw"],
               "transactions": figures["transactions"]}
        if "cpu_s" in figures:
            answered = max(figures["transactions"], 1)
            row["cpu_us"] = {part: seconds * 1e6 / answered for part, seconds in figures["cpu_s"].items()}
        rows.append(row)
        cpu = ("  CPU µs/transaction: " + ", ".join(f"{k} {v:.0f}" for k, v in row["cpu_us"].items())
               if "cpu_us" in row else "")
        print(f"  postgres {row['scenario']:42} c={CLIENTS:<4} {row['requests_per_s']:>10.0f} tps"
              f"  latency avg {row['latency_avg_ms']} ms, p50 {fmt_ms(row['p50_ms'])} ms, p99 {fmt_ms(row['p99_ms'])} ms"
              f" ({row['logged_transactions']} logged){cpu}  {'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            print(figures["raw"][-2000:], flush=True)
    return rows


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def main() -> int:
    """Checks the copies; with --server, also a short run on a cluster of its own (the bench's
    users made through a server, which is then stopped), printed, nothing written."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="run pgbench too, the bench's data made through this binary")
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    try:
        check_copies()
    except StatementDrift as error:
        print(error, file=sys.stderr)
        return 2
    print("bench/pgbench.py: every copied statement matches the server's source")
    for statement in COPIES:
        print(f"  {statement.name}: {normalized(server_text(statement))}")
    if not args.server:
        return 0
    os.environ["TODOLIST_SERVER_BIN"] = str(Path(args.server).resolve())
    sys.path.insert(0, str(REPO / "bench"))
    import bench
    import instances
    cluster = bench.PostgresCluster().start()
    try:
        url = cluster.create_database()
        server = bench.ServerProcess(url, env={"BCRYPT_COST": "4"}).start()
        try:
            bench.scenarios(server.url)
        finally:
            server.cleanup()
        postmaster = instances.postmaster_pid(cluster)
        rows = measure(url, "bench-reader", "bench-writer", [f"bench-creator-{n}" for n in range(bench.CREATE_USERS)],
                       args.duration, args.warmup, cpu_groups={"postgres": lambda: instances.tree_cpu(postmaster)})
    finally:
        cluster.cleanup()
        shutil.rmtree(bench.SCRIPT_DIR, ignore_errors=True)
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
