#!/bin/sh
# Run Zeek with skypewatch and its WebSocket listener, on a capture or a live interface.
#   ZEEK_PCAP=name.pcap     read /pcaps/name.pcap (waits for a WebSocket client first
#                           unless ZEEK_WAIT_FOR_CLIENT=0)
#   ZEEK_INTERFACE=eth0     sniff an interface instead
#   WEBSOCKET_ADDRESS, WEBSOCKET_PORT  where the listener binds (default 0.0.0.0:27759,
#                           reachable only on the compose network: no port is published)
#   CORRELATOR_UID          owner given to /logs/correlator, where the correlator (an
#                           unprivileged user, default uid 10001) writes its notice.log
set -eu

# The correlator cannot create its folder in a mounted /logs owned by root: make it here.
if [ "$(id -u)" = 0 ]; then
    mkdir -p correlator && chown "${CORRELATOR_UID:-10001}" correlator
fi

address="${WEBSOCKET_ADDRESS:-0.0.0.0}"
port="${WEBSOCKET_PORT:-27759}"
export ZEEK_WEBSOCKET_LISTEN_ADDRESS="$address"
export ZEEK_WEBSOCKET_LISTEN_PORT="$port"

set -- skypewatch skypewatch/websocket \
    "Skype::websocket_addr=$address" "Skype::websocket_port=$port/tcp" "$@"

if [ -n "${ZEEK_PCAP:-}" ]; then
    pcap="/pcaps/$ZEEK_PCAP"
    if [ ! -r "$pcap" ]; then
        echo "zeek-entrypoint: $pcap: no such capture in the mounted folder" >&2
        exit 2
    fi
    if [ "${ZEEK_WAIT_FOR_CLIENT:-1}" = 1 ]; then
        set -- "$@" /usr/local/share/skypewatch/wait-for-client.zeek
    fi
    echo "zeek-entrypoint: reading $pcap; logs in $(pwd)" >&2
    exec zeek -C -r "$pcap" "$@"
elif [ -n "${ZEEK_INTERFACE:-}" ]; then
    echo "zeek-entrypoint: sniffing $ZEEK_INTERFACE; logs in $(pwd)" >&2
    exec zeek -C -i "$ZEEK_INTERFACE" "$@"
else
    echo "zeek-entrypoint: set ZEEK_PCAP (a file in the mounted folder) or ZEEK_INTERFACE" >&2
    exit 2
fi
