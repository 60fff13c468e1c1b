# Shared esbuild flags for build.sh and serve.sh (sourced, not executed).
#
# React comes from node_modules after `npm install`, and otherwise from
# Debian's packages in /usr/share/nodejs. An --alias would override
# node_modules, so it is added only when node_modules/react is absent; and
# aliases rather than NODE_PATH because esbuild's --serve mode ignores NODE_PATH.

ESBUILD_COMMON_FLAGS="--bundle --jsx=automatic --target=es2020,chrome90,firefox90,safari14 --log-level=warning"

if [ ! -d "$FRONTEND_DIR/node_modules/react" ]; then
  SYSTEM_MODULES="${SYSTEM_NODE_MODULES:-/usr/share/nodejs}"
  for pkg in react react-dom scheduler; do
    if [ ! -d "$SYSTEM_MODULES/$pkg" ]; then
      echo "error: $pkg is neither in node_modules nor in $SYSTEM_MODULES;" \
        "run 'npm install' or 'apt-get install node-react node-react-dom'" >&2
      exit 1
    fi
    ESBUILD_COMMON_FLAGS="$ESBUILD_COMMON_FLAGS --alias:$pkg=$SYSTEM_MODULES/$pkg"
  done
fi

if [ -x "$FRONTEND_DIR/node_modules/.bin/esbuild" ]; then
  ESBUILD="$FRONTEND_DIR/node_modules/.bin/esbuild"
else
  ESBUILD="${ESBUILD:-esbuild}"
fi
