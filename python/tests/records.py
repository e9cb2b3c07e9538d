"""skype.log records for the correlator's tests: one likely probe line, and variations of it."""

from __future__ import annotations

from dataclasses import replace

from skypewatch.skypelog import SkypeRecord

BASE = SkypeRecord(
    ts=1000.0,
    uid="C1",
    orig_h="10.0.0.5",
    orig_p=35990,
    resp_h="81.1.1.1",
    resp_p=4000,
    proto="udp",
    duration=1.0,
    stage="probe",
    signatures=frozenset({"u1_u2_nack"}),
    client="10.0.0.5",
    peer="81.1.1.1",
    peer_role="super_node",
    client_public_ip="86.1.1.1",
    skype_version=None,
    confidence="likely",
    evidence="x",
)


def rec(**kw: object) -> SkypeRecord:
    """The probe line with the fields in *kw* changed."""
    return replace(BASE, **kw)
