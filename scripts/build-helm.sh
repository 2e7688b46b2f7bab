#!/usr/bin/env bash
# Builds Helm v4 from source (the Go module under tools/helm) into a cache folder outside the
# repository, and downloads the Prometheus Operator's CRDs (the real ones, from its Go module),
# for the chart tests under tests/chart/.
#
#   scripts/build-helm.sh           build/download what is missing or out of date
#   scripts/build-helm.sh --check   exit 0 if helm and the CRDs are up to date, 1 if not
#   scripts/build-helm.sh --print   print the helm binary path and the CRD folder, and exit
#
# Cache layout (${SHIRUBE_HELM_CACHE:-/var/cache/shirube-helm}):
#   gomodcache/  GOMODCACHE (module sources)
#   gocache/     GOCACHE (compiled packages)
#   bin/helm-<version>, bin/helm-<version>.stamp  the binary and the hash of its inputs
#   crds/prometheus-operator-<version>/  example/prometheus-operator-crd/ of that module
#
# The binary is rebuilt only when its stamp differs from the hash of tools/helm/go.mod and
# go.sum, the build flags and the Go version. The build runs under `nice -n 10`. Network: only
# the Go module proxy configured for the go command (GOPROXY); nothing is cloned.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/tools/helm"
CACHE="${SHIRUBE_HELM_CACHE:-/var/cache/shirube-helm}"
BIN="$CACHE/bin"
GO="${GO:-go}"
MIN_GO_MINOR=26 # tools/helm/go.mod says `go 1.26.0`
# The CRDs the ServiceMonitor and PrometheusRule templates are checked against.
PROMOP_MODULE=github.com/prometheus-operator/prometheus-operator
PROMOP_VERSION=v0.85.0

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --print) mode=print ;;
  -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-helm: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

HELM_VERSION="$(awk '{ sub(/^require[ \t]+/, "") } $1 == "helm.sh/helm/v4" && $2 ~ /^v/ { print $2; exit }' "$MOD/go.mod")"
if [ -z "$HELM_VERSION" ]; then
  echo "build-helm: cannot read the pinned helm.sh/helm/v4 version from tools/helm/go.mod" >&2
  exit 2
fi
HELM_BIN="$BIN/helm-$HELM_VERSION"
CRD_DIR="$CACHE/crds/prometheus-operator-$PROMOP_VERSION"

if [ "$mode" = print ]; then
  echo "$HELM_BIN"
  echo "$CRD_DIR"
  exit 0
fi

LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

go_version=""
if command -v "$GO" >/dev/null 2>&1; then
  go_version="$("$GO" env GOVERSION 2>/dev/null || true)"
fi

inputs_hash() {
  { cat "$MOD/go.mod" "$MOD/go.sum"; echo "ldflags=$LDFLAGS"; echo "go=$go_version"; } | sha256sum | cut -d' ' -f1
}
helm_up_to_date() { [ -x "$HELM_BIN" ] && [ -f "$HELM_BIN.stamp" ] && [ "$(cat "$HELM_BIN.stamp")" = "$(inputs_hash)" ]; }
crds_present() { [ -f "$CRD_DIR/.complete" ]; }

if [ -z "$go_version" ]; then
  if [ "$mode" = check ]; then
    if [ -x "$HELM_BIN" ] && crds_present; then exit 0; fi
    echo "build-helm: Go is not installed and $HELM_BIN or $CRD_DIR is missing" >&2
    exit 1
  fi
  echo "build-helm: Go not found ('$GO' is not on PATH). Install Go 1.$MIN_GO_MINOR or newer, or set GO=/path/to/go." >&2
  exit 3
fi
go_minor="$(echo "$go_version" | sed -E 's/^go1\.([0-9]+).*/\1/')"
if ! [ "$go_minor" -ge "$MIN_GO_MINOR" ] 2>/dev/null; then
  echo "build-helm: $go_version is too old: tools/helm/go.mod needs go1.$MIN_GO_MINOR or newer." >&2
  exit 3
fi

if [ "$mode" = check ]; then
  status=0
  helm_up_to_date || { echo "out of date: $HELM_BIN"; status=1; }
  crds_present || { echo "missing: $CRD_DIR"; status=1; }
  exit $status
fi

mkdir -p "$BIN" "$CACHE/gomodcache" "$CACHE/gocache" "$CACHE/crds"
export GOMODCACHE="$CACHE/gomodcache"
export GOCACHE="$CACHE/gocache"
# -mod=mod: the go command may fill in go.sum entries the build needs that `go get` did not
# list (it never changes a version); the build works on a copy of tools/helm, so the checkout
# is never written to.
export GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export CGO_ENABLED=0

exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  echo "build-helm: another build holds $CACHE/.build.lock; waiting for it..."
  flock 9
fi

work="$(mktemp -d "$CACHE/.work.XXXXXX")"
trap 'rm -rf "$work" "$HELM_BIN".tmp.*' EXIT
start=$(date +%s)

if helm_up_to_date; then
  echo "build-helm: helm up to date: $HELM_BIN"
else
  echo "build-helm: building helm $HELM_VERSION -> $HELM_BIN ($go_version, nice -n 10; a cold build takes minutes)"
  cp "$MOD/go.mod" "$MOD/go.sum" "$work/"
  hash="$(inputs_hash)"
  (cd "$work" && nice -n 10 "$GO" build -ldflags "$LDFLAGS" -o "$HELM_BIN.tmp.$$" helm.sh/helm/v4/cmd/helm)
  mv -f "$HELM_BIN.tmp.$$" "$HELM_BIN"
  echo "$hash" > "$HELM_BIN.stamp"
  echo "build-helm: built helm in $(( $(date +%s) - start ))s ($(du -h "$HELM_BIN" | cut -f1))"
fi

if crds_present; then
  echo "build-helm: Prometheus Operator CRDs present: $CRD_DIR"
else
  echo "build-helm: downloading $PROMOP_MODULE@$PROMOP_VERSION for its CRDs"
  dir="$(cd "$work" && "$GO" mod download -json "$PROMOP_MODULE@$PROMOP_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  src="$dir/example/prometheus-operator-crd"
  if [ ! -d "$src" ]; then
    echo "build-helm: $src not found in the module" >&2
    exit 1
  fi
  rm -rf "$CRD_DIR" "$CRD_DIR.tmp"
  cp -r "$src" "$CRD_DIR.tmp"
  chmod -R u+w "$CRD_DIR.tmp"
  touch "$CRD_DIR.tmp/.complete"
  mv "$CRD_DIR.tmp" "$CRD_DIR"
  echo "build-helm: CRDs in $CRD_DIR ($(ls "$CRD_DIR" | wc -l) files)"
fi
echo "build-helm: done in $(( $(date +%s) - start ))s; cache $CACHE ($(du -sh "$CACHE" 2>/dev/null | cut -f1))"
