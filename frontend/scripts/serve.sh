#!/bin/sh
# Development server with live reload: http://127.0.0.1:3000 (PORT, HOST override).
#
# esbuild serves public/ and the bundle from memory, rebuilds on every edit,
# and announces each rebuild on its /esbuild event stream; the banner below
# (development only) reloads the page when that happens.
set -eu

FRONTEND_DIR=$(cd "$(dirname "$0")/.." && pwd)
. "$FRONTEND_DIR/scripts/esbuild-flags.sh"
cd "$FRONTEND_DIR"

PORT="${PORT:-3000}"
HOST="${HOST:-127.0.0.1}"
LIVE_RELOAD="new EventSource('/esbuild').addEventListener('change', () => location.reload());"

echo "Todolist frontend: http://$HOST:$PORT/ (live reload on; Ctrl-C stops)"
# --watch=forever: plain --watch stops at once when stdin is not a terminal (make, CI, &).
# The bundle is written to public/assets only in memory: --serve keeps it off disk.
# shellcheck disable=SC2086
exec "$ESBUILD" src/main.jsx $ESBUILD_COMMON_FLAGS \
  --sourcemap \
  --banner:js="$LIVE_RELOAD" \
  --outdir=public/assets \
  --servedir=public \
  --serve="$HOST:$PORT" \
  --watch=forever
