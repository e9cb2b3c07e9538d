"""docker/: what can be held without a Docker engine (the images are not built here)."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

DOCKER = REPO / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_images_are_pinned_by_tag():
    zeek = (DOCKER / "zeek.Dockerfile").read_text()
    default = re.search(r"^ARG ZEEK_VERSION=(\S+)$", zeek, re.M)
    assert default and re.fullmatch(r"\d+\.\d+\.\d+", default.group(1))
    assert re.search(r"^FROM zeek/zeek:\$\{ZEEK_VERSION\}$", zeek, re.M)
    corr = (DOCKER / "correlator.Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)$", corr, re.M).group(1)
    assert ":" in base and not base.endswith(":latest") and re.search(r"\d+\.\d+\.\d+", base)
    for name, svc in compose()["services"].items():
        args = (svc.get("build") or {}).get("args", {})
        if "ZEEK_VERSION" in args:
            assert args["ZEEK_VERSION"] == "${ZEEK_VERSION:-" + default.group(1) + "}", name


def test_correlator_runs_unprivileged():
    corr = (DOCKER / "correlator.Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)$", corr, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "skypewatch correlate --zeek" in (DOCKER / "correlator-entrypoint.sh").read_text()


def test_websocket_is_reachable_on_the_compose_network_only():
    c = compose()
    for name in ("zeek", "correlator"):
        assert "ports" not in c["services"][name], f"{name} publishes a port to the host"
        assert c["services"][name]["networks"] == ["skypewatch"]
    assert c["networks"]["skypewatch"]["internal"] is True
    assert c["services"]["correlator"]["environment"]["ZEEK_URL"] == "ws://zeek:27759"
    assert c["services"]["zeek-live"]["environment"]["WEBSOCKET_ADDRESS"] == "127.0.0.1"


def test_no_secrets():
    pattern = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)", re.I)
    for path in DOCKER.iterdir():
        if (
            path.is_file() and path.suffix in (".yml", ".sh", ".zeek")
        ) or "Dockerfile" in path.name:
            assert not pattern.search(path.read_text()), path


def test_zeek_entrypoint_loads_the_package_and_listener_and_logs_are_mounted():
    entry = (DOCKER / "zeek-entrypoint.sh").read_text()
    assert "skypewatch skypewatch/websocket" in entry
    c = compose()
    assert "./logs:/logs" in c["services"]["zeek"]["volumes"]
    assert "./logs:/logs" in c["services"]["correlator"]["volumes"]
    assert any(v.endswith(":/pcaps:ro") for v in c["services"]["zeek"]["volumes"])
    assert "zkg install" in (DOCKER / "zeek.Dockerfile").read_text()
