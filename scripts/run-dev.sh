#!/usr/bin/env bash
# Starts the API (:8000) and the web app (:3000) together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

mkdir -p data
backend/.build/debug/todolist-server serve &
pids+=($!)
if [ -f frontend/Makefile ]; then
  make --no-print-directory -C frontend serve &
  pids+=($!)
fi
echo "API: http://localhost:${PORT:-8000}   web app: http://localhost:3000   (Ctrl-C stops both)"
wait -n "${pids[@]}"
