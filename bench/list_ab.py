"""Release binaries compared on `GET /api/todos/` (session cookie, 20 todos) on PostgreSQL:
the CPU each spends per request, which is steadier than req/s on a shared machine.

    python3 bench/list_ab.py --rounds 2 before=/tmp/old-server after=backend/.build-release/release/todolist-server

A binary may be followed by settings for its server: `pool4=/tmp/server,DATABASE_POOL_SIZE=4`.

One throw-away cluster; for each binary in turn (interleaved: before, after, before, after...)
a fresh database, the bench's reader with 20 todos, a 3 s warm-up, then `wrk -t2 -c32` for
`--duration` seconds with the server's and PostgreSQL's CPU (utime + stime, as
bench/instances.py reads it) divided by the requests answered. `--pgbench` adds pgbench's
reference (bench/pgbench.py) on the last database; `--perf N` records `perf record -g` of
each server for N seconds of its run (perf-<name>.data in the working folder).
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))
sys.path.insert(0, str(REPO / "bench"))
from servers import PostgresCluster, ServerProcess  # noqa
import bench  # noqa
import instances  # noqa
import pgbench  # noqa

ENV = {"BCRYPT_COST": "4", "LOG_LEVEL": "info", "SIGNUPS_PER_ADDRESS": "1000000"}


def one(cluster, postmaster, name, binary, duration, warmup, perf):
    binary, *settings = binary.split(",")
    os.environ["TODOLIST_SERVER_BIN"] = str(Path(binary).resolve())
    url = cluster.create_database()
    server = ServerProcess(url, env={**ENV, **dict(setting.split("=", 1) for setting in settings)}).start()
    try:
        reader = bench.Account(server.url, "bench-reader")
        for index in range(20):
            reader.post("/api/todos/", {"title": f"Todo number {index}"})
        writer = bench.Account(server.url, "bench-writer")
        writer.post("/api/todos/", {"title": "written"})
        bench.Account(server.url, "bench-creator-0")
        script = bench.lua_script("GET", reader.headers(), None)
        target = server.url + "/api/todos/"
        bench.run_wrk(target, script, 32, warmup)
        groups = {"server": lambda: instances.process_cpu(server.process.pid),
                  "postgres": lambda: instances.tree_cpu(postmaster)}
        perf_proc = None
        if perf:
            perf_proc = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-p", str(server.process.pid),
                                          "-o", f"perf-{name}.data", "--", "sleep", str(perf)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        figures = instances.run_wrk_measured(target, script, 32, duration, groups)
        if perf_proc:
            perf_proc.wait()
        answered = max(figures["requests"], 1)
        us = {k: v * 1e6 / answered for k, v in figures["cpu_s"].items()}
        print(f"{name:10} {figures['requests_per_s']:8.0f} req/s p99 {figures['p99_ms']} ms non2xx {figures['non_2xx']} "
              f"err {figures['errors']}  µs/req server {us['server']:.0f} postgres {us['postgres']:.0f} wrk {us['wrk']:.0f}",
              flush=True)
        return url, us["server"]
    finally:
        server.cleanup()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--pgbench", action="store_true")
    p.add_argument("--perf", type=int, default=0)
    p.add_argument("binaries", nargs="+")
    args = p.parse_args()
    pairs = [b.split("=", 1) for b in args.binaries]
    cluster = PostgresCluster().start()
    results = {n: [] for n, _ in pairs}
    try:
        postmaster = instances.postmaster_pid(cluster)
        url = None
        for _ in range(args.rounds):
            for name, binary in pairs:
                url, us = one(cluster, postmaster, name, binary, args.duration, args.warmup, args.perf)
                results[name].append(us)
        print("server µs/request:", {n: [round(v) for v in vs] for n, vs in results.items()})
        if args.pgbench:
            rows = pgbench.measure(url, "bench-reader", "bench-writer", ["bench-creator-0"], args.duration, args.warmup)
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
