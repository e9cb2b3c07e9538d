# skypewatch: `make demo` and `make test` do all their own set-up (a .venv at the repo root).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SHARED ?= ../shared
DEMO_CAPTURE ?= testing/btest/Traces/skype-open-1.4-background.pcap

.PHONY: bench-analyst cluster-jaccard bench-flows bench-zeek btest-slow zkg-install demo test browser lint check-docker docker-test docker-live-test format-zeek check-zeek btest test-python traces baselines bench fuzz clean

$(STAMP): python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e 'python[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/skypewatch analyze $(DEMO_CAPTURE) -o demo-out
	@echo
	@echo "--- demo-out/skype.log: connections per stage, signatures, client, confidence ---"
	@grep -v '^#' demo-out/skype.log | cut -f11,9,10,16 | sort | uniq -c | sort -rn | head -20

test: $(STAMP) lint check-zeek check-docker browser test-python btest zkg-install

# The report test renders HTML in headless Chromium; install it where we may (root + apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      && echo "installed chromium (for the report screenshot test)" \
	      || echo "chromium could not be installed: the report screenshot test will skip"; \
	  else echo "chromium not installed: the report screenshot test will skip"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check python
	$(VENV)/bin/ruff format --check python
	cd python && ../$(VENV)/bin/mypy

# Two processes, as btest's -j 2: the suite takes ~3 min instead of ~6 on 2 cores (PYTEST_JOBS=0: one).
PYTEST_JOBS ?= 2
test-python: $(STAMP)
	cd python && SKYPEWATCH_SHARED=$(abspath $(SHARED)) ../$(PY) -m pytest -q -n $(PYTEST_JOBS)

# zeekscript checks syntax and formatting everywhere; where Zeek is on PATH, `zeek -a`
# parses and type-checks the package as users load it, every script alone, the opt-in
# ones and the cluster script, and any error or warning fails the build.
check-zeek: $(STAMP)
	@if command -v zeek >/dev/null 2>&1; then \
	  set -e; out=$$(mktemp); \
	  for load in "zeek" "zeek zeek/websocket.zeek" "zeek/cluster.zeek zeek" $$(ls zeek/*.zeek) docker/wait-for-client.zeek; do \
	    zeek -a $$load >$$out 2>&1 || { cat $$out; echo "zeek -a $$load: failed"; rm -f $$out; exit 1; }; \
	    if [ -s $$out ]; then cat $$out; echo "zeek -a $$load: warnings"; rm -f $$out; exit 1; fi; \
	  done; rm -f $$out; \
	  echo "zeek -a: package, every script alone, websocket and cluster loads: no error, no warning ($$(zeek --version))"; \
	else echo "zeek -a: SKIPPED -- no 'zeek' on PATH; the scripts were only parsed by zeekscript"; fi
	@set -e; for f in $$(find zeek -name '*.zeek' | sort); do \
	  $(VENV)/bin/zeek-script parse -q $$f || { echo "parse error: $$f"; exit 1; }; \
	  $(VENV)/bin/zeek-format $$f | diff -u $$f - >/dev/null || { echo "not zeek-format clean: $$f (run: make format-zeek)"; $(VENV)/bin/zeek-format $$f | diff -u $$f - | head -20; exit 1; }; \
	done; echo "zeek scripts: $$(find zeek -name '*.zeek' | wc -l) parsed and zeek-format clean"
	@set -e; for f in $$(find testing/btest/tests -name '*.zeek' | sort); do \
	  $(VENV)/bin/zeek-script parse -q $$f || { echo "parse error: $$f"; exit 1; }; \
	done; echo "btest scripts: $$(find testing/btest/tests -name '*.zeek' | wc -l) parsed"

format-zeek: $(STAMP)
	$(VENV)/bin/zeek-format -ir zeek

btest: $(STAMP)
	@if command -v zeek >/dev/null 2>&1; then \
	  cd testing/btest && PATH="$(abspath $(VENV))/bin:$$PATH" btest -c btest.cfg -j 2 -d; \
	else \
	  echo "btest: SKIPPED -- no 'zeek' on PATH; the Zeek scripts were only parsed and format-checked"; \
	fi

# Real-time cluster replay of SkypeIRC.cap (about 6 minutes; not part of `make test`).
btest-slow: $(STAMP)
	cd testing/btest && PATH="$(abspath $(VENV))/bin:$$PATH" btest -c btest.cfg -d slow

# What a Zeek user does: `zkg install` of this repository (committed HEAD, cloned under the
# name users load it by) into a scratch zkg state with no package source; zkg runs the
# package's test_command (btest) first.  Then `@load skypewatch` must create the stream.
zkg-install: $(STAMP)
	@if command -v zeek >/dev/null 2>&1; then \
	  set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  git clone -q . "$$tmp/src/skypewatch"; \
	  printf '[sources]\n[paths]\nstate_dir = %s/state\nscript_dir = %s/site\nplugin_dir = %s/plugins\nbin_dir = %s/bin\n' \
	    "$$tmp" "$$tmp" "$$tmp" "$$tmp" > "$$tmp/zkg.cfg"; \
	  PATH="$(abspath $(VENV))/bin:$$PATH" zkg --configfile "$$tmp/zkg.cfg" install --force "$$tmp/src/skypewatch" >"$$tmp/zkg.out" 2>&1 \
	    || { cat "$$tmp/zkg.out"; find "$$tmp/state" -name 'zkg.test_command.*' -exec tail -30 {} \; ; exit 1; }; \
	  echo "zkg install: test_command in zkg's clone: $$(find "$$tmp/state" -name 'zkg.test_command.std*' -exec grep -hE 'successful|failed' {} + | tail -1)"; \
	  printf '@load skypewatch\nevent zeek_init() { print Log::active_streams[Skype::LOG]$$path; }\n' > "$$tmp/load.zeek"; \
	  test "$$(ZEEKPATH="$$tmp/site:$$(zeek-config --zeekpath)" zeek "$$tmp/load.zeek")" = skype; \
	  echo "zkg install: @load skypewatch from zkg's script_dir creates the skype stream"; \
	else echo "zkg install: SKIPPED -- no 'zeek' on PATH"; fi

# The static checks of docker/ (no engine needed; `make docker-test` builds and runs it).
check-docker: $(STAMP)
	$(VENV)/bin/check-jsonschema -q --builtin-schema vendor.compose-spec docker/compose.yml
	$(VENV)/bin/hadolint docker/*.Dockerfile docker/local/*.Dockerfile
	$(VENV)/bin/shellcheck -x docker/*.sh docker/local/*.sh testing/btest/Scripts/get-zeek-env testing/btest/Scripts/python-src
	$(VENV)/bin/zeek-script parse -q docker/wait-for-client.zeek
	@echo "docker/: compose file valid against the Compose spec, Dockerfiles hadolint-clean, scripts shellcheck-clean (make docker-test builds and runs the stack)"

# The stack built (docker/build.sh) and run for real with docker or podman (docker/docker-test.sh): both
# images, compose up on a shipped capture, notices on both sides, teardown, then the btest
# suite inside the Zeek image.  No engine: one line, exit 0.  podman-compose, where podman
# has no compose tool, comes from the package index into $(VENV).
docker-test:
	@if command -v podman >/dev/null 2>&1 && ! command -v podman-compose >/dev/null 2>&1 \
	    && [ ! -x $(VENV)/bin/podman-compose ]; then \
	  test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install --quiet podman-compose; fi
	PATH="$(abspath $(VENV))/bin:$$PATH" SHARED=$(abspath $(SHARED)) bash docker/docker-test.sh

# The compose `live` profile on a veth pair with a capture replayed by tcpreplay (root; about
# two minutes; after docker-test, whose images it runs).
docker-live-test:
	PATH="$(abspath $(VENV))/bin:$$PATH" bash docker/docker-live-test.sh

traces: $(STAMP)
	$(VENV)/bin/skypewatch synth --all -o testing/btest/Traces

# The btest baselines are the Python engine's output (the specification).
baselines: $(STAMP)
	$(PY) testing/update_baselines.py

bench: $(STAMP)
	$(PY) python/benchmarks/bench_analyze.py

# query --view clients / super-nodes and report on a skype.log of N distinct clients, with
# the per-client loops they replaced timed on a smaller log in the same run.
N ?= 100000
bench-analyst: $(STAMP)
	$(PY) python/benchmarks/bench_analyst.py --clients $(N)

# CPU time of bare Zeek against Zeek + the package on >= 1 M-packet captures (needs zeek).
bench-zeek: $(STAMP)
	$(PY) python/benchmarks/bench_zeek.py

# Peak RSS of analyze and bare zeek on 10^6 one-packet UDP flows within 30 s (zeek if on PATH).
bench-flows: $(STAMP)
	$(PY) python/benchmarks/bench_flows.py

# Cluster vs standalone Jaccard of skype.log flows on every shared capture (a two-worker
# cluster in lockstep per capture: a few minutes, not part of `make test`).
cluster-jaccard: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" testing/cluster-jaccard $(abspath $(SHARED))/pcaps

# Every fuzz target for SECONDS each, two at a time (atheris where installed, else hypothesis);
# findings in python/fuzz/findings/<target>/.  `make test` runs each target briefly.
SECONDS ?= 60
FUZZ_TARGETS ?=
# Then the bulk engine's differential run: random captures (Skype start-ups among UDP flows
# built for its edges, in every container the bulk reader takes) through both engines for
# SECONDS, every difference printed; with two workers; and damaged at random.
fuzz: $(STAMP)
	cd python && SKYPEWATCH_SHARED=$(abspath $(SHARED)) ../$(PY) -m fuzz.run --seconds $(SECONDS) --jobs 2 $(FUZZ_TARGETS)
	cd python && ../$(PY) -m fuzz.differential --seeds 1000000 --seconds $(SECONDS)
	cd python && ../$(PY) -m fuzz.differential --seeds 1000000 --seconds $(SECONDS) --workers 2
	cd python && ../$(PY) -m fuzz.differential --seeds 1000000 --seconds $(SECONDS) --damage
	cd python && ../$(PY) -m fuzz.differential --seeds 1000000 --seconds $(SECONDS) --piped --damage

clean:
	rm -rf demo-out python/.pytest_cache testing/btest/.tmp
