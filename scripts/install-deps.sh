#!/usr/bin/env bash
# Installs what this machine is missing to run (`run`), test (`test`) or benchmark (`bench`)
# todolist, and proves that each tool *runs*. Debian packages and PyPI only.
#
# Each tool is a check (a command that uses the tool the way the project does) and the Debian
# packages it needs. A failing check installs its packages and runs again; a check that still
# fails stops the script with the tool's own output. Whether dpkg calls a package "installed" is
# not the test: Debian's eslint only *recommends* chalk, strip-ansi and text-table, which its
# default formatter loads, so with --no-install-recommends it is installed and cannot report.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
mode="${1:-run}"
case "$mode" in run|test|bench) ;; *) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;; esac

# Debian's node modules live here; this Node (NodeSource's) does not look there by itself.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# ---- checks: each runs the tool; output goes to $scratch/out for the error message ----

check_esbuild() { esbuild --version; }
check_react() {
  node -e "require('react'); require('react-dom/client'); require('react-dom/server'); require('scheduler')"
}
check_sqlite_dev() {  # the backend links the system SQLite
  printf '#include <sqlite3.h>\nint main(void) { return sqlite3_libversion_number() > 3035000 ? 0 : 1; }\n' \
    > "$scratch/sqlite.c"
  cc "$scratch/sqlite.c" -lsqlite3 -o "$scratch/sqlite" && "$scratch/sqlite"
}
check_publicsuffix() {  # the deploy check (todolist-server check) tells sites apart with it
  grep -qx 'co\.uk' /usr/share/publicsuffix/public_suffix_list.dat \
    && grep -qx 'github\.io' /usr/share/publicsuffix/public_suffix_list.dat
}
check_react_test_renderer() { node -e "require('react-test-renderer'); require('react-dom/test-utils')"; }
check_eslint() {
  # A file with one error, through the default (stylish) formatter with colours, and the hooks
  # plugin loaded: a lint that passes would not load the formatter's colour and table modules.
  eslint --version
  printf 'function useThing() { return 1 }\nexport default useThing\n' > "$scratch/lint-me.js"
  local status=0
  (cd "$scratch" && eslint --no-eslintrc --parser-options=ecmaVersion:2020,sourceType:module \
    --plugin react-hooks --rule 'semi: error' --rule 'react-hooks/rules-of-hooks: error' --color lint-me.js) \
    > "$scratch/lint-out" 2>&1 || status=$?
  cat "$scratch/lint-out"
  [ "$status" -eq 1 ] && grep -q 'Missing semicolon' "$scratch/lint-out" && grep -q '2 problems' "$scratch/lint-out"
}
check_postgres() {
  "$PG_BIN/initdb" --version && "$PG_BIN/pg_ctl" --version && "$PG_BIN/postgres" --version && psql --version
}
# Output is captured before it is searched: under `pipefail`, `tool | grep -q` fails when the
# tool exits non-zero (`wrk --version` exits 1) or when grep's early exit breaks the pipe.
check_chromium() {
  local dom
  dom=$(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --dump-dom 'data:text/html,<p id=x>rendered</p>' 2>/dev/null) || true
  grep -q 'rendered' <<<"$dom" && chromedriver --version
}
check_nginx() { nginx -v 2>&1 && openssl version; }
check_pgbench() { "$PG_BIN/pgbench" --version; }  # the PostgreSQL reference in make bench
check_wrk() {  # `wrk --version` prints its version and exits 1
  local version
  version=$(wrk --version 2>&1) || true
  echo "$version"
  grep -q '^wrk ' <<<"$version"
}

# tool name, check function, Debian packages
tools=(
  "esbuild|check_esbuild|esbuild"
  "react|check_react|node-react node-react-dom node-scheduler"
  "sqlite|check_sqlite_dev|libsqlite3-dev gcc libc6-dev"
  "publicsuffix|check_publicsuffix|publicsuffix"
)
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  tools+=(
    "react-test-renderer|check_react_test_renderer|node-react-test-renderer node-react-dom"
    "eslint|check_eslint|eslint node-eslint-plugin-react-hooks node-chalk node-strip-ansi node-text-table node-js-yaml"
    "postgresql|check_postgres|postgresql-15 postgresql-client-15"
    "chromium|check_chromium|chromium chromium-driver"
    "nginx|check_nginx|nginx openssl"
  )
fi
if [ "$mode" = "bench" ]; then
  tools+=("wrk|check_wrk|wrk" "pgbench|check_pgbench|postgresql-15")
fi

sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then $sudo apt-get update -qq; apt_updated=yes; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for entry in "${tools[@]}"; do
  IFS='|' read -r name check packages <<<"$entry"
  if "$check" > "$scratch/out" 2>&1; then continue; fi
  echo "install-deps: $name does not run; installing Debian packages: $packages"
  # shellcheck disable=SC2086 # the package list is split on purpose
  apt_install $packages
  if ! "$check" > "$scratch/out" 2>&1; then
    echo "install-deps: $name still does not run after installing $packages:" >&2
    cat "$scratch/out" >&2
    exit 1
  fi
done

# ---- Python test packages (PyPI): each requirement satisfied, imported, and used once ----
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  check_python() {
    python3 - "$ROOT/requirements-test.txt" <<'PY'
import importlib, importlib.metadata as metadata, sys
try:
    from packaging.requirements import Requirement
except ImportError:  # a bare interpreter: pip carries its own copy
    from pip._vendor.packaging.requirements import Requirement

for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    requirement = Requirement(line)
    installed = metadata.version(requirement.name)  # PackageNotFoundError when missing
    if installed not in requirement.specifier:
        sys.exit(f"{requirement.name} {installed} does not satisfy {requirement}")
for module in ("pytest", "requests", "playwright.sync_api", "schemathesis", "hypothesis",
               "axe_playwright_python.sync_playwright"):
    importlib.import_module(module)

# axe-core, bundled by axe-playwright-python, runs in Debian's Chromium and finds a known fault.
import os
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
    page = browser.new_page()
    page.set_content('<html lang="en"><title>t</title><main><img src="data:,"></main></html>')
    found = {v["id"] for v in Axe().run(page).response["violations"]}
    browser.close()
assert "image-alt" in found, f"axe-core did not run: {found}"

import schemathesis  # its API loads a document and generates a case
schema = schemathesis.openapi.from_dict({
    "openapi": "3.0.3", "info": {"title": "check", "version": "1"},
    "paths": {"/x/": {"get": {"responses": {"200": {"description": "ok"}}}}}})
assert [operation.ok().method for operation in schema.get_all_operations()] == ["get"]
PY
    python3 -m schemathesis.cli --version
  }
  if ! check_python > "$scratch/out" 2>&1; then
    echo "install-deps: Python test packages missing or outdated; installing requirements-test.txt"
    python3 -m pip install -q --root-user-action=ignore -r "$ROOT/requirements-test.txt"
    if ! check_python > "$scratch/out" 2>&1; then
      echo "install-deps: Python test packages still do not work:" >&2
      cat "$scratch/out" >&2
      exit 1
    fi
  fi
fi

command -v swift >/dev/null && swift --version >/dev/null 2>&1 || { echo "Swift 6 is required (https://swift.org/install)" >&2; exit 1; }
echo "install-deps ($mode): every tool runs"
