#!/usr/bin/env bash
# Make local stand-ins for the official base images where no registry can be reached:
#   localhost/skypewatch-debian:bookworm     debootstrap --variant=minbase bookworm, imported
#   localhost/skypewatch-python:3.11-bookworm  Debian's Python, for docker/correlator.Dockerfile
#   localhost/skypewatch-zeek-base:VERSION   this machine's Zeek (zeek-config --prefix) + zkg,
#                                            for docker/zeek.Dockerfile
# Images already present are kept (FORCE=1 makes them anew).  Needs root for debootstrap.
# Debian packages come from the host's apt mirror, Python packages from the host's pip index.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=docker/lib.sh
. "$here/../lib.sh"
trap sw_cleanup_tmp EXIT

sw_engine || { echo "make-bases: no container engine (docker or podman) here" >&2; exit 2; }
sw_pip_secrets
command -v zeek-config >/dev/null 2>&1 || { echo "make-bases: no zeek-config on PATH: install Zeek first" >&2; exit 2; }
prefix=$(zeek-config --prefix)
version=$(zeek-config --version)
DEBIAN_IMAGE=localhost/skypewatch-debian:bookworm
PYTHON_IMAGE=localhost/skypewatch-python:3.11-bookworm
ZEEK_BASE=localhost/skypewatch-zeek-base:$version

have() { [ "${FORCE:-0}" != 1 ] && "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# The Debian archive the host's apt uses (deb822 or one-line sources), else Debian's own.
mirror() {
    local m
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '/debian\/?$/ {print $2; exit}')
    [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        | awk '$3 == "bookworm" {print $2; exit}')
    echo "${m:-http://deb.debian.org/debian}"
}

if ! have "$DEBIAN_IMAGE"; then
    [ "$(id -u)" = 0 ] || { echo "make-bases: debootstrap needs root" >&2; exit 2; }
    if ! command -v debootstrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        echo "make-bases: installing debootstrap (apt-get)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >/dev/null 2>&1 || true
    fi
    command -v debootstrap >/dev/null 2>&1 || { echo "make-bases: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
    rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/skypewatch-rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"; sw_cleanup_tmp' EXIT
    echo "make-bases: debootstrap --variant=minbase bookworm" >&2
    debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)" >"$rootfs.log" 2>&1 \
        || { tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
    rm -f "$rootfs.log"
    # As Debian's slim images: no package cache, lists, manuals or translations.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
        "$rootfs"/usr/share/info/*
    printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-exclude /usr/share/info/*\n' \
        >"$rootfs/etc/dpkg/dpkg.cfg.d/01-slim"
    printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/01-no-recommends"
    # No package cache left in any layer (as docker-clean in Debian's official images).
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$rootfs/etc/apt/apt.conf.d/01-clean"
    tar -C "$rootfs" -c . | "$ENGINE" import - "$DEBIAN_IMAGE" >/dev/null
    rm -rf "$rootfs"
    echo "make-bases: $DEBIAN_IMAGE imported" >&2
fi

if ! have "$PYTHON_IMAGE"; then
    sw_build "$here/python.Dockerfile" "$PYTHON_IMAGE" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" "$here"
fi

if ! have "$ZEEK_BASE"; then
    ctx=$(mktemp -d "${TMPDIR:-/var/tmp}/skypewatch-zeek.XXXXXX")
    trap 'rm -rf "$ctx"; sw_cleanup_tmp' EXIT
    # Zeek's logs and spool are run-time state of the host, not part of the installation.
    tar -C "$prefix" --exclude=./logs --exclude=./spool -cf "$ctx/zeek.tar" .
    cp "$here/zeek.Dockerfile" "$ctx/Dockerfile"
    sw_build "$ctx/Dockerfile" "$ZEEK_BASE" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
        --build-arg "ZEEK_PREFIX=$prefix" "$ctx"
    rm -rf "$ctx"
fi
echo "make-bases: $DEBIAN_IMAGE, $PYTHON_IMAGE, $ZEEK_BASE ready ($ENGINE)" >&2
