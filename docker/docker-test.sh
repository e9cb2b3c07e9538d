#!/usr/bin/env bash
# make docker-test: build both images with the engine that is here (docker, else podman),
# run the compose stack on a shipped capture and check what a user would check, tear it
# down, then run the btest suite inside the Zeek image.
#
#   ZEEK_IMAGE, PYTHON_IMAGE, ZEEK_VERSION   base images, as docker/build.sh (which builds)
#   SHARED                      folder with pcaps/ for the btests that read shared captures
#
# No engine: one line, exit 0.  With an engine, any failure exits non-zero.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=docker/lib.sh
. docker/lib.sh

sw_engine_or_skip docker-test
[ -n "$COMPOSE" ] || { echo "docker-test: $ENGINE is here but no compose tool (docker compose, docker-compose, podman-compose)" >&2; exit 1; }

PROJECT=skypewatch
CAPTURE=skype-open-1.4-background.pcap
BASELINE=testing/btest/Baseline/tests.traces.open-1_4-background
LOGS=docker/logs
work=$(mktemp -d)
SW_TMPFILES+=("$work")
compose() { $COMPOSE -f docker/compose.yml "$@"; }
say() { printf 'docker-test: %s\n' "$*"; }
fail() { printf 'docker-test: FAILED: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }

# Everything the stack left behind, by the compose project label (docker compose and
# podman-compose both set it).
leftovers() {
    {
        "$ENGINE" ps -a -q --filter "label=com.docker.compose.project=$PROJECT"
        "$ENGINE" network ls -q --filter "label=com.docker.compose.project=$PROJECT"
        "$ENGINE" volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
    } 2>/dev/null
}
teardown() {
    compose down --volumes --remove-orphans >>"$work/compose.log" 2>&1 || true
}
on_exit() {
    status=$?
    if [ "$status" != 0 ]; then
        teardown
        for f in compose stack btest; do
            [ -s "$work/$f.log" ] && { echo "--- $f.log (last 25 lines)"; tail -25 "$work/$f.log"; }
        done >&2
    fi
    rm -rf "$work"
    sw_cleanup_tmp
    exit "$status"
}
trap on_exit EXIT

# --- images -------------------------------------------------------------------------------
bash docker/build.sh --env-file "$work/images.env" 2>&1 | sed 's/^build: /docker-test: /' \
    || fail "docker/build.sh"
set -a
# shellcheck source=/dev/null
. "$work/images.env"
set +a
say "compose: $COMPOSE"

# --- the stack ----------------------------------------------------------------------------
[ -z "$(leftovers)" ] || fail "a $PROJECT stack is already running (stop it: $COMPOSE -f docker/compose.yml down)"
# The run's logs replace the previous run's (docker/logs/ holds only generated files).
find "$LOGS" -mindepth 1 ! -name .gitignore -exec rm -rf {} +
start=$(date +%s)
no_build=--no-build
compose up -d $no_build zeek correlator >"$work/compose.log" 2>&1 || fail "$COMPOSE up"
container() {
    "$ENGINE" ps -q --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" | head -1
}
# wait_log SERVICE TEXT SECONDS: until the service's output holds TEXT.
wait_log() {
    local i
    for ((i = 0; i < $3; i++)); do
        "$ENGINE" logs "$(container "$1")" >"$work/$1.out" 2>&1 || true
        grep -qF "$2" "$work/$1.out" && return 0
        sleep 1
    done
    cat "$work/$1.out" >>"$work/stack.log"
    fail "$1 did not say '$2' within $3 s"
}
wait_log correlator "connected to Zeek" 120
wait_log zeek "capture done: /pcaps/$CAPTURE" 300
say "stack up, correlator connected, capture replayed ($(elapsed "$start"))"

# What a user checks while it runs: the correlator is not root, nothing is published.
corr=$(container correlator)
uid=$("$ENGINE" exec "$corr" id -u)
[ "$uid" != 0 ] || fail "the correlator runs as root"
for c in $(container zeek) "$corr"; do
    ports=$("$ENGINE" port "$c" 2>/dev/null || true)
    [ -z "$ports" ] || fail "a container publishes ports on the host: $ports"
    # An exposed port shows with no binding (null); a published one has a host binding.
    # shellcheck disable=SC2016  # a Go template, not shell
    bound=$("$ENGINE" inspect --format '{{range $p, $b := .HostConfig.PortBindings}}{{if $b}}{{$p}} {{end}}{{end}}' "$c")
    [ -z "${bound// /}" ] || fail "a container binds host ports: $bound"
done
internal=$("$ENGINE" network inspect --format '{{.Internal}}' "$("$ENGINE" network ls -q \
    --filter "label=com.docker.compose.project=$PROJECT" | head -1)" 2>/dev/null || echo "?")
[ "$internal" = true ] || fail "the compose network is not internal ($internal)"

# Stop the correlator first: it sends what it still holds; then Zeek, which writes its logs.
compose stop correlator >>"$work/compose.log" 2>&1 || fail "$COMPOSE stop correlator"
"$ENGINE" logs "$corr" >"$work/correlator.out" 2>&1 || true
compose stop zeek >>"$work/compose.log" 2>&1 || fail "$COMPOSE stop zeek"
teardown
left=$(leftovers)
[ -z "$left" ] || fail "containers, networks or volumes left after down: $left"
say "stack down: no containers, networks or volumes left ($(elapsed "$start"))"

# --- what the logs say --------------------------------------------------------------------
fields() { awk -F'\t' -v want="$2" '/^#fields/ { for (i = 2; i <= NF; i++) col[$i] = i - 1 }
    !/^#/ { n = split(want, w, ","); line = $col[w[1]]; for (i = 2; i <= n; i++) line = line "\t" $col[w[i]]; print line }' "$1"; }
[ -s "$LOGS/skype.log" ] || fail "no skype.log in $LOGS/"
python3 testing/btest/Scripts/canonify-skype-log "$LOGS/skype.log" >"$work/skype.canon"
diff -u "$BASELINE/skype.canon" "$work/skype.canon" >"$work/skype.diff" \
    || { head -20 "$work/skype.diff" >&2; fail "$LOGS/skype.log differs from the btest baseline of $CAPTURE"; }
say "$LOGS/skype.log: $(grep -vc '^#' "$LOGS/skype.log") lines, equal to the btest baseline of $CAPTURE"

cnotice=$LOGS/correlator/notice.log
[ -s "$cnotice" ] || fail "no notice.log from the correlator in $LOGS/correlator/"
grep -q "^skypewatch: connected to Zeek" "$work/correlator.out" || fail "the correlator never said it connected"
[ -s "$LOGS/notice.log" ] || fail "no notice.log from Zeek in $LOGS/"
fields "$cnotice" note,src | sort -u >"$work/correlator.notes"
[ -s "$work/correlator.notes" ] || fail "the correlator's notice.log holds no notice"
# The correlator's notices come back through Skype::correlated_notice, whose messages it
# marks '[skypewatch] '; every one must be in Zeek's notice.log under the same note.
fields "$LOGS/notice.log" note,src,msg | awk -F'\t' 'index($3, "[skypewatch] ") == 1 { print $1 "\t" $2 }' \
    | sort -u >"$work/zeek.notes"
missing=$(comm -23 "$work/correlator.notes" "$work/zeek.notes")
[ -z "$missing" ] || fail "correlator notices missing from Zeek's notice.log: $missing"
say "notices: $(wc -l <"$work/correlator.notes") in the correlator's notice.log, all in Zeek's notice.log via Skype::correlated_notice:"
sed 's/^/docker-test:   /' "$work/correlator.notes"
say "the correlator ran as uid $uid; no port published; the compose network is internal"

# --- btest inside the Zeek image -------------------------------------------------------------
# The Zeek image plus the Python toolkit where btest.cfg looks for it, so that no test skips.
start=$(date +%s)
sw_pip_secrets
sw_build docker/zeek-btest.Dockerfile "skypewatch-zeek-btest:$ZEEK_VERSION" \
    --build-arg "ZEEK_TAG=skypewatch-zeek:$ZEEK_VERSION" . >"$work/build-btest.log" 2>&1 \
    || { tail -25 "$work/build-btest.log" >&2; fail "building the btest image"; }
shared=()
if [ -d "${SHARED:-../shared}/pcaps" ]; then
    shared=(-v "$(cd "${SHARED:-../shared}/pcaps" && pwd):/src/shared/pcaps:ro")
fi
"$ENGINE" run --rm "${shared[@]}" "skypewatch-zeek-btest:$ZEEK_VERSION" >"$work/btest.log" 2>&1 \
    || { grep -v '\.\.\. ok$' "$work/btest.log" | tail -40 >&2; fail "btest inside skypewatch-zeek:$ZEEK_VERSION"; }
say "btest inside skypewatch-zeek:$ZEEK_VERSION: $(grep -E 'tests? (successful|skipped|failed)|all [0-9]+ tests' "$work/btest.log" | tail -1)$([ ${#shared[@]} = 0 ] && echo ' (no shared pcaps: those tests skipped)') ($(elapsed "$start"))"
say "passed"
