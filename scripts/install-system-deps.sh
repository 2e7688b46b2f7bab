#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (PostgreSQL, Redis, Chromium, git),
# only those that are missing. Runs as root on the project's Debian machines;
# elsewhere it says what is missing and leaves it to you.
#   scripts/install-system-deps.sh                    everything `make test` needs
#   scripts/install-system-deps.sh redis-server git   only these (what `make run` needs)
set -euo pipefail

installed() {
  case "$1" in
    postgresql) ls /usr/lib/postgresql/*/bin/initdb ;;
    fonts-dejavu-core) fc-list 2>/dev/null | grep -qi dejavu ;;
    *) command -v "$1" ;;
  esac >/dev/null 2>&1
}

wanted=("$@")
# git: the GitOps writer's tests use real repositories.
# unzip: scripts/fetch-keycloak.sh unpacks Keycloak.
[ ${#wanted[@]} -gt 0 ] || wanted=(postgresql redis-server chromium git unzip fonts-dejavu-core)
need=()
for package in "${wanted[@]}"; do
  installed "$package" || need+=("$package")
done

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (install them with your package manager: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the services it installs; the tests run their own servers.
for svc in postgresql redis-server; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
