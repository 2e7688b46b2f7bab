#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from source (Go modules under tools/) into a
# cache folder outside the repository, for the tests under tests/realkube/.
#
#   scripts/build-kube-servers.sh           build what is missing or out of date
#   scripts/build-kube-servers.sh --check   exit 0 if both binaries are up to date, 1 if not
#   scripts/build-kube-servers.sh --print   print the two binary paths and exit
#
# Cache layout (${SHIRUBE_KUBE_CACHE:-/var/cache/shirube-kube}):
#   gomodcache/  GOMODCACHE (module sources; several hundred MB)
#   gocache/     GOCACHE (compiled packages; makes a rebuild after a pin change faster)
#   bin/kube-apiserver-<version>, bin/etcd-<version>  the binaries
#   bin/<name>-<version>.stamp  hash of the inputs the binary was built from
#
# A binary is rebuilt only when its stamp differs from the hash of tools/<name>/go.mod,
# go.sum and *.go, the build flags and the Go version. Go builds run under `nice -n 10`
# so that other work on the machine keeps priority. Network: only the Go module proxy
# configured for the go command (GOPROXY); nothing is cloned.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools"
CACHE="${SHIRUBE_KUBE_CACHE:-/var/cache/shirube-kube}"
BIN="$CACHE/bin"
GO="${GO:-go}"
MIN_GO_MINOR=26 # tools/*/go.mod say `go 1.26.0`

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --print) mode=print ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-kube-servers: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

# The pinned versions, read from the modules' go.mod files.
modversion() { awk -v m="$2" '{ sub(/^require[ \t]+/, "") } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1"; }
KUBE_VERSION="$(modversion "$TOOLS/kube-apiserver/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modversion "$TOOLS/etcd/go.mod" go.etcd.io/etcd/server/v3)"
if [ -z "$KUBE_VERSION" ] || [ -z "$ETCD_VERSION" ]; then
  echo "build-kube-servers: cannot read the pinned versions from tools/*/go.mod" >&2
  exit 2
fi
KUBE_MINOR="$(echo "$KUBE_VERSION" | cut -d. -f2)"
KUBE_BIN="$BIN/kube-apiserver-$KUBE_VERSION"
ETCD_BIN="$BIN/etcd-$ETCD_VERSION"

if [ "$mode" = print ]; then
  echo "$KUBE_BIN"
  echo "$ETCD_BIN"
  exit 0
fi

KUBE_LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$KUBE_MINOR -X k8s.io/component-base/version.gitTreeState=clean"
ETCD_LDFLAGS="-s -w"

go_version=""
if command -v "$GO" >/dev/null 2>&1; then
  go_version="$("$GO" env GOVERSION 2>/dev/null || true)"
fi

# inputs_hash <module dir> <ldflags>: what a binary depends on.
inputs_hash() {
  {
    cat "$1/go.mod" "$1/go.sum"
    find "$1" -maxdepth 1 -name '*.go' -print0 | sort -z | xargs -0r cat
    echo "ldflags=$2"
    echo "go=$go_version"
  } | sha256sum | cut -d' ' -f1
}

# up_to_date <binary> <module dir> <ldflags>
up_to_date() {
  [ -x "$1" ] && [ -f "$1.stamp" ] && [ "$(cat "$1.stamp")" = "$(inputs_hash "$2" "$3")" ]
}

if [ -z "$go_version" ]; then
  if [ "$mode" = check ]; then
    # Without Go the stamps cannot be recomputed; report whether the binaries exist.
    if [ -x "$KUBE_BIN" ] && [ -x "$ETCD_BIN" ]; then exit 0; fi
    echo "build-kube-servers: Go is not installed and $KUBE_BIN / $ETCD_BIN are missing" >&2
    exit 1
  fi
  echo "build-kube-servers: Go not found ('$GO' is not on PATH)." >&2
  echo "  Install Go 1.$MIN_GO_MINOR or newer, or set GO=/path/to/go," >&2
  echo "  then run scripts/build-kube-servers.sh again." >&2
  exit 3
fi
go_minor="$(echo "$go_version" | sed -E 's/^go1\.([0-9]+).*/\1/')"
if ! [ "$go_minor" -ge "$MIN_GO_MINOR" ] 2>/dev/null; then
  echo "build-kube-servers: $go_version is too old: tools/*/go.mod need go1.$MIN_GO_MINOR or newer." >&2
  echo "  Install a newer Go, or export GOTOOLCHAIN=go1.$MIN_GO_MINOR.0 to let the go command fetch one" >&2
  echo "  through the module proxy." >&2
  exit 3
fi

if [ "$mode" = check ]; then
  status=0
  up_to_date "$KUBE_BIN" "$TOOLS/kube-apiserver" "$KUBE_LDFLAGS" || { echo "out of date: $KUBE_BIN"; status=1; }
  up_to_date "$ETCD_BIN" "$TOOLS/etcd" "$ETCD_LDFLAGS" || { echo "out of date: $ETCD_BIN"; status=1; }
  exit $status
fi

mkdir -p "$BIN" "$CACHE/gomodcache" "$CACHE/gocache"
export GOMODCACHE="$CACHE/gomodcache"
export GOCACHE="$CACHE/gocache"
# Reproducible, VCS-independent builds; never edit the go.mod/go.sum under tools/.
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
export CGO_ENABLED=0

# One build at a time per cache folder (CI and a developer may start it together).
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  echo "build-kube-servers: another build holds $CACHE/.build.lock; waiting for it..."
  flock 9
fi

# build <name> <binary> <module dir> <package> <ldflags>
build() {
  local name="$1" out="$2" dir="$3" pkg="$4" ldflags="$5"
  local hash start elapsed
  hash="$(inputs_hash "$dir" "$ldflags")"
  if up_to_date "$out" "$dir" "$ldflags"; then
    echo "build-kube-servers: $name up to date: $out"
    return 0
  fi
  echo "build-kube-servers: building $name -> $out ($go_version, nice -n 10; a cold build takes many minutes)"
  start=$(date +%s)
  (cd "$dir" && nice -n 10 "$GO" build -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg")
  mv -f "$out.tmp.$$" "$out"
  echo "$hash" > "$out.stamp"
  elapsed=$(( $(date +%s) - start ))
  echo "build-kube-servers: built $name in ${elapsed}s ($(du -h "$out" | cut -f1))"
}

total_start=$(date +%s)
trap 'rm -f "$KUBE_BIN".tmp.* "$ETCD_BIN".tmp.*' EXIT
build etcd "$ETCD_BIN" "$TOOLS/etcd" . "$ETCD_LDFLAGS"
build kube-apiserver "$KUBE_BIN" "$TOOLS/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_LDFLAGS"
echo "build-kube-servers: done in $(( $(date +%s) - total_start ))s; cache $CACHE ($(du -sh "$CACHE" 2>/dev/null | cut -f1))"
