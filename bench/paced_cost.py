"""What a request costs the server at a user's pace, layer by layer, beside the ceiling server:
the server's CPU per request (utime + stime of all its threads, divided by the requests
answered) and wrk's p50 and p99, for

- the ceiling server's `GET /api/ping/` (bench-ceiling: a bare Hummingbird route);
- the todolist server's `GET /api/ping/` anonymous, then with a session cookie;
- its `GET /api/todos/` (20 todos), the flood scenario's list.

    python3 bench/paced_cost.py --server backend/.build-release/release/todolist-server \\
        --ceiling backend/.build-release/release/bench-ceiling [--database postgres] [--rounds 2]

Each at the flood scenario's pace (bench.paced: 10 connections, 10 ms between an answer and
the next request), a 2 s warm-up then `--duration` seconds, the four in turn for each round;
the todolist server with the flood scenario's production settings (bench.FLOOD_ENV). At this
pace every request wakes the server from idle, so its cost is far above a closed loop's; the
differences between the rows are what each layer adds (docs/performance.md, "The paced list
beside its floors").
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))
sys.path.insert(0, str(REPO / "bench"))
from servers import PostgresCluster, ServerProcess, sqlite_url  # noqa: E402
import bench  # noqa: E402
import instances  # noqa: E402  (process_cpu)


def measure(name: str, pid: int, url: str, script: str, duration: int) -> None:
    bench.run_wrk(url, bench.paced(script), bench.PACED_CONNECTIONS, 2)
    before, ticks = instances.process_cpu(pid), bench.cpu_ticks()
    figures = bench.run_wrk(url, bench.paced(script), bench.PACED_CONNECTIONS, duration)
    used, stolen = instances.process_cpu(pid) - before, bench.steal_pct(ticks)
    requests = figures["requests_per_s"] * duration
    print(f"| {name} | {figures['requests_per_s']:.0f} | {bench.fmt(figures['p50_ms'])} | {bench.fmt(figures['p99_ms'])} | "
          f"{used * 1e6 / requests if requests else 0:.0f} | {bench.fmt(stolen, '{:.0f}')} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--ceiling", required=True)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8)
    args = parser.parse_args()
    os.environ["TODOLIST_SERVER_BIN"] = str(Path(args.server).resolve())
    cluster = PostgresCluster().start() if args.database == "postgres" else None
    workdir = tempfile.mkdtemp(prefix="todolist-paced-cost-")
    server = None
    try:
        url = cluster.create_database() if cluster else sqlite_url(Path(workdir))
        server = ServerProcess(url, env=bench.FLOOD_ENV).start()
        reader = bench.Account(server.url, "paced-reader")
        for index in range(20):
            reader.post("/api/todos/", {"title": f"Todo number {index}"})
        with bench.ceiling_server(args.ceiling) as (ceiling, ceiling_url):
            cases = [
                ("ceiling: GET /api/ping/", ceiling.pid, ceiling_url, bench.lua_script("GET", {}, None)),
                ("GET /api/ping/, anonymous", server.process.pid, server.url + "/api/ping/",
                 bench.lua_script("GET", {"Origin": bench.ORIGIN}, None)),
                ("GET /api/ping/, a session", server.process.pid, server.url + "/api/ping/",
                 bench.lua_script("GET", reader.headers(), None)),
                ("GET /api/todos/ (20 todos)", server.process.pid, server.url + "/api/todos/",
                 bench.lua_script("GET", reader.headers(), None)),
            ]
            print(f"{args.database}, {bench.PACED_CONNECTIONS} connections, {bench.PACED_INTERVAL_MS} ms "
                  "between requests\n")
            print("| request | req/s | p50 ms | p99 ms | server CPU µs/request | host steal % |")
            print("|---|---:|---:|---:|---:|---:|")
            for _ in range(args.rounds):
                for case in cases:
                    measure(*case, args.duration)
    finally:
        if server:
            server.cleanup()
        if cluster:
            cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
