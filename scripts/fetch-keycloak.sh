#!/usr/bin/env bash
# Fetches the Keycloak distribution the sign-in tests run against (tests/sso/), once,
# into a cache folder outside the repository.
#
#   scripts/fetch-keycloak.sh           fetch what is missing
#   scripts/fetch-keycloak.sh --check   exit 0 if the distribution is in the cache, 1 if not
#   scripts/fetch-keycloak.sh --print   print the distribution's folder and exit
#
# Cache layout (${SHIRUBE_KEYCLOAK_CACHE:-/var/cache/shirube-keycloak}):
#   m2/                      Maven's local repository (the zip and Maven's own plugins)
#   keycloak-<version>/      the unpacked distribution, built once for start-dev (the tests copy it)
#
# The artifact is org.keycloak:keycloak-quarkus-dist:<version>:zip, fetched with Maven from
# the repository Maven is configured with (nothing else is downloaded). About 160 MB cold;
# under a second once cached. Keycloak needs Java 17 or newer; the tests start it.
set -euo pipefail

VERSION=26.4.0
ARTIFACT="org.keycloak:keycloak-quarkus-dist:$VERSION:zip"
CACHE="${SHIRUBE_KEYCLOAK_CACHE:-/var/cache/shirube-keycloak}"
DIST="$CACHE/keycloak-$VERSION"

mode=fetch
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --print) mode=print ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "fetch-keycloak: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

if [ "$mode" = print ]; then
  echo "$DIST"
  exit 0
fi
if [ -x "$DIST/bin/kc.sh" ]; then
  [ "$mode" = check ] || echo "fetch-keycloak: Keycloak $VERSION cached: $DIST"
  exit 0
fi
if [ "$mode" = check ]; then
  echo "fetch-keycloak: Keycloak $VERSION is not in $CACHE" >&2
  exit 1
fi
for tool in mvn unzip java; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-keycloak: '$tool' not found; Keycloak $VERSION cannot be fetched or run." >&2
    exit 3
  fi
done

mkdir -p "$CACHE"
# One fetch at a time per cache folder (CI and a developer may start it together).
exec 9>"$CACHE/.fetch.lock"
if ! flock -n 9; then
  echo "fetch-keycloak: another fetch holds $CACHE/.fetch.lock; waiting for it..."
  flock 9
fi
if [ -x "$DIST/bin/kc.sh" ]; then
  exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$CACHE/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-keycloak: fetching $ARTIFACT with Maven (about 160 MB, once)"
mvn --batch-mode --quiet -Dmaven.repo.local="$CACHE/m2" \
  dependency:copy -Dartifact="$ARTIFACT" -DoutputDirectory="$tmp" -Dmdep.useBaseVersion=true
unzip -q "$tmp/keycloak-quarkus-dist-$VERSION.zip" -d "$tmp/unpacked"
test -x "$tmp/unpacked/keycloak-$VERSION/bin/kc.sh"
# start-dev first builds ("augments") the server for development, about a minute, and skips
# that when the build is already there: do it once here, so that every test session's copy
# starts in seconds. The server is stopped as soon as the build is done; data/ is dropped.
echo "fetch-keycloak: building it for start-dev, once"
log="$tmp/prime.log"
(cd "$tmp/unpacked/keycloak-$VERSION" &&
  exec bin/kc.sh start-dev --http-host 127.0.0.1 --http-port 0 --http-management-port 0 >"$log" 2>&1) &
pid=$!
for _ in $(seq 600); do
  grep -q "Running the server in development mode" "$log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if ! grep -q "Running the server in development mode" "$log"; then
  echo "fetch-keycloak: Keycloak did not build for start-dev:" >&2
  tail -20 "$log" >&2
  exit 1
fi
rm -rf "$tmp/unpacked/keycloak-$VERSION/data"
mv "$tmp/unpacked/keycloak-$VERSION" "$DIST"
echo "fetch-keycloak: Keycloak $VERSION in $DIST, in $(( $(date +%s) - start ))s ($(du -sh "$DIST" | cut -f1))"
