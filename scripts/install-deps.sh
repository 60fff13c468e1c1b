#!/usr/bin/env bash
# Installs what this machine is missing to run (`run`) or also test (`test`) todolist.
# Debian packages and PyPI only; each step is skipped when already satisfied.
set -euo pipefail

mode="${1:-run}"
apt_packages=(esbuild node-react node-react-dom libsqlite3-dev)
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  apt_packages+=(node-react-test-renderer eslint node-eslint-plugin-react-hooks postgresql-15 postgresql-client-15
                 chromium chromium-driver nginx openssl)
fi
if [ "$mode" = "bench" ]; then
  apt_packages+=(wrk)
fi

missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  python3 - <<'PY' || python3 -m pip install -q -r "$(dirname "$0")/../requirements-test.txt"
import importlib, sys
for module in ("pytest", "requests", "playwright"):
    importlib.import_module(module)
PY
fi

command -v swift >/dev/null || { echo "Swift 6 is required (https://swift.org/install)"; exit 1; }
