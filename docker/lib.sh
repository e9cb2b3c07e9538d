# shellcheck shell=bash
# Sourced by the docker/ scripts: which container engine is here, how to call it, and the
# host's pip configuration as build secrets.

# sw_engine: sets and exports ENGINE (docker|podman) and COMPOSE (the matching compose command), or
# returns 1 when no engine runs here.  A docker client without a daemon does not count.
sw_engine() {
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        ENGINE=docker
        if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
        elif command -v docker-compose >/dev/null 2>&1; then COMPOSE=docker-compose
        else COMPOSE=""; fi
    elif command -v podman >/dev/null 2>&1; then
        ENGINE=podman
        sw_podman_conf
        if command -v podman-compose >/dev/null 2>&1; then COMPOSE=podman-compose; else COMPOSE=""; fi
    else
        return 1
    fi
    export ENGINE COMPOSE
}

# A test script's start: the engine, or one line saying the test is skipped and exit 0 (a
# machine with no container engine is not a failure of the stack).
sw_engine_or_skip() {
    if ! sw_engine; then
        echo "$1: SKIPPED -- no container engine here (no docker daemon, no podman)"
        exit 0
    fi
}

# Podman reads its defaults from CONTAINERS_CONF, podman-compose's calls included.  runc where
# installed (crun fails on a hybrid cgroup v1 layout), cgroupfs (no systemd to ask), and
# explicit ulimits (the inherited defaults can exceed what the container may set).
sw_podman_conf() {
    if [ -n "${CONTAINERS_CONF:-}" ]; then return 0; fi
    SW_PODMAN_CONF=$(mktemp)
    {
        printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
        printf '[engine]\ncgroup_manager = "cgroupfs"\n'
        if command -v runc >/dev/null 2>&1; then printf 'runtime = "runc"\n'; fi
    } >"$SW_PODMAN_CONF"
    export CONTAINERS_CONF="$SW_PODMAN_CONF"
}

# sw_pip_secrets: sets PIP_SECRETS to the engine's --secret options carrying the host's pip
# configuration (index, extra indexes, trusted hosts, time-out, the CA bundle it trusts).
# Values that name files or folders of the host (file:// indexes, find-links, constraints) mean
# nothing in a build and are left out.  The files are temporary and never enter a layer.
sw_pip_secrets() {
    local py conf ca key value
    PIP_SECRETS=()
    py=$(command -v python3 || command -v python) || return 0
    "$py" -m pip --version >/dev/null 2>&1 || return 0
    conf=$(mktemp); ca=""
    SW_TMPFILES+=("$conf")
    printf '[global]\n' >"$conf"
    while IFS= read -r line; do
        key=${line%%=*}; key=${key#*.}
        value=${line#*=}; value=${value#\'}; value=${value%\'}
        case "$key" in
            index-url|extra-index-url|trusted-host|timeout|default-timeout|retries|proxy)
                # shellcheck disable=SC2086  # a list of addresses, split on blanks
                value=$(printf '%s\n' $value | grep -v '^file:' | tr '\n' ' ' || true)
                value=${value% }
                if [ -n "$value" ]; then printf '%s = %s\n' "$key" "$value" >>"$conf"; fi ;;
            cert)
                if [ -r "$value" ]; then ca=$value; fi ;;
        esac
    done < <("$py" -m pip config list 2>/dev/null)
    if [ -z "$ca" ]; then
        for value in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
            if [ -n "$value" ] && [ -r "$value" ]; then ca=$value; break; fi
        done
    fi
    if [ -n "$ca" ]; then
        printf 'cert = /run/secrets/pipca\n' >>"$conf"
        PIP_SECRETS+=(--secret "id=pipca,src=$ca")
    fi
    PIP_SECRETS+=(--secret "id=pipconf,src=$conf")
}

# sw_build FILE TAG [BUILD OPTIONS...] CONTEXT: build one image with the host's pip secrets.
sw_build() {
    local file=$1 tag=$2
    shift 2
    local net=()
    # Podman's build containers reach the network only through the host's here; its default
    # OCI image format drops SHELL (the Dockerfiles' pipefail), Docker's format keeps it.
    if [ "$ENGINE" = podman ]; then net=(--network host --format docker); fi
    local old
    old=$("$ENGINE" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
    "$ENGINE" build "${net[@]}" "${PIP_SECRETS[@]}" -f "$file" -t "$tag" "$@" || return
    # The image this build replaced would stay behind untagged, a few hundred MB a time.
    if [ -n "$old" ] && [ "$old" != "$("$ENGINE" image inspect --format '{{.Id}}' "$tag")" ]; then
        "$ENGINE" rmi "$old" >/dev/null 2>&1 || true
    fi
}

SW_TMPFILES=()
sw_cleanup_tmp() {
    rm -f "${SW_TMPFILES[@]}" "${SW_PODMAN_CONF:-/nonexistent}" 2>/dev/null || true
}
