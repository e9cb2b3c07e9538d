"""skypewatch.analyst.logs, query and report: types, streaming, round trips, views, and the report
as a person sees it (a headless-browser screenshot)."""

from __future__ import annotations

import filecmp
import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_capture
from skypelog_gen import plain_lines
from test_inside_outside import inside

from skypewatch.analyst.logs import LogReadError, iter_log, read_log, write_log
from skypewatch.analyst.query import Filter, parse_network, parse_time, run_query
from skypewatch.analyst.report import build_report
from skypewatch.analyze import analyze
from skypewatch.cli import main


@pytest.fixture(scope="module")
def irc_logs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("irc")
    analyze([shared_capture("skype", "SkypeIRC.cap")], out)
    return out


@pytest.fixture(scope="module")
def irc_json(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ircjson")
    analyze([shared_capture("skype", "SkypeIRC.cap")], out, use_json=True)
    return out


def test_type_map(irc_logs):
    df = read_log(irc_logs / "skype.log")
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert str(df["duration"].dtype) == "timedelta64[ns]"
    assert str(df["id.orig_p"].dtype) == "UInt16"
    assert str(df["client"].dtype) == "string"
    assert all(isinstance(v, list) and v for v in df["signatures"])
    # unset is missing, never 0/False/"": most lines have no public IP and no version
    assert df["client_public_ip"].isna().sum() > 50
    assert df["skype_version"].isna().sum() > 50 and (df["skype_version"] == "1.2.0.18").sum() == 2
    # exact: the microseconds Zeek's format wrote, no float noise
    first = df.loc[df["uid"] == df["uid"].iloc[0], "ts"].iloc[0]
    assert first.value % 1000 == 0
    notices = read_log(irc_logs / "notice.log")
    assert str(notices["n"].dtype) == "UInt64" and notices["actions"].iloc[0] == [
        "Notice::ACTION_LOG"
    ]
    assert notices["email_dest"].iloc[0] == []  # (empty) is an empty list
    assert pd.isna(notices["fuid"].iloc[0])


def test_tsv_round_trip_is_byte_identical(irc_logs, tmp_path):
    for name in ("skype.log", "notice.log"):
        df = read_log(irc_logs / name)
        back = write_log(df, tmp_path)
        assert filecmp.cmp(back, irc_logs / name, shallow=False), name


def test_json_reads_the_same_values(irc_logs, irc_json):
    tsv = read_log(irc_logs / "skype.log")
    js = read_log(irc_json / "skype.log")
    assert list(js.columns) == list(tsv.columns)
    pd.testing.assert_series_equal(js["ts"], tsv["ts"])
    assert js["signatures"].map(sorted).tolist() == tsv["signatures"].map(sorted).tolist()
    assert js["client_public_ip"].isna().tolist() == tsv["client_public_ip"].isna().tolist()


def test_streams_in_chunks_and_reads_gzip_and_directories(irc_logs, tmp_path):
    chunks = list(iter_log(irc_logs / "skype.log", chunksize=25))
    assert len(chunks) == 5 and sum(map(len, chunks)) == 109
    with gzip.open(tmp_path / "skype.1.log.gz", "wb") as fh:
        fh.write((irc_logs / "skype.log").read_bytes())
    shutil.copy(irc_logs / "skype.log", tmp_path / "skype.2.log")
    both = read_log(tmp_path)
    assert len(both) == 218


def test_errors_name_file_and_line(tmp_path, irc_logs):
    lines = (irc_logs / "skype.log").read_text().splitlines()
    bad = [*lines[:9], "\t".join(["x"] * 3), *lines[9:]]
    p = tmp_path / "bad.log"
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(LogReadError, match=f"{p}"):
        read_log(p)
    badtime = [*lines[:8], "nonsense" + lines[8][lines[8].index("\t") :], *lines[9:]]
    p2 = tmp_path / "badtime.log"
    p2.write_text("\n".join(badtime) + "\n")
    with pytest.raises(LogReadError, match="column 'ts'"):
        read_log(p2)
    js = tmp_path / "bad.json.log"
    js.write_text('{"ts": 1}\nnot json\n')
    with pytest.raises(LogReadError, match=r"bad.json.log:2: not JSON"):
        read_log(js)


def test_query_views(irc_logs):
    clients = run_query([irc_logs / "skype.log"], "clients", Filter())
    top = clients.iloc[0]
    assert top["client"] == "192.168.1.2" and top["public_ips"] == "86.128.245.115"
    assert top["versions"] == "1.2.0.18" and top["confidence"] == "confirmed"
    assert top["stages"] == "probe,sn_handshake,login,version_check"
    relays = run_query([irc_logs / "skype.log"], "local-super-nodes", Filter())
    assert relays["node"].tolist() == ["192.168.1.2"] and relays["outside_clients"].iloc[0] == 3
    logins = run_query(
        [irc_logs / "skype.log"],
        "lines",
        Filter(stages={"login"}, networks=[parse_network("192.168.1.0/24")]),
    )
    assert len(logins) == 4
    late = run_query(
        [irc_logs / "skype.log"], "lines", Filter(since=parse_time("2006-08-25T19:35:00"))
    )
    assert 0 < len(late) < 109 and (late["ts"] >= parse_time("2006-08-25T19:35:00")).all()
    none = run_query(
        [irc_logs / "skype.log"], "clients", Filter(networks=[parse_network("10.0.0.0/8")])
    )
    assert none.empty


def _own_lines(logs: Path) -> list[dict[str, str]]:
    """skype.log read as text, less the lines of an outside client reaching an inside peer
    (test_inside_outside.py checks that rule)."""
    return [
        ln
        for ln in plain_lines(logs / "skype.log")
        if inside(ln["client"]) or not inside(ln["peer"])
    ]


def _irc_super_nodes(logs: Path) -> set[str]:
    return {ln["peer"] for ln in _own_lines(logs) if ln["peer_role"] == "super_node"}


def _irc_clients(logs: Path) -> set[str]:
    return {ln["client"] for ln in _own_lines(logs)}


def test_query_cli_formats(irc_logs, tmp_path, capsys):
    assert main(["query", str(irc_logs / "skype.log"), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["client"] == "192.168.1.2" and rows[0]["first_seen"].startswith("2006-08-25T")
    assert (
        main(
            [
                "query",
                str(irc_logs / "skype.log"),
                "--view",
                "super-nodes",
                "--format",
                "parquet",
                "-o",
                str(tmp_path / "sn.parquet"),
            ]
        )
        == 0
    )
    assert len(pd.read_parquet(tmp_path / "sn.parquet")) == len(_irc_super_nodes(irc_logs))
    lines = tmp_path / "lines.parquet"
    assert main(["query", str(irc_logs / "skype.log"), "--view", "lines", "-o", str(lines),
                 "--format", "parquet"]) == 0  # fmt: skip
    assert pd.read_parquet(lines)["signatures"].str.contains("login_handshake").sum() == 4
    assert main(["query", str(irc_logs / "skype.log"), "--view", "lines", "--format", "csv"]) == 0
    assert "['login_handshake', 'login_records']" in capsys.readouterr().out
    assert main(["query", str(irc_logs / "skype.log"), "--format", "parquet"]) == 2
    assert "give -o FILE" in capsys.readouterr().err
    assert main(["query", str(irc_logs / "skype.log"), "--view", "bogus"]) == 2


def _screenshot(html: Path, png: Path) -> bool:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return False
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={png.parent / 'chrome'}",
            "--window-size=1200,2000",
            f"--screenshot={png}",
            html.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return png.exists()


def test_report_is_self_contained_and_renders(irc_logs, tmp_path):
    r = build_report([irc_logs], tmp_path / "report.html", png_dir=tmp_path / "png")
    text = r.html.read_text()
    assert r.clients == len(_irc_clients(irc_logs))
    assert r.notices == len(plain_lines(irc_logs / "notice.log")) == 1
    assert text.count("data:image/png;base64,") == 3
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "Skype::Login_Sequence" in text and "86.128.245.115" in text
    assert sorted(p.name for p in r.pngs) == ["fanout.png", "timeline.png", "top-talkers.png"]
    shot = tmp_path / "report.png"
    if not _screenshot(r.html, shot):
        pytest.skip("no chromium: the report was not rendered in a browser")
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size == (1200, 2000)
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the page rendered as more than a blank"


def test_report_with_no_detections_says_so(tmp_path):
    empty = tmp_path / "logs"
    from skypewatch.synth.scenarios import SynthOptions, synthesize

    cap = synthesize("open-1.4", tmp_path / "x.pcap", SynthOptions(clients=1))
    analyze([cap.pcap], empty)
    # keep the header, drop every line: a skype.log with zero detections
    lines = [ln for ln in (empty / "skype.log").read_text().splitlines() if ln.startswith("#")]
    (empty / "skype.log").write_text("\n".join(lines) + "\n")
    (empty / "notice.log").unlink()
    r = build_report([empty], tmp_path / "none.html")
    text = r.html.read_text()
    assert "No Skype detections in these logs" in text and "<img" not in text


CONN_LOG = """\
#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2026-11-27-12-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1156534340.411397\tCdor4mcu2q22000000\t192.168.1.2\t1325\t195.215.8.141\t33033\ttcp\t-\t30.795831\t486\t304\tSF\tT\tF\t0\tShADadFf\t8\t810\t6\t624\t(empty)
1156534326.635198\tCOKB9AXHeTaB000000\t192.168.1.2\t35990\t86.197.95.238\t44019\tudp\t-\t-\t-\t-\tS0\tT\tF\t0\tD\t1\t46\t0\t0\tCabc,Cdef
#close\t2026-11-27-12-00-01
"""


def test_conn_log_types_and_round_trip(tmp_path):
    p = tmp_path / "conn.log"
    p.write_text(CONN_LOG)
    df = read_log(p)
    assert str(df["orig_bytes"].dtype) == "UInt64" and pd.isna(df["orig_bytes"].iloc[1])
    assert str(df["local_orig"].dtype) == "boolean" and bool(df["local_orig"].iloc[0])
    assert df["duration"].iloc[0] == pd.Timedelta(microseconds=30_795_831)
    assert pd.isna(df["duration"].iloc[1]) and pd.isna(df["service"].iloc[0])
    assert df["tunnel_parents"].tolist() == [[], ["Cabc", "Cdef"]]
    assert filecmp.cmp(write_log(df, tmp_path / "out"), p, shallow=False)
