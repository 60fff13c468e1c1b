#!/bin/sh
# Production build: frontend/dist/ with minified, content-hashed assets.
#
#   dist/index.html         (unhashed: the entry point, must not be cached long)
#   dist/config.js          (unhashed: replaced per deployment)
#   dist/assets/main-HASH.js, dist/assets/main-HASH.css  (cache forever)
set -eu

FRONTEND_DIR=$(cd "$(dirname "$0")/.." && pwd)
. "$FRONTEND_DIR/scripts/esbuild-flags.sh"
cd "$FRONTEND_DIR"

OUT=dist
rm -rf "$OUT"
mkdir -p "$OUT/assets"

# shellcheck disable=SC2086 # word splitting of the flag list is intended
"$ESBUILD" src/main.jsx $ESBUILD_COMMON_FLAGS \
  --minify \
  --define:process.env.NODE_ENV=\"production\" \
  --entry-names='[name]-[hash]' \
  --outdir="$OUT/assets"

js=$(cd "$OUT" && ls assets/main-*.js)
css=$(cd "$OUT" && ls assets/main-*.css)
sed -e "s|assets/main\.js|$js|" -e "s|assets/main\.css|$css|" public/index.html > "$OUT/index.html"
cp public/config.js "$OUT/config.js"

# Fail loudly rather than ship a page that points at files that do not exist.
grep -q "$js" "$OUT/index.html" && grep -q "$css" "$OUT/index.html"

for f in "$OUT/$js" "$OUT/$css"; do
  bytes=$(wc -c < "$f")
  gzipped=$(gzip -9c "$f" | wc -c)
  echo "  $f  $bytes bytes ($gzipped gzipped)"
done
echo "built $OUT/"
