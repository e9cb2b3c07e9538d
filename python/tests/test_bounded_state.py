"""Bounded state that a flood cannot use to blind the detector (bounded.py and its tables).

A flood of cheap one-packet connections from distinct hosts -- each a ``possible`` line
(HTTP with ``User-Agent: Skype``) or a plain UDP flow -- before, during or after a real
start-up fills every bounded table; the client's notice must come out all the same, the
tables must have been full (or the test proves nothing), and no evidence may be lost.
"""

from __future__ import annotations

import pytest

from skypewatch.analyze import analyze, format_summary
from skypewatch.bounded import EVIDENCE, NOISE, PENDING, TieredTable
from skypewatch.correlation import HostCorrelatorOptions
from skypewatch.detect.tracker import TrackerOptions
from skypewatch.synth.flood import FLOOD_WHEN, write_flooded_startup
from skypewatch.verdict.host_context import HostOptions

# -- the policy ----------------------------------------------------------------------------


def test_noise_makes_room_for_anything_and_only_displaces_noise():
    t: TieredTable[str, int] = TieredTable("host", 3, 3)
    assert t.put("a", 1, NOISE) and t.put("b", 2, EVIDENCE) and t.put("c", 3, PENDING)
    assert t.put("d", 4, NOISE)  # the oldest noise goes
    assert "a" not in t and len(t) == 3 and t.stats.evicted == 1
    assert t.put("e", 5, NOISE)  # noise displaces noise, least recent first
    assert "d" not in t and t.stats.evicted == 2
    t.put("e", 5, EVIDENCE)  # a change of tier: no growth, nothing displaced
    assert len(t) == 3 and t.stats.evicted == 2
    assert not t.put("f", 6, NOISE)  # every stored entry outranks it
    assert t.stats.refused == 1 and t.stats.lost == 0 and "f" not in t


def test_evidence_goes_only_for_evidence_and_the_loss_is_named():
    t: TieredTable[str, int] = TieredTable("client", 2, 3, describe=lambda k: f"<{k}>")
    t.put("old", 1, EVIDENCE)
    t.put("pending", 2, PENDING)
    assert t.put("new", 3, EVIDENCE)
    assert "old" not in t and t.stats.lost == 1 and t.stats.named == ["client <old>"]
    assert t.put("newer", 4, EVIDENCE)  # the least recent evidence goes, never the pending
    assert "pending" in t and "new" not in t and t.stats.lost == 2
    assert t.stats.named == ["client <old>", "client <new>"]


def test_a_refused_protected_entry_is_a_loss():
    t: TieredTable[str, int] = TieredTable("client", 1, 3)
    t.put("p", 1, PENDING)
    assert not t.put("e", 2, EVIDENCE)
    assert t.stats.refused == 1 and t.stats.lost == 1 and t.stats.named == ["client e"]


def test_worth_now_promotes_instead_of_displacing():
    known = set()
    evicted = []
    t: TieredTable[str, int] = TieredTable(
        "probe",
        3,
        2,
        worth=lambda k, v: EVIDENCE if k in known else NOISE,
        on_evict=lambda k, v: evicted.append(k),
    )
    for k in "abc":
        t.put(k, 0, NOISE)
    known.add("a")  # a showed evidence after it was stored as noise
    t.put("d", 0, NOISE)
    assert "a" in t and t.tier_of("a") == EVIDENCE and evicted == ["b"]
    assert len(t) == 3 and t.stats.lost == 0


def test_expire_and_iteration_keep_the_count():
    t: TieredTable[str, float] = TieredTable("x", 10, 2)
    for i, k in enumerate("abcd"):
        t.put(k, float(i), EVIDENCE if k in "bd" else NOISE)
    assert [k for k, _ in t.expire(lambda v: v < 2.0)] == ["a", "b"]
    assert len(t) == 2 and [k for k, _ in t.items()] == ["c", "d"]
    assert [(tier, k) for tier, k, _ in t.oldest()] == [(NOISE, "c"), (EVIDENCE, "d")]
    assert t.pop("c") == 2.0 and t.pop("c") is None and len(t) == 1


# -- floods against the whole pipeline -------------------------------------------------------

SMALL = dict(
    tracker_options=TrackerOptions(max_connections=1000, host=HostOptions(max_entries=1000)),
    correlator_options=HostCorrelatorOptions(max_hosts=500),
)


def _login_notices(summary) -> list[str]:
    # every notice, not the summary's first SHOWN_NOTICES: the tests run with keep_records
    return [n.src for n in summary.notices if n.note == "Skype::Login_Sequence"]


@pytest.mark.parametrize("when", FLOOD_WHEN)
def test_flood_of_cheap_hosts_does_not_hide_the_client(tmp_path, when):
    """10^4 hosts of each kind (possible lines, lone probes, plain UDP) against tables of
    500-1000: the same mechanism as the default bounds against 10^5, in a fraction of the
    time."""
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 10_000, when)
    s = analyze([cap], tmp_path / "out", keep_records=True, **SMALL)
    assert len(_login_notices(s)) == 1, format_summary(s)
    # the tables were full: the flood was displaced, not the client
    assert s.host_state.evicted + s.host_state.refused > 2 * 5000  # correlator and context
    assert s.conn_state.evicted > 5000
    assert s.host_state.lost == 0 and s.conn_state.lost == 0 and not s.early_notices
    assert s.untracked_packets == 0
    text = format_summary(s)
    assert "host tables full" in text and "ended early to make room" in text
    assert "warning" not in text


def test_the_loss_that_cannot_be_avoided_is_reported(tmp_path):
    """A table too small for the evidence itself: the loss is counted and named, and a
    pending notice that has to go is raised early rather than lost."""
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 2000, "after", kinds=("agent",))
    tiny = HostCorrelatorOptions(max_hosts=1)
    s = analyze([cap], tmp_path / "out", keep_records=True, correlator_options=tiny)
    text = format_summary(s)
    assert len(_login_notices(s)) == 1, text
    assert s.host_state.refused >= 1999 and s.host_state.lost == 0
    # two protected hosts for one place: the client's session goes for the other one
    s2 = analyze(
        [cap],
        tmp_path / "out2",
        tracker_options=TrackerOptions(host=HostOptions(max_entries=2)),
    )
    text2 = format_summary(s2)
    assert s2.host_state.lost > 0
    assert "warning: evidence dropped by full tables" in text2


def test_default_bounds_against_a_hundred_thousand_hosts(tmp_path):
    """The issue's case at the default bounds: 10^5 ``possible`` hosts just after a start-up
    (the correlator holds 10^5 hosts, so its table overflows)."""
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 100_000, "after", kinds=("agent",))
    s = analyze([cap], tmp_path / "out", keep_records=True)
    assert len(_login_notices(s)) == 1, format_summary(s)
    assert s.host_state.evicted + s.host_state.refused >= 1
    assert s.host_state.lost == 0 and not s.early_notices


def test_a_full_connection_table_ends_one_sided_flows_not_answered_ones():
    """Ten places: an answered flow with payload (what a signature looks at) stays open
    through a hundred one-packet flows; they end early, least recent first, and nothing
    of value is lost."""
    from skypewatch.detect.tracker import Tracker
    from skypewatch.packets.decode import decode
    from skypewatch.synth.flood import flood
    from skypewatch.synth.frames import addr_bytes, udp_frame

    records = []
    t = Tracker(lambda rec, now: records.append(rec), TrackerOptions(max_connections=10))
    a, b = addr_bytes("10.0.0.5"), addr_bytes("81.2.3.4")
    t.packet(1000.0, decode(1, udp_frame(a, 40000, b, 33033, b"\x12\x34\x02" + bytes(15))))
    t.packet(1000.1, decode(1, udp_frame(b, 33033, a, 40000, b"\x12\x34\x07" + bytes(8))))
    for ts, frame in flood("udp", 100, 1000.2, 1.0):
        t.packet(ts, decode(1, frame))
    open_now = [c for _, c in t._open.items()]
    assert len(open_now) == 10
    assert any(c.orig == a and c.resp_pkts == 1 for c in open_now)
    assert t.stats.bounds.evicted == 91 and t.stats.bounds.lost == 0
    assert t.stats.connections == 101 and t.stats.untracked_packets == 0
