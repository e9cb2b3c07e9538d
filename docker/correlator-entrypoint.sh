#!/bin/sh
# Run the skypewatch correlator against Zeek's WebSocket API; its notice.log goes to
# /logs/correlator (made for this user by the Zeek container, which starts first).
#   ZEEK_URL   default ws://zeek:27759
#   LOG_DIR    default /logs/correlator
set -eu
dir="${LOG_DIR:-/logs/correlator}"
waited=0
until [ -d "$dir" ] && [ -w "$dir" ]; do
    if [ "$waited" -ge 60 ]; then
        echo "correlator-entrypoint: $dir is not writable by uid $(id -u) after 60 s (make it: mkdir -p docker/logs/correlator && chmod a+w docker/logs/correlator)" >&2
        exit 2
    fi
    sleep 1
    waited=$((waited + 1))
done
exec skypewatch correlate --zeek "${ZEEK_URL:-ws://zeek:27759}" -o "$dir" "$@"
