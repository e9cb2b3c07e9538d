"""The bulk engine (skypewatch/fastpath) gives the reference path's logs and summary, exactly.

Every shared capture, every synth scenario, every encapsulated and fragmented form, a few
seeds of the randomized differential capture (fuzz/differential.py; ``make fuzz`` runs
thousands), and the inputs it must leave to the reference path: streams, captures whose
times go back, truncated ones, and a table that could fill.
"""

from __future__ import annotations

import os
import random
import re
import struct
import threading
from pathlib import Path

import pytest
from conftest import BULK_LINK_TYPES, PCAPS, bulk_can_run, shared_capture

from fuzz.containers import pcap_bytes, relinked, write_parts
from fuzz.differential import LATE_IN_SKIPPED, capture, compare, damage
from skypewatch.analyze import analyze
from skypewatch.cli import main
from skypewatch.detect.tracker import TrackerOptions
from skypewatch.fastpath.bulk import REFUSED
from skypewatch.fastpath.engine import _UdpFlows
from skypewatch.packets.capture import read_capture
from skypewatch.synth.conditions import SCENARIOS
from skypewatch.synth.encapsulate import FORMS, rewrap_capture
from skypewatch.synth.flood import write_flooded_startup
from skypewatch.synth.scenarios import SynthOptions, synthesize

SHARED_CAPTURES = sorted(
    str(p.relative_to(PCAPS)) for p in PCAPS.glob("*/*") if p.suffix in (".pcap", ".cap", ".pcapng")
)


@pytest.mark.parametrize("rel", SHARED_CAPTURES or ["skype/SkypeIRC.cap"])
def test_shared_captures(rel, tmp_path):
    path = shared_capture(*rel.split("/"))
    assert compare(path, tmp_path, require_bulk=bulk_can_run(path)) == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_synth_scenarios(scenario, tmp_path):
    res = synthesize(
        scenario, tmp_path / "s.pcap", SynthOptions(clients=2, duration=200.0, background=100.0)
    )
    assert compare(res.pcap, tmp_path) == []


@pytest.mark.parametrize("form", FORMS)
def test_encapsulated_forms(form, startup_pcap, tmp_path):
    cap = tmp_path / "wrapped.pcap"
    rewrap_capture(startup_pcap, cap, form)
    assert compare(cap, tmp_path, require_bulk=bulk_can_run(cap)) == []


@pytest.mark.parametrize("link_type", BULK_LINK_TYPES)
@pytest.mark.parametrize("workers", [1, 2])
def test_every_link_type_the_bulk_reader_takes(link_type, workers, tmp_path):
    """Linux cooked (tcpdump -i any), raw IP and loopback captures of a start-up in busy
    background, with some frames VLAN-tagged: the bulk engine runs and agrees."""
    src = tmp_path / "d.pcap"
    capture(2, src)
    rng = random.Random(link_type)
    records = []
    for ts, _link, frame in read_capture(src):
        if rng.random() < 0.2 and frame[12:14] == b"\x08\x00":
            frame = frame[:12] + b"\x81\x00\x00\x07" + frame[12:]
        out = relinked(frame, link_type)
        if out is not None:
            records.append((ts, out))
    cap = tmp_path / "l.pcap"
    cap.write_bytes(pcap_bytes(records, link_type))
    assert compare(cap, tmp_path, require_bulk=True, workers=workers) == []


@pytest.mark.parametrize("seed", range(12))
def test_randomized_differential(seed, tmp_path):
    cap = tmp_path / "d.cap"
    gen = capture(seed, cap, varied=True)  # pcap or pcapng, link types, tags (containers.py)
    assert compare(list(gen.parts), tmp_path, late=gen.late) == []


@pytest.mark.parametrize("seed", range(8))
def test_damaged_captures(seed, tmp_path):
    """A capture damaged at random (fuzz.differential.damage: flipped bytes, a length-like
    word, a cut): both engines read the same of it, or fail with the same message."""
    cap = tmp_path / "d.cap"
    gen = capture(seed, cap, varied=True)
    damage(gen.parts[0], random.Random(f"damage:{seed}"))
    assert compare(list(gen.parts), tmp_path, require_bulk=False, late=gen.late) == []


def test_a_file_both_engines_refuse_is_no_difference(tmp_path):
    junk = tmp_path / "junk.cap"
    junk.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    assert compare(junk, tmp_path, require_bulk=False) == []


def test_the_bulk_engine_skips_what_cannot_match(tmp_path):
    """Not a tautology: on a capture with non-Skype UDP the bulk engine does skip packets."""
    cap = tmp_path / "d.pcap"
    capture(3, cap)
    s = analyze([cap], tmp_path / "o", engine="bulk")
    assert s.engine.startswith("bulk (") and not s.engine.startswith("bulk (0 packets")


@pytest.mark.parametrize("workers", [1, 2])
def test_ipv6_udp_connections_that_cannot_match_are_skipped_too(tmp_path, workers):
    src = tmp_path / "d.pcap"
    capture(3, src)
    cap = tmp_path / "v6.pcap"
    rewrap_capture(src, cap, "ipv6")
    engines: list[str] = []
    assert compare(cap, tmp_path, engines=engines, workers=workers) == []
    four = analyze([src], tmp_path / "four", engine="bulk")
    skipped = re.compile(r"[0-9,]+ packets of [0-9,]+ UDP connections")
    assert skipped.search(engines[0])[0] == skipped.search(four.engine)[0]  # as many as IPv4


def test_ipv6_addresses_are_numbered_only_while_a_flow_of_them_lives():
    flows = _UdpFlows(60.0)
    for i in range(1000):  # 1,000 addresses: a flow of each with one of the first 256
        a = flows.v6_endpoint(bytes(15) + bytes([i % 256]), 53)
        b = flows.v6_endpoint(i.to_bytes(16, "big"), 40000)
        flows.flows[(min(a, b), max(a, b))] = (float(i), True)
    assert len(flows._v6) == 1000
    flows.prune(1000.0 + 60.0 - 500.0)  # flows of times below 500 are over
    assert 0 < len(flows._v6) <= 2 * 500
    flows.prune(10_000.0)
    assert flows.flows == {} and flows._v6 == {}


def _split(src: Path, parts: int, rng: random.Random, work: Path) -> list[Path]:
    """*src*'s frames cut into *parts* captures at random places, each in a container of
    its own (pcap or pcapng, a link type; fuzz/containers.py)."""
    records = [(ts, frame) for ts, _link, frame in read_capture(src)]
    return write_parts(work / "part", records, rng, parts)[0]


@pytest.mark.parametrize(("seed", "workers"), [(s, 1 + s % 2) for s in range(6)])
def test_several_captures_are_one_stream_in_bulk_too(seed, workers, tmp_path):
    """Rotated captures (tcpdump -G): connections and the clock go on from one to the next;
    each may be another container."""
    src = tmp_path / "d.pcap"
    gen = capture(seed, src)
    parts = _split(src, 3, random.Random(seed), tmp_path)
    engines: list[str] = []
    late = gen.late or any(p.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a" for p in parts)
    assert compare(parts, tmp_path, late=late, engines=engines, workers=workers) == []
    assert engines[0].startswith("bulk (") or engines[0] == LATE_IN_SKIPPED
    assert ("second process" in engines[0]) == (workers == 2) or not engines[0].startswith("b")


def test_several_captures_with_an_empty_or_broken_one(tmp_path):
    src = tmp_path / "d.pcap"
    capture(2, src)
    a, b = _split(src, 2, random.Random(1), tmp_path)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pcap_bytes([]))
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(src.read_bytes()[:-7])
    for paths in ([a, empty, b], [a, cut, b], [cut, a]):
        assert compare(paths, tmp_path, require_bulk=False) == []


def test_times_that_go_back(tmp_path):
    """The clock is the latest packet's time: a late packet moves nothing, and one in a
    skipped connection (whose end it would blur) sends the capture to the reference path."""
    src = tmp_path / "d.pcap"
    capture(5, src)
    data = bytearray(src.read_bytes())
    # move the last record's time 100 s back
    offs, pos = [], 24
    while pos + 16 <= len(data):
        offs.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    sec = struct.unpack_from("<I", data, offs[-1])[0]
    struct.pack_into("<I", data, offs[-1], sec - 100)
    cap = tmp_path / "back.pcap"
    cap.write_bytes(bytes(data))
    assert compare(cap, tmp_path, require_bulk=False) == []


def test_a_truncated_capture_takes_the_reference_path(tmp_path):
    src = tmp_path / "d.pcap"
    capture(6, src)
    cap = tmp_path / "cut.pcap"
    cap.write_bytes(src.read_bytes()[:-7])
    s = analyze([cap], tmp_path / "o", engine="bulk")
    assert s.engine == "reference (capture cut short)" and s.truncated is not None


def test_a_table_that_could_fill_takes_the_reference_path(tmp_path):
    cap = tmp_path / "flood.pcap"
    write_flooded_startup(cap, 3000, "during", kinds=("udp",))
    opts = TrackerOptions(max_connections=1000)
    ref = analyze([cap], tmp_path / "r", tracker_options=opts, engine="reference")
    bulk = analyze([cap], tmp_path / "b", tracker_options=opts, engine="bulk")
    assert bulk.engine == "reference (the open-connection table could fill)"
    assert ref.conn_state.evicted > 0  # the bound mattered
    assert (bulk.connections, bulk.conn_state.evicted) == (ref.connections, ref.conn_state.evicted)
    # with room to spare, the bulk engine takes the same flood
    assert compare(cap, tmp_path) == []


def test_a_fifo_is_read_by_the_reference_path(tmp_path):
    src = tmp_path / "d.pcap"
    assert not capture(9, src).late  # in order: the bulk engine takes the file
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(src.read_bytes()))
    writer.start()
    s = analyze([fifo], tmp_path / "o", engine="auto")
    writer.join()
    assert s.engine == f"reference ({REFUSED})"
    whole = analyze([src], tmp_path / "w", engine="bulk")
    assert whole.engine.startswith("bulk")
    assert (s.packets, s.connections, s.notice_count) == (
        whole.packets,
        whole.connections,
        whole.notice_count,
    )


def test_the_engine_from_the_command_line(tmp_path, monkeypatch, capsys):

    cap = tmp_path / "d.pcap"
    capture(8, cap)
    assert main(["analyze", "--engine", "reference", str(cap), "-o", str(tmp_path / "r")]) == 0
    assert main(["analyze", str(cap), "-o", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    r, b = (tmp_path / x / "skype.log" for x in "rb")
    assert [x for x in r.read_text().splitlines() if not x.startswith("#")] == [
        x for x in b.read_text().splitlines() if not x.startswith("#")
    ]
    monkeypatch.setenv("SKYPEWATCH_ENGINE", "nonsense")
    assert main(["analyze", str(cap), "-o", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SKYPEWATCH_ENGINE" in err
    monkeypatch.setenv("SKYPEWATCH_ENGINE", "bulk")
    ppp = tmp_path / "ppp.pcap"
    ppp.write_bytes(pcap_bytes([(1.0, b"\xff\x03\x00\x21" + bytes(40))], 9))
    assert main(["analyze", "-q", str(ppp), "-o", str(tmp_path / "g")]) == 0
    assert "the bulk engine did not run" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_frames_without_a_packet_do_not_count_towards_the_bound(tmp_path, workers):
    """Records that decode to nothing (cut to nothing, ARP...) open no connection: thousands
    of them do not make the bulk engine fear a full table."""
    src = tmp_path / "d.pcap"
    capture(1, src)
    data = src.read_bytes()
    empty = data[24:32] + bytes(8)  # the first record's time, caplen 0, length 0
    cap = tmp_path / "empties.pcap"
    cap.write_bytes(data[:24] + empty * 300_000 + data[24:])  # more than half the bound
    s = analyze([cap], tmp_path / "b", engine="bulk", workers=workers)
    assert s.engine.startswith("bulk")
    ref = analyze([cap], tmp_path / "r", engine="reference")
    assert (s.packets, s.connections) == (ref.packets, ref.connections)
