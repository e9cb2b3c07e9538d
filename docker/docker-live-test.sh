#!/usr/bin/env bash
# make docker-live-test: the compose `live` profile on a virtual interface.  A veth pair is
# made on the host, zeek-live sniffs one end (host network), tcpreplay plays a shipped capture
# onto the other at its recorded speed, the correlator listens on loopback; then the stack
# is stopped and what it logged is checked.  Needs root, iproute2 and tcpreplay, and the images
# of `make docker-test` (built first if missing).  Slower than docker-test (the capture
# plays in real time, about two minutes), so a target of its own.
#
#   LIVE_CAPTURE   capture under testing/btest/Traces (default skype-open-1.4-background.pcap)
#   LIVE_SPEED     tcpreplay --multiplier (default 1: real time, as the detectors' timing needs)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=docker/lib.sh
. docker/lib.sh

sw_engine_or_skip docker-live-test
say() { printf 'docker-live-test: %s\n' "$*"; }
fail() { printf 'docker-live-test: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (a veth pair and a sniffing container)"
command -v ip >/dev/null 2>&1 || fail "no 'ip' (apt-get install iproute2)"
command -v tcpreplay >/dev/null 2>&1 || fail "no tcpreplay (apt-get install tcpreplay)"
[ -n "$COMPOSE" ] || fail "$ENGINE is here but no compose tool"

PROJECT=skypewatch
CAPTURE=testing/btest/Traces/${LIVE_CAPTURE:-skype-open-1.4-background.pcap}
[ -r "$CAPTURE" ] || fail "$CAPTURE: no such capture"
LOGS=docker/logs
TX=swlive0 RX=swlive1
work=$(mktemp -d)
SW_TMPFILES+=("$work")
compose() { $COMPOSE -f docker/compose.yml --profile live "$@"; }

on_exit() {
    status=$?
    compose down --volumes --remove-orphans >>"$work/compose.log" 2>&1 || true
    ip link del "$TX" 2>/dev/null || true
    [ "$status" = 0 ] || { tail -25 "$work/compose.log" "$work"/*.out 2>/dev/null >&2 || true; }
    rm -rf "$work"
    sw_cleanup_tmp
    exit "$status"
}
trap on_exit EXIT

ZEEK_VERSION=${ZEEK_VERSION:-$(zeek-config --version 2>/dev/null || echo 8.0.10)}
export ZEEK_VERSION
if ! "$ENGINE" image inspect "skypewatch-zeek:$ZEEK_VERSION" >/dev/null 2>&1 \
    || ! "$ENGINE" image inspect skypewatch-correlator:latest >/dev/null 2>&1; then
    fail "images skypewatch-zeek:$ZEEK_VERSION and skypewatch-correlator:latest missing: run make docker-test first"
fi

ip link add "$TX" type veth peer name "$RX" || fail "cannot make a veth pair"
ip link set "$TX" up
ip link set "$RX" up
find "$LOGS" -mindepth 1 ! -name .gitignore -exec rm -rf {} +
ZEEK_INTERFACE=$RX compose up -d --no-build zeek-live correlator-live >"$work/compose.log" 2>&1 \
    || fail "$COMPOSE --profile live up"
container() {
    "$ENGINE" ps -a -q --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" | head -1
}
for ((i = 0; i < 120; i++)); do
    "$ENGINE" logs "$(container correlator-live)" >"$work/correlator.out" 2>&1 || true
    grep -q "connected to Zeek" "$work/correlator.out" && break
    sleep 1
done
grep -q "connected to Zeek" "$work/correlator.out" || fail "the correlator did not connect within 120 s"
say "zeek-live sniffs $RX, correlator-live connected on loopback; replaying $(basename "$CAPTURE") onto $TX"
start=$(date +%s)
tcpreplay -q -i "$TX" --multiplier "${LIVE_SPEED:-1}" "$CAPTURE" >"$work/tcpreplay.out" 2>&1 \
    || { cat "$work/tcpreplay.out" >&2; fail "tcpreplay"; }
say "replayed in $(($(date +%s) - start)) s: $(grep -m1 -o 'Actual: [^(]*' "$work/tcpreplay.out" || true)"
# Let the last packets be read, then stop as a user would: correlator first, then Zeek.
sleep 5
compose stop correlator-live >>"$work/compose.log" 2>&1
"$ENGINE" logs "$(container correlator-live)" >"$work/correlator.out" 2>&1 || true
compose stop zeek-live >>"$work/compose.log" 2>&1
compose down --volumes --remove-orphans >>"$work/compose.log" 2>&1

[ -s "$LOGS/skype.log" ] || fail "no skype.log from the live run"
say "skype.log: $(grep -vc '^#' "$LOGS/skype.log") lines; stages: $(awk -F'\t' '/^#fields/ { for (i = 2; i <= NF; i++) if ($i == "stage") c = i - 1 } !/^#/ { n[$c]++ } END { for (s in n) printf "%s=%d ", s, n[s] }' "$LOGS/skype.log")"
# Live, packet times are replay times and a gap can stretch by a few milliseconds: the
# verdicts must be those of the capture read from file (the btest baseline), all but the
# times, durations and the evidence text that quotes them.
case "$CAPTURE" in
    */skype-open-1.4-background.pcap)
        python3 testing/btest/Scripts/canonify-skype-log "$LOGS/skype.log" | cut -f3-7,9-16,18 | sort >"$work/live"
        cut -f3-7,9-16,18 testing/btest/Baseline/tests.traces.open-1_4-background/skype.canon | sort >"$work/file"
        diff "$work/file" "$work/live" >"$work/verdicts.diff" \
            || { head -20 "$work/verdicts.diff" >&2; fail "the live verdicts differ from the capture's (btest baseline)"; }
        say "skype.log: every verdict (stage, signatures, client, peer, confidence, answered) as from the file" ;;
esac
[ -s "$LOGS/correlator/notice.log" ] || fail "no notice.log from the correlator"
say "correlator: $(grep -m1 '^skypewatch: stopped' "$work/correlator.out" || echo '(no summary)')"
notes=$(grep -c '\[skypewatch\] ' "$LOGS/notice.log" || true)
[ "$notes" -gt 0 ] || fail "no correlated notice in Zeek's notice.log"
say "Zeek's notice.log: $notes notice(s) from the correlator:"
grep -o '\[skypewatch\] [^	]*' "$LOGS/notice.log" | sed 's/^/docker-live-test:   /'
say "passed"
