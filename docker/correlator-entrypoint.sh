#!/bin/sh
# Run the skypewatch correlator against Zeek's WebSocket API; notices go to /logs.
#   ZEEK_URL   default ws://zeek:27759
set -eu
exec skypewatch correlate --zeek "${ZEEK_URL:-ws://zeek:27759}" -o /logs "$@"
