"""Several instances behind nginx (issue 13), and what each request costs in CPU.

`GET /api/todos/` (20 todos) and `POST /api/todos/` (spread over bench.CREATE_USERS users)
are measured with wrk through nginx, with 1 and with 2 `todolist-server` instances on one
PostgreSQL database (a fresh database of one cluster for each count). nginx runs the
deploy files: the `upstream` group of deploy/nginx/upstream.conf (its `server` lines
replaced by the instances' loopback ports, its keep-alive settings kept) and the API
`server { }` block of deploy/nginx/todolist.conf with TLS removed: the bench speaks plain
HTTP to nginx on loopback, so nginx's figures leave out TLS.

For each measurement the CPU time (utime + stime from /proc/<pid>/stat) spent over wrk's run
by each instance, by the whole PostgreSQL cluster (the postmaster and its children, exited
ones included through the postmaster's cutime/cstime), by nginx (master and workers) and
by wrk itself (its rusage) is divided by the requests answered: µs of CPU per request.
On a box where wrk, nginx, the instances and PostgreSQL share the same cores the request
rate does not grow with instances; the CPU per request is what the capacity model in
docs/scaling.md is built from.

Standalone (a short check): python3 bench/instances.py --server <binary> --duration 3
From bench.py: `measure(cluster, counts, duration, warmup)`, rows like bench.py's.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))
sys.path.insert(0, str(REPO / "bench"))

from servers import PostgresCluster, ServerProcess, free_port  # noqa: E402

import bench  # noqa: E402  (wrk scripts, accounts, parsing)

UPSTREAM_CONF = REPO / "deploy" / "nginx" / "upstream.conf"
SITE_CONF = REPO / "deploy" / "nginx" / "todolist.conf"
CONNECTIONS = 32
# The instances as bench.py runs the server for its throughput scenarios (request log on),
# behind a proxy they trust; sign-ups of the bench's users are cheap (bcrypt cost 4 is only
# used to set up; the measured requests do not hash).
SERVER_ENV = {"BCRYPT_COST": "4", "LOG_LEVEL": "info", "TRUSTED_PROXIES": "127.0.0.1",
              "SIGNUPS_PER_ADDRESS": "1000000"}
TICKS = os.sysconf("SC_CLK_TCK")


# ---- CPU time of processes, from /proc ----

def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat from the third (state) on: the command name may hold spaces."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, every thread) the process has used so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu(root: int) -> float:
    """Seconds of CPU of `root`, its live children, and its children that exited and were
    reaped (the root's cutime + cstime): a pool's connections that come and go are counted.

    A child reaped between reading the children and reading the root would be in neither, so
    the children are read on both sides of the root until both readings name the same ones."""
    for _ in range(50):
        before = _children_ticks(root)
        fields = _stat(root)
        after = _children_ticks(root)
        if before.keys() == after.keys():
            return (sum(int(f) for f in fields[11:15]) + sum(after.values())) / TICKS
    raise RuntimeError(f"the children of {root} kept changing while their CPU time was read")


def _children_ticks(root: int) -> dict[int, int]:
    """utime + stime, in clock ticks, of each live (or not yet reaped) child of `root`."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(child[1]) == root:
            ticks[int(entry.name)] = int(child[11]) + int(child[12])
    return ticks


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


def run_wrk_measured(url: str, script: str, connections: int, duration: int,
                     groups: dict[str, callable]) -> dict:
    """wrk's figures plus `cpu_s`: CPU seconds each group (a callable returning a running
    total) and wrk itself spent while wrk ran, and `requests`: how many it got answered."""
    path = bench.write_script(script)
    before = {name: read() for name, read in groups.items()}
    process = subprocess.Popen(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout=2s", "--latency", "-s", path, url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    after = {name: read() for name, read in groups.items()}
    figures = bench.parse_wrk(output)
    match = re.search(r"(\d+) requests in", output)
    figures["requests"] = int(match.group(1)) if match else 0
    figures["cpu_s"] = {name: after[name] - before[name] for name in groups}
    figures["cpu_s"]["wrk"] = usage.ru_utime + usage.ru_stime
    return figures


# ---- nginx with the deploy files ----

def nginx_config(folder: Path, port: int, instances: list[int]) -> str:
    """nginx.conf around deploy/nginx's upstream group and API server block, on plain HTTP."""
    upstream = UPSTREAM_CONF.read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in instances)
    upstream, replaced = re.subn(r"(?m)^\s*server\s+[^;]+;\n", "", upstream)
    if not replaced or "upstream todolist_api {" not in upstream:
        raise RuntimeError(f"{UPSTREAM_CONF}: no `upstream todolist_api` with `server` lines")
    upstream = upstream.replace("upstream todolist_api {\n", "upstream todolist_api {\n" + servers, 1)
    site = SITE_CONF.read_text()
    blocks = re.findall(r"(?ms)^server \{\n.*?^\}\n", site)
    api = [block for block in blocks if "server_name ${API_HOST};" in block]
    if len(api) != 1:
        raise RuntimeError(f"{SITE_CONF}: no single server block for ${{API_HOST}}")
    block = re.sub(r"listen \$\{LISTEN_PORT\} ssl http2;", "listen ${LISTEN_PORT};", api[0])
    block = re.sub(r"(?m)^\s*ssl_certificate(_key)?\s+[^;]+;\n", "", block)
    values = {"LISTEN_PORT": f"127.0.0.1:{port}", "API_HOST": "api.todolist.test", "BACKEND": "todolist_api"}
    block = re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], block)
    if " ssl" in block or "${" in block:
        raise RuntimeError(f"{SITE_CONF}: the API block still needs TLS or a placeholder:\n{block}")
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}worker_processes auto;\ndaemon off;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n"
            f"  access_log {folder}/access.log combined buffer=64k flush=1s;\n"
            f"  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
            f"  fastcgi_temp_path {folder}/fcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;\n"
            f"{upstream}\n{block}}}\n")


class Nginx:
    def __init__(self, instances: list[int]):
        self.folder = Path(tempfile.mkdtemp(prefix="todolist-bench-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.folder / "nginx.conf").write_text(nginx_config(self.folder, self.port, instances))
        self.process: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        self.process = subprocess.Popen(
            ["nginx", "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")],
            stdout=open(self.folder / "stdout.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.folder / "error.log").read_text(errors="replace"))
            try:
                if requests.get(self.url + "/api/ping/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("nginx did not answer /api/ping/ within 20 s")

    def cleanup(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# ---- the scenario ----

def measure(cluster: PostgresCluster, counts: list[int], duration: int, warmup: int) -> list[dict]:
    """For each instance count: a fresh database, the instances, nginx; both scenarios measured.
    Rows: scenario, connections, database, requests_per_s, p50/p99, ok, instances, requests,
    cpu_us (µs of CPU per request for each of server, postgres, nginx, wrk, total)."""
    rows = []
    postmaster = postmaster_pid(cluster)
    for count in counts:
        url = cluster.create_database()
        servers: list[ServerProcess] = []
        nginx = None
        try:
            for _ in range(count):
                servers.append(ServerProcess(url, env=SERVER_ENV).start())
            nginx = Nginx([server.port for server in servers]).start()
            reader = bench.Account(nginx.url, "bench-reader")
            for index in range(20):
                reader.post("/api/todos/", {"title": f"Todo number {index}"})
            creators = [bench.Account(nginx.url, f"bench-creator-{index}") for index in range(bench.CREATE_USERS)]
            groups = {
                **{f"instance {n}": (lambda pid=server.process.pid: process_cpu(pid)) for n, server in enumerate(servers, 1)},
                "postgres": lambda: tree_cpu(postmaster),
                "nginx": lambda: tree_cpu(nginx.process.pid),
            }
            for name, script in [
                ("GET /api/todos/ (20 todos)", bench.lua_script("GET", reader.headers(), None)),
                ("POST /api/todos/", bench.spread_script("POST", creators, '{"title": "bench write"}')),
            ]:
                target = nginx.url + "/api/todos/"
                bench.run_wrk(target, script, CONNECTIONS, warmup)
                figures = run_wrk_measured(target, script, CONNECTIONS, duration, groups)
                by_instance = [figures["cpu_s"].pop(f"instance {n}") for n in range(1, count + 1)]
                figures["cpu_s"] = {"server": sum(by_instance), **figures["cpu_s"]}
                figures["cpu_s_by_instance"] = by_instance
                answered = max(figures["requests"], 1)
                cpu_us = {part: seconds * 1e6 / answered for part, seconds in figures["cpu_s"].items()}
                cpu_us["total"] = sum(cpu_us.values())
                # Round robin at work: each instance's share of the instances' CPU.
                shares = [seconds / max(figures["cpu_s"]["server"], 1e-9) for seconds in figures.pop("cpu_s_by_instance")]
                label = "1 instance" if count == 1 else f"{count} instances"
                figures.update(scenario=f"{name} through nginx, {label}", connections=CONNECTIONS,
                               database="postgres", ratio=None, instances=count, cpu_us=cpu_us,
                               instance_cpu_shares=shares,
                               ok=figures["non_2xx"] == 0 and figures["errors"] == 0 and figures["requests_per_s"] > 0)
                rows.append(figures)
                print(f"  postgres {figures['scenario']:58} {figures['requests_per_s']:>8.0f} req/s  "
                      f"p99 {bench.fmt(figures['p99_ms'])} ms  CPU µs/request: " + describe_cpu(cpu_us)
                      + (f" (instances' shares {', '.join(f'{s:.0%}' for s in shares)})" if count > 1 else "")
                      + f"  {'ok' if figures['ok'] else 'FAILED'}", flush=True)
        finally:
            if nginx:
                nginx.cleanup()
            for server in servers:
                server.cleanup()
    return rows


def describe_cpu(cpu_us: dict[str, float]) -> str:
    return ", ".join(f"{part} {value:.0f}" for part, value in cpu_us.items())


def markdown(rows: list[dict]) -> str:
    """The results' section for these rows (bench.write_results appends it)."""
    lines = ["Several instances behind nginx (plain HTTP on loopback; wrk -t2 -c32; CPU from /proc over wrk's run, "
             "divided by the requests answered):", "",
             "| scenario | req/s | p99 ms | errors | server µs/req | PostgreSQL µs/req | nginx µs/req | wrk µs/req "
             "| total µs/req | each instance's share of the server CPU |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        cpu = row["cpu_us"]
        status = "" if row["ok"] else " **FAILED**"
        lines.append(f"| {row['scenario']}{status} | {row['requests_per_s']:.0f} | {bench.fmt(row['p99_ms'])} | "
                     f"{row['non_2xx'] + row['errors']} | {cpu['server']:.0f} | {cpu['postgres']:.0f} | "
                     f"{cpu['nginx']:.0f} | {cpu['wrk']:.0f} | {cpu['total']:.0f} | "
                     f"{', '.join(f'{share:.0%}' for share in row['instance_cpu_shares'])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=str(REPO / "backend/.build-release/release/todolist-server"))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--instances", default="1,2")
    args = parser.parse_args()
    os.environ["TODOLIST_SERVER_BIN"] = str(Path(args.server).resolve())
    cluster = PostgresCluster().start()
    try:
        rows = measure(cluster, [int(n) for n in args.instances.split(",")], args.duration, args.warmup)
    finally:
        cluster.cleanup()
        shutil.rmtree(bench.SCRIPT_DIR, ignore_errors=True)
    print()
    print(markdown(rows))
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
