#!/bin/sh
# ESLint with the react-hooks plugin. Uses node_modules' eslint after
# `npm install`, otherwise Debian's (which needs NODE_PATH to find its own
# dependencies and the plugin, as this Node is not Debian's).
set -eu

FRONTEND_DIR=$(cd "$(dirname "$0")/.." && pwd)
cd "$FRONTEND_DIR"

if [ -x node_modules/.bin/eslint ]; then
  ESLINT=node_modules/.bin/eslint
else
  ESLINT="${ESLINT:-eslint}"
  export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
fi

exec "$ESLINT" --max-warnings=0 --rulesdir eslint-rules --ext .js,.jsx,.mjs,.cjs \
  src tests scripts eslint-rules
