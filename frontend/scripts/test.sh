#!/bin/sh
# Unit tests (API client, plain ESM) and component tests (JSX compiled by
# esbuild) in one `node --test` run, so there is one summary for everything.
#
# Component tests are compiled to CommonJS with every package left external:
# React then loads from node_modules or /usr/share/nodejs through NODE_PATH.
# Bundling React into the tests instead made node --test hang (act() keeps a
# MessageChannel open).
set -eu

FRONTEND_DIR=$(cd "$(dirname "$0")/.." && pwd)
. "$FRONTEND_DIR/scripts/esbuild-flags.sh"
cd "$FRONTEND_DIR"

OUT=.build/component-tests
rm -rf "$OUT"
mkdir -p "$OUT"

# shellcheck disable=SC2086
"$ESBUILD" tests/components/*.test.jsx \
  --bundle --jsx=automatic --platform=node --format=cjs --packages=external \
  --log-level=warning --outdir="$OUT" --out-extension:.js=.cjs

export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
exec node --test --test-reporter=spec --test-timeout=10000 tests/unit/*.test.mjs "$OUT"/*.test.cjs
