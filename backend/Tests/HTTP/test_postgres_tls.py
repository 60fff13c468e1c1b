"""PostgreSQL over TLS, with libpq's meaning of `sslmode` and `sslrootcert`, against a
cluster of its own that accepts only TLS connections (pg_hba `hostssl`) and presents a
certificate for `localhost` (not for 127.0.0.1) signed by a CA made here."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from accounts import signed_up
from servers import PostgresCluster, ServerProcess, server_binary

pytestmark = pytest.mark.skipif(
    "postgres" not in os.environ.get("TODOLIST_TEST_DATABASES", "sqlite,postgres").split(","),
    reason="PostgreSQL tests are disabled")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """`ca.crt` (signed the server's certificate), `other-ca.crt` (did not), `server.crt`/`.key` for localhost."""
    folder = tmp_path_factory.mktemp("pg-tls")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr", cwd=folder)
    (folder / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.crt", cwd=folder)
    return folder


@pytest.fixture(scope="module")
def tls_cluster(certificates):
    """Initialised, then restarted with ssl=on and only `hostssl` lines in pg_hba.conf."""
    cluster = PostgresCluster().start()
    cluster.stop()
    for name in ("server.crt", "server.key"):
        target = cluster.data / name
        shutil.copy(certificates / name, target)
        os.chmod(target, 0o600)
        if cluster.user:
            entry = pwd.getpwnam(cluster.user)
            os.chown(target, entry.pw_uid, entry.pw_gid)
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.write("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
    (cluster.data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n")
    cluster.start()
    yield cluster
    cluster.cleanup()


def database_url(cluster: PostgresCluster, host: str, query: str) -> str:
    name = cluster.create_database().rsplit("/", 1)[1]
    return f"postgres://postgres@{host}:{cluster.port}/{name}?{query}"


def encrypted_connections(cluster: PostgresCluster, url: str) -> int:
    name = urlsplit(url).path.lstrip("/")
    return int(cluster.psql(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
        f"WHERE pg_stat_ssl.ssl AND datname = '{name}'").strip())


def start_refused(url: str, home: Path, expected_status: int = 1) -> str:
    """Runs `serve` expecting it to stop at start-up; its one line on standard error."""
    server = ServerProcess(url, env={"HOME": str(home)})
    try:
        result = subprocess.run([str(server_binary()), "serve"], env=server.env, cwd=server.workdir,
                                capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(server.workdir, ignore_errors=True)
    assert result.returncode == expected_status, result
    lines = [line for line in result.stderr.splitlines() if line.startswith("todolist-server: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def empty_home(tmp_path) -> Path:
    """A home directory without ~/.postgresql/root.crt."""
    home = tmp_path / "home"
    home.mkdir()
    return home


def works(servers, cluster, url: str, home: Path) -> None:
    server = servers.start(database_url=url, HOME=str(home))
    client = signed_up(server.url)
    assert client.post("/api/todos/", json={"title": "over TLS"}).status_code == 201
    assert [todo["title"] for todo in client.get("/api/todos/").json()["todos"]] == ["over TLS"]
    assert encrypted_connections(cluster, url) >= 1


def test_verify_full_with_the_right_ca_and_host_works(servers, tls_cluster, certificates, empty_home):
    works(servers, tls_cluster, database_url(
        tls_cluster, "localhost", f"sslmode=verify-full&sslrootcert={certificates / 'ca.crt'}"), empty_home)


def test_verify_full_with_the_wrong_ca_refuses_to_start(tls_cluster, certificates, empty_home):
    line = start_refused(database_url(
        tls_cluster, "localhost", f"sslmode=verify-full&sslrootcert={certificates / 'other-ca.crt'}"), empty_home)
    assert "cannot start" in line and "certificate" in line.lower(), line


def test_verify_full_with_the_wrong_host_name_refuses_to_start(tls_cluster, certificates, empty_home):
    # The certificate names localhost only; 127.0.0.1 is the same server under another name.
    line = start_refused(database_url(
        tls_cluster, "127.0.0.1", f"sslmode=verify-full&sslrootcert={certificates / 'ca.crt'}"), empty_home)
    assert "cannot start" in line and "127.0.0.1" in line, line


def test_verify_ca_checks_the_chain_but_not_the_host_name(servers, tls_cluster, certificates, empty_home):
    works(servers, tls_cluster, database_url(
        tls_cluster, "127.0.0.1", f"sslmode=verify-ca&sslrootcert={certificates / 'ca.crt'}"), empty_home)
    line = start_refused(database_url(
        tls_cluster, "127.0.0.1", f"sslmode=verify-ca&sslrootcert={certificates / 'other-ca.crt'}"), empty_home)
    assert "certificate" in line.lower(), line


def test_require_encrypts_without_verifying(servers, tls_cluster, empty_home):
    works(servers, tls_cluster, database_url(tls_cluster, "127.0.0.1", "sslmode=require"), empty_home)


def test_require_with_a_root_certificate_verifies_the_chain_as_libpq_does(tls_cluster, certificates, empty_home):
    line = start_refused(database_url(
        tls_cluster, "localhost", f"sslmode=require&sslrootcert={certificates / 'other-ca.crt'}"), empty_home)
    assert "certificate" in line.lower(), line


def test_prefer_and_allow_use_tls_when_the_server_offers_it(servers, tls_cluster, empty_home):
    for mode in ("prefer", "allow"):
        works(servers, tls_cluster, database_url(tls_cluster, "127.0.0.1", f"sslmode={mode}"), empty_home)


def test_disable_against_a_tls_only_server_fails_clearly(tls_cluster, empty_home):
    line = start_refused(database_url(tls_cluster, "127.0.0.1", "sslmode=disable"), empty_home)
    assert "cannot start" in line and "no encryption" in line, line


def test_verification_without_a_root_certificate_refuses_to_start(tls_cluster, empty_home):
    line = start_refused(database_url(tls_cluster, "localhost", "sslmode=verify-full"), empty_home)
    assert str(empty_home / ".postgresql" / "root.crt") in line and "does not exist" in line, line


def test_the_default_root_certificate_is_home_postgresql_root_crt(servers, tls_cluster, certificates, tmp_path):
    home = tmp_path / "home-with-root"
    (home / ".postgresql").mkdir(parents=True)
    shutil.copy(certificates / "ca.crt", home / ".postgresql" / "root.crt")
    works(servers, tls_cluster, database_url(tls_cluster, "localhost", "sslmode=verify-full"), home)
    shutil.copy(certificates / "other-ca.crt", home / ".postgresql" / "root.crt")
    line = start_refused(database_url(tls_cluster, "localhost", "sslmode=verify-full"), home)
    assert "certificate" in line.lower(), line


@pytest.mark.parametrize("query, message", [
    ("sslmode=verify-everything", "sslmode 'verify-everything' is not one of"),
    ("sslmode=require&sslcert=client.crt", "parameter 'sslcert' is not supported"),
    ("sslmode=require&sslrootcert=system", "sslrootcert=system needs sslmode=verify-full"),
    ("sslmode=require&sslmode=disable", "parameter 'sslmode' is given twice"),
])
def test_unsupported_settings_stop_the_server_as_a_settings_error(query, message, empty_home):
    line = start_refused(f"postgres://postgres@127.0.0.1:1/db?{query}", empty_home, expected_status=2)
    assert "DATABASE_URL" in line and message in line, line


def test_a_missing_root_certificate_file_stops_the_start(tls_cluster, tmp_path, empty_home):
    missing = tmp_path / "nowhere.crt"
    line = start_refused(database_url(tls_cluster, "localhost", f"sslmode=verify-full&sslrootcert={missing}"),
                         empty_home)
    assert f'"{missing}" does not exist' in line, line
