"""Every fuzz target (``python/fuzz/``) for a moment, in the normal test pass: its seeds, then
mutated seeds, derandomized and without an example database, so a run is repeatable and the
whole file stays within a minute on a 2-core machine.  A failure prints the finding and the
input, shrunk towards its seed; the long runs are ``make fuzz``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz import NAMES, load
from fuzz.harness import Workspace, check
from fuzz.mutate import inputs

settings.register_profile(
    "fuzz-suite",
    derandomize=True,
    database=None,
    deadline=None,  # the harness has its own per-input deadline
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
# inputs per target, sized to the target's cost (about 5 s each on this project's machine)
EXAMPLES = {
    "pcap": 1000,
    "pcapng": 1000,
    "tsv-log": 250,
    "json-log": 250,
    "conn-log": 400,
    "ws-codec": 3000,
    "cli": 150,
}


@pytest.fixture(scope="module")
def workspace():
    ws = Workspace.create()
    yield ws
    ws.close()


def test_every_target_has_a_budget():
    assert set(EXAMPLES) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_target(name: str, workspace: Workspace) -> None:
    target = load(name)
    seeds = target.seeds(workspace)
    assert len(seeds) >= 2, f"{name}: no seeds"
    for s in seeds:
        out = check(target, s, workspace)
        assert out.ok, f"seed: {out.signature}\n{out.detail}"

    @settings(settings.get_profile("fuzz-suite"), max_examples=EXAMPLES[name])
    @given(inputs(seeds, target.dictionary, target.max_len))
    def mutated(data: bytes) -> None:
        out = check(target, data, workspace)
        assert out.ok, f"{out.signature}\n{out.detail}"

    mutated()
