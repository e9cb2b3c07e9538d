#!/usr/bin/env bash
# Build skypewatch-zeek:$ZEEK_VERSION and skypewatch-correlator:latest with the engine that is
# here (docker where a daemon answers, else podman), passing the host's pip configuration as
# build secrets.  Base images: ZEEK_IMAGE / PYTHON_IMAGE if set; else the official zeek/zeek
# and python slim images where present or pullable; else local stand-ins made by
# docker/local/make-bases.sh from this machine's Zeek.  Then run the stack without --build:
#
#   bash docker/build.sh && podman-compose -f docker/compose.yml up     (or docker compose)
#
#   --env-file FILE   also write the chosen ZEEK_IMAGE, ZEEK_VERSION, PYTHON_IMAGE there
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=docker/lib.sh
. docker/lib.sh
env_file=""
if [ "${1:-}" = --env-file ] && [ -n "${2:-}" ]; then env_file=$2
elif [ $# -gt 0 ]; then echo "usage: $0 [--env-file FILE]" >&2; exit 2; fi

say() { printf 'build: %s\n' "$*" >&2; }
fail() { printf 'build: FAILED: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }
sw_engine || fail "no container engine here (no docker daemon, no podman)"
work=$(mktemp -d)
SW_TMPFILES+=("$work")
trap 'rm -rf "$work"; sw_cleanup_tmp' EXIT

# The official image when it is here or can be pulled in a minute; else the local stand-in.
pullable() {
    "$ENGINE" image inspect "$1" >/dev/null 2>&1 \
        || timeout 60 "$ENGINE" pull -q "$1" >/dev/null 2>&1
}
start=$(date +%s)
if [ -z "${ZEEK_IMAGE:-}" ] || [ -z "${PYTHON_IMAGE:-}" ]; then
    if [ -z "${ZEEK_IMAGE:-}" ] && pullable "docker.io/zeek/zeek:${ZEEK_VERSION:-8.0.10}" \
        && [ -z "${PYTHON_IMAGE:-}" ] && pullable docker.io/library/python:3.11.11-slim-bookworm; then
        ZEEK_IMAGE=zeek/zeek PYTHON_IMAGE=python:3.11.11-slim-bookworm
    else
        say "official base images not reachable: making local stand-ins (docker/local/make-bases.sh)"
        bash docker/local/make-bases.sh >"$work/bases.log" 2>&1 \
            || { tail -25 "$work/bases.log" >&2; fail "docker/local/make-bases.sh"; }
        ZEEK_VERSION=$(zeek-config --version)
        ZEEK_IMAGE=${ZEEK_IMAGE:-localhost/skypewatch-zeek-base}
        PYTHON_IMAGE=${PYTHON_IMAGE:-localhost/skypewatch-python:3.11-bookworm}
    fi
fi
ZEEK_VERSION=${ZEEK_VERSION:-8.0.10}
say "engine $ENGINE; bases $ZEEK_IMAGE:$ZEEK_VERSION and $PYTHON_IMAGE ($(elapsed "$start"))"

sw_pip_secrets
start=$(date +%s)
sw_build docker/zeek.Dockerfile "skypewatch-zeek:$ZEEK_VERSION" \
    --build-arg "ZEEK_IMAGE=$ZEEK_IMAGE" --build-arg "ZEEK_VERSION=$ZEEK_VERSION" . \
    >"$work/build.log" 2>&1 || { tail -25 "$work/build.log" >&2; fail "building the Zeek image"; }
say "built skypewatch-zeek:$ZEEK_VERSION ($(elapsed "$start"))"
start=$(date +%s)
sw_build docker/correlator.Dockerfile skypewatch-correlator:latest \
    --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" . \
    >"$work/build.log" 2>&1 || { tail -25 "$work/build.log" >&2; fail "building the correlator image"; }
say "built skypewatch-correlator:latest ($(elapsed "$start"))"
for image in "skypewatch-zeek:$ZEEK_VERSION" skypewatch-correlator:latest; do
    say "image $image: $("$ENGINE" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
if [ -n "$env_file" ]; then
    printf 'ZEEK_IMAGE=%s\nZEEK_VERSION=%s\nPYTHON_IMAGE=%s\n' "$ZEEK_IMAGE" "$ZEEK_VERSION" "$PYTHON_IMAGE" >"$env_file"
fi
[ "$ZEEK_VERSION" = 8.0.10 ] || say "the compose file needs ZEEK_VERSION=$ZEEK_VERSION to find this Zeek image"
