"""`todolist-server check` (the deploy check) and the same findings logged at start-up.

Each test runs the real binary with an environment that produces one finding, and reads
what an operator would: the report's lines, the exit status, the server's log."""
from __future__ import annotations

import re
import subprocess

import pytest

from servers import server_binary

PROD = {
    "ALLOWED_HOSTS": "api.example.com",
    "FRONTEND_ORIGINS": "https://app.example.com",
    "COOKIE_SECURE": "true",
    "TRUSTED_PROXIES": "127.0.0.1",
    "BCRYPT_COST": "12",
}
LINE = re.compile(r"^(error|warning) ([EW]\d{3}): (.+)$")


class Report:
    def __init__(self, result: subprocess.CompletedProcess):
        self.result = result
        self.status = result.returncode
        lines = result.stdout.strip().splitlines()
        assert lines and lines[-1].startswith("System check identified"), result
        self.summary = lines[-1]
        self.findings = []
        for line in lines[:-1]:
            match = LINE.match(line)
            assert match, f"not a finding line: {line!r}"
            self.findings.append(match.groups())

    @property
    def ids(self) -> list[str]:
        return [finding[1] for finding in self.findings]

    def message(self, finding_id: str) -> str:
        return next(message for _, fid, message in self.findings if fid == finding_id)


def check(**env: str) -> Report:
    base = {"PATH": "/usr/bin:/bin"}
    base.update(env)
    result = subprocess.run([str(server_binary()), "check"], env=base, capture_output=True, text=True, timeout=30)
    return Report(result)


def prod(**changes: str) -> dict[str, str]:
    env = dict(PROD)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_a_sound_production_layout_has_no_findings():
    report = check(**PROD)
    assert report.findings == [], report.result.stdout
    assert report.status == 0
    assert report.summary == "System check identified no issues."


def test_defaults_warn_that_hosts_are_unchecked():
    report = check()
    assert report.ids == ["W001"]
    assert "ALLOWED_HOSTS" in report.message("W001")
    assert report.status == 0


def test_wildcard_allowed_hosts():
    report = check(**prod(ALLOWED_HOSTS="*"))
    assert "W002" in report.ids and report.status == 0


def test_allowed_hosts_domain_spanning_a_public_suffix():
    report = check(**prod(ALLOWED_HOSTS="api.example.com,.github.io"))
    assert report.ids == ["W003"] and "github.io" in report.message("W003")


@pytest.mark.parametrize("origin", ["https://app.example.net", "https://foo.github.io"])
def test_cross_site_frontend_with_lax_cookies_is_an_error(origin):
    env = prod(FRONTEND_ORIGINS=origin)
    if origin.endswith("github.io"):
        env["ALLOWED_HOSTS"] = "bar.github.io"
    report = check(**env)
    assert report.ids == ["E002"], report.result.stdout
    assert origin in report.message("E002") and "Lax" in report.message("E002")
    assert report.status == 1
    assert report.summary == "System check identified 1 error and 0 warnings."


def test_cross_site_frontend_with_samesite_none_warns_about_third_party_cookies():
    report = check(**prod(FRONTEND_ORIGINS="https://app.example.com,https://app.example.net", COOKIE_SAMESITE="None"))
    assert report.ids == ["W004"]
    assert "https://app.example.net" in report.message("W004") and "third-party" in report.message("W004")
    assert report.status == 0


def test_same_site_subdomains_are_fine_under_a_multi_label_suffix():
    report = check(**prod(ALLOWED_HOSTS="api.example.co.uk", FRONTEND_ORIGINS="https://app.example.co.uk"))
    assert report.findings == []
    crossed = check(**prod(ALLOWED_HOSTS="api.example.co.uk", FRONTEND_ORIGINS="https://app.other.co.uk"))
    assert crossed.ids == ["E002"]


def test_samesite_none_without_need():
    report = check(**prod(COOKIE_SAMESITE="None"))
    assert report.ids == ["W010"]


def test_wildcard_origin_over_a_public_suffix_is_an_error():
    report = check(**prod(FRONTEND_ORIGINS="https://*.github.io", ALLOWED_HOSTS="me.github.io"))
    assert report.ids == ["E001"], report.result.stdout
    assert "https://*.github.io" in report.message("E001")
    assert report.status == 1


def test_serve_refuses_a_wildcard_origin_over_a_public_suffix(tmp_path):
    """`https://*.com` would let every .com site make credentialed requests and read the
    answers: the server does not start, whatever else is set (API.md: an invalid
    FRONTEND_ORIGINS entry stops the server)."""
    env = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": "0", "FRONTEND_ORIGINS": "https://*.com",
           "DATABASE_URL": f"sqlite://{tmp_path / 'todo.sqlite'}"}
    result = subprocess.run([str(server_binary()), "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result  # as for every invalid setting (README)
    line = result.stderr.strip()
    assert line.startswith("todolist-server: invalid setting FRONTEND_ORIGINS: "), result
    assert "https://*.com" in line and "public suffix" in line, result
    assert len(line.splitlines()) == 1, line


def test_insecure_cookies_with_an_https_origin():
    report = check(**prod(COOKIE_SECURE="false"))
    assert report.ids == ["W005"]
    assert "COOKIE_SECURE" in report.message("W005")


def test_secure_cookies_without_host_prefix():
    report = check(**prod(CSRF_COOKIE_NAME="csrftoken", SESSION_COOKIE_NAME="sessionid"))
    assert report.ids == ["W006", "W006"]
    assert "'sessionid'" in report.findings[0][2] and "'csrftoken'" in report.findings[1][2]


def test_cookie_domain_with_secure_cookies_falls_back_to_secure_prefix_and_warns():
    report = check(**prod(COOKIE_DOMAIN=".example.com"))
    assert report.ids == ["W006", "W006"]
    assert "'__Secure-sessionid'" in report.findings[0][2] and "COOKIE_DOMAIN" in report.findings[0][2]


def test_plain_http_origin_with_secure_cookies():
    report = check(**prod(FRONTEND_ORIGINS="http://app.example.com"))
    assert report.ids == ["W007"]
    assert "http://app.example.com" in report.message("W007")


def test_low_bcrypt_cost():
    report = check(**prod(BCRYPT_COST="4"))
    assert report.ids == ["W008"] and "BCRYPT_COST" in report.message("W008")


def test_secure_cookies_without_trusted_proxies():
    report = check(**prod(TRUSTED_PROXIES=None))
    assert report.ids == ["W011"]


def test_missing_public_suffix_list_is_one_clear_line():
    report = check(**prod(PUBLIC_SUFFIX_LIST="/nonexistent/public_suffix_list.dat", FRONTEND_ORIGINS="https://app.example.net"))
    assert report.ids == ["W009"]
    assert "/nonexistent/public_suffix_list.dat" in report.message("W009")
    assert report.status == 0


def test_errors_come_first_and_every_finding_is_counted():
    report = check(**prod(FRONTEND_ORIGINS="https://app.example.net", BCRYPT_COST="4", COOKIE_SECURE="false"))
    assert report.ids == ["E002", "W005", "W008"]
    assert report.summary == "System check identified 1 error and 2 warnings."
    assert report.status == 1


def test_invalid_setting_exits_2():
    result = subprocess.run([str(server_binary()), "check"], env={"PATH": "/usr/bin:/bin", "ALLOWED_HOSTS": "https://x"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "ALLOWED_HOSTS" in result.stderr


def test_start_up_logs_each_finding_once_and_starts(servers):
    server = servers.start(ALLOWED_HOSTS="127.0.0.1", FRONTEND_ORIGINS="https://app.example.net",
                           COOKIE_SECURE="true", CSRF_COOKIE_NAME="csrftoken")
    log = server.logs()
    e002 = [line for line in log.splitlines() if "E002" in line]
    w006 = [line for line in log.splitlines() if "W006" in line]
    w011 = [line for line in log.splitlines() if "W011" in line]
    assert len(e002) == 1 and " error " in e002[0] and "https://app.example.net" in e002[0], log
    assert len(w006) == 1 and " warning " in w006[0] and "csrftoken" in w006[0], log
    assert len(w011) == 1, log
    # The test servers run with BCRYPT_COST=4, which the check reports too.
    assert len([line for line in log.splitlines() if "W008" in line]) == 1, log
    assert server.process.poll() is None


def test_development_start_up_logs_no_findings(sqlite_server):
    assert "deploy check" not in sqlite_server.logs()
