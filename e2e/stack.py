"""The two halves started as a user would deploy them, on separate origins.

DevStack:  http://localhost:<p1> (static frontend/dist)  ->  http://localhost:<p2> (API)
ProdStack: https://app.todolist.test:<p> and https://api.todolist.test:<p>, both served by
           nginx with deploy/nginx/todolist.conf and a self-signed certificate made here;
           the API behind it with Secure, __Host- cookies and TRUSTED_PROXIES=127.0.0.1.
           With `instances=2` (and a PostgreSQL `database_url`), two API processes share the
           database behind nginx; a browser context chooses its instance with the test-only
           cookie `INSTANCE_COOKIE` on the API host (see `use_instance`).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
import re

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))

from servers import ServerProcess, free_port, sqlite_url, wait_until_listening  # noqa: E402

DIST = REPO / "frontend" / "dist"
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "todolist.conf"
PROD_DOMAIN = "todolist.test"


def wait_for(url: str, timeout: float = 20.0, **kwargs) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2, **kwargs)
            return
        except requests.RequestException as error:
            last = error
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer: {last}")


class FrontendServer:
    """A copy of frontend/dist with its deploy-time config.js, served by the project's static server."""

    def __init__(self, api_url: str, port: int | None = None):
        if not (DIST / "index.html").exists():
            raise RuntimeError("frontend/dist is missing: run `make -C frontend build` first")
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="todolist-web-"))
        self.dist = self.root / "dist"
        shutil.copytree(DIST, self.dist)
        write_config(self.dist, api_url)
        self.log_path = self.root / "web.log"
        self.process: subprocess.Popen | None = None

    def start(self, host: str = "127.0.0.1") -> "FrontendServer":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            ["node", str(REPO / "frontend" / "scripts" / "static-server.mjs"), str(self.dist),
             "--port", str(self.port), "--host", host],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until_listening(self.process, self.port, time.monotonic() + 20,
                             lambda: "the static server's log:\n" + self.log_path.read_text(errors="replace"))
        wait_for(f"http://127.0.0.1:{self.port}/")
        return self

    def cleanup(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def write_config(dist: Path, api_url: str) -> None:
    """What a deployer does: replace the one runtime file, never rebuild."""
    (dist / "config.js").write_text(f"window.TODOLIST_CONFIG = {{ apiUrl: {api_url!r} }};\n")


class DevStack:
    def __init__(self, workdir: Path):
        self.api_port = free_port()
        self.web_port = free_port()
        self.api_url = f"http://localhost:{self.api_port}"
        self.app_url = f"http://localhost:{self.web_port}"
        (workdir / "db").mkdir(exist_ok=True)
        self.backend = ServerProcess(
            sqlite_url(workdir / "db"), port=self.api_port,
            env={"FRONTEND_ORIGINS": self.app_url, "BCRYPT_COST": "4"})
        self.frontend = FrontendServer(self.api_url, port=self.web_port)

    def start(self) -> "DevStack":
        self.backend.start()
        self.frontend.start()
        return self

    def backend_logs(self) -> str:
        return self.backend.logs()

    def cleanup(self) -> None:
        self.frontend.cleanup()
        self.backend.cleanup()


def fill_placeholders(text: str, **values) -> str:
    """Fills the template's ${NAME} placeholders; nginx's own $variables stay untouched."""
    def replace(match):
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for ${{{name}}} in {NGINX_TEMPLATE}")
        return str(values[name])
    return re.sub(r"\$\{([A-Z_]+)\}", replace, text)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "todolist.test.pem", folder / "todolist.test.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=*.{PROD_DOMAIN}",
         "-addext", f"subjectAltName=DNS:app.{PROD_DOMAIN},DNS:api.{PROD_DOMAIN},DNS:*.{PROD_DOMAIN}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


INSTANCE_COOKIE = "e2e_instance"


class ProdStack:
    """nginx terminating TLS for the app and API hosts, the API on a loopback port behind it
    (or `instances` API processes on one PostgreSQL database, `database_url`)."""

    def __init__(self, workdir: Path, database_url: str | None = None, instances: int = 1):
        if instances > 1 and not (database_url or "").startswith("postgres"):
            raise ValueError("several instances share one PostgreSQL database")
        self.workdir = workdir
        self.port = free_port()
        self.app_host = f"app.{PROD_DOMAIN}"
        self.api_host = f"api.{PROD_DOMAIN}"
        self.app_url = f"https://{self.app_host}:{self.port}"
        self.api_url = f"https://{self.api_host}:{self.port}"
        (workdir / "db").mkdir(exist_ok=True)
        self.backends = [ServerProcess(database_url or sqlite_url(workdir / "db"), env={
            "FRONTEND_ORIGINS": self.app_url,
            "COOKIE_SECURE": "true",
            "CSRF_COOKIE_NAME": "__Host-csrftoken",
            "SESSION_COOKIE_NAME": "__Host-sessionid",
            "TRUSTED_PROXIES": "127.0.0.1",
            "ALLOWED_HOSTS": self.api_host,
            "BCRYPT_COST": "4",
        }) for _ in range(instances)]
        self.backend = self.backends[0]
        self.web_root = workdir / "dist"
        self.nginx_dir = workdir / "nginx"
        self.nginx: subprocess.Popen | None = None

    def start(self) -> "ProdStack":
        for backend in self.backends:
            backend.start()
        shutil.copytree(DIST, self.web_root)
        write_config(self.web_root, self.api_url)
        self.nginx_dir.mkdir()
        cert, key = make_certificate(self.nginx_dir)
        routing = ""
        backend_address = f"127.0.0.1:{self.backend.port}"
        if len(self.backends) > 1:
            # Test-only routing: instance N (1-based) for a request carrying INSTANCE_COOKIE=N,
            # the first otherwise; the access log names the instance that answered.
            choices = "".join(f"    {n} 127.0.0.1:{b.port};\n" for n, b in enumerate(self.backends, 1))
            routing = (f"  map $cookie_{INSTANCE_COOKIE} $todolist_backend {{\n    default 127.0.0.1:{self.backend.port};\n"
                       f"{choices}  }}\n  log_format upstream '$request_method $uri $status [$cookie_{INSTANCE_COOKIE}] $upstream_addr';\n")
            backend_address = "$todolist_backend"
        servers = fill_placeholders(
            NGINX_TEMPLATE.read_text(),
            LISTEN_PORT=f"127.0.0.1:{self.port}", APP_HOST=self.app_host, API_HOST=self.api_host,
            TLS_CERTIFICATE=cert, TLS_KEY=key, FRONTEND_ROOT=self.web_root,
            BACKEND=backend_address)
        access_format = " upstream" if len(self.backends) > 1 else ""
        # A main file of our own around the shipped server blocks: logs and pid in the temp folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (self.nginx_dir / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {self.nginx_dir}/nginx.pid;\n"
            f"error_log {self.nginx_dir}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n{routing}  access_log {self.nginx_dir}/access.log{access_format};\n"
            f"  client_body_temp_path {self.nginx_dir}/body; proxy_temp_path {self.nginx_dir}/proxy;\n"
            f"  fastcgi_temp_path {self.nginx_dir}/fcgi; uwsgi_temp_path {self.nginx_dir}/uwsgi;\n"
            f"  scgi_temp_path {self.nginx_dir}/scgi;\n{servers}\n}}\n")
        self.nginx = subprocess.Popen(
            ["nginx", "-p", str(self.nginx_dir), "-c", str(self.nginx_dir / "nginx.conf")],
            stdout=open(self.nginx_dir / "stdout.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.nginx_logs())
            try:
                requests.get(f"https://127.0.0.1:{self.port}/", headers={"Host": self.app_host}, verify=False, timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.05)
        return self

    def nginx_logs(self) -> str:
        text = ""
        for name in ("error.log", "stdout.log"):
            path = self.nginx_dir / name
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def use_instance(self, context, number: int) -> None:
        """Sends this browser context's API requests to instance `number` (1-based)."""
        context.add_cookies([{"name": INSTANCE_COOKIE, "value": str(number), "domain": self.api_host, "path": "/",
                              "secure": True, "httpOnly": True, "sameSite": "Lax"}])

    def instances_serving(self, path: str) -> set[tuple[str, int]]:
        """(INSTANCE_COOKIE value, instance number) of each request nginx passed on for `path`
        (with `instances` > 1): which browser was served by which API process. CORS preflights
        carry no cookies (they go to the first instance) and are left out."""
        numbers = {f"127.0.0.1:{b.port}": n for n, b in enumerate(self.backends, 1)}
        served = set()
        for line in (self.nginx_dir / "access.log").read_text(errors="replace").splitlines():
            fields = line.split()
            if len(fields) == 5 and fields[1] == path and fields[0] != "OPTIONS":
                served.add((fields[3].strip("[]"), numbers.get(fields[4], 0)))
        return served

    def backend_logs(self) -> str:
        logs = "".join(f"--- instance {n} ---\n{b.logs()}\n" for n, b in enumerate(self.backends, 1))
        return logs + "\n--- nginx ---\n" + self.nginx_logs()

    def cleanup(self) -> None:
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
        for backend in self.backends:
            backend.cleanup()
