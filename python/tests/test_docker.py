"""docker/: what can be held without a container engine.  `make docker-test` builds and runs
the stack where docker or podman is present; these checks run everywhere."""

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
    # The official image by default; a stand-in only when named at build time.
    assert re.search(r"^ARG ZEEK_IMAGE=zeek/zeek$", zeek, re.M)
    assert re.findall(r"^FROM (\S+)", zeek, re.M) == ["${ZEEK_IMAGE}:${ZEEK_VERSION}"]
    corr = (DOCKER / "correlator.Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", corr, re.M).group(1)
    assert base.startswith("python:") and not base.endswith(":latest")
    assert re.search(r"\d+\.\d+\.\d+", base)
    assert {f for f in re.findall(r"^FROM (\S+)", corr, re.M)} == {"${PYTHON_IMAGE}"}
    for name, svc in compose()["services"].items():
        args = (svc.get("build") or {}).get("args", {})
        if "ZEEK_VERSION" in args:
            assert args["ZEEK_VERSION"] == "${ZEEK_VERSION:-" + default.group(1) + "}", name
            assert args["ZEEK_IMAGE"] == "${ZEEK_IMAGE:-zeek/zeek}", name
        if "PYTHON_IMAGE" in args:
            assert args["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-" + base + "}", name


def test_correlator_image_is_multi_stage():
    """The final stage takes the built environment only: no sources, no build step."""
    corr = (DOCKER / "correlator.Dockerfile").read_text()
    stages = re.split(r"^FROM ", corr, flags=re.M)[1:]
    assert len(stages) == 2 and stages[0].split()[2] == "build"
    final = stages[1]
    assert "COPY --from=build /opt/skypewatch /opt/skypewatch" in final
    assert "pip install" not in final and "COPY python/" not in final
    assert "pip uninstall -y -q pip" in stages[0]


def test_pip_configuration_arrives_as_build_secrets_only():
    """The host's pip configuration is mounted for one step, never baked into a layer, and
    no package index address is written in any file of docker/."""
    for path in [*DOCKER.glob("*.Dockerfile"), *DOCKER.glob("local/*.Dockerfile")]:
        text = path.read_text()
        for line in text.splitlines():
            if "pip install" in line and "--no-cache-dir" in line:
                assert "secret" in text, path
            assert not re.match(r"\s*(ENV|ARG)\s+PIP_", line), (path, line)
        assert re.findall(r"--mount=type=secret,id=(\w+)", text) in ([], ["pipconf", "pipca"])
    for path in DOCKER.rglob("*"):
        if path.is_file() and path.parent.name != "logs":
            text = path.read_text()
            assert not re.search(r"(index-url|find-links)\s*[=:]?\s*['\"]?\w+://", text), path
            assert not re.search(r"\bpypi\.org|files\.pythonhosted", text), path


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


def test_no_credentials():
    pattern = re.compile(
        r"(PASSWORD|TOKEN|API_KEY|PRIVATE_KEY|SECRET_KEY)\w*\s*[=:]\s*['\"]?\w", re.I
    )
    for path in DOCKER.rglob("*"):
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


def test_correlator_log_folder_is_made_for_its_user():
    """Zeek and the correlator share the /logs mount; each writes a notice.log, so the
    correlator writes into its own folder, which the (root) Zeek container makes for its uid."""
    corr = (DOCKER / "correlator.Dockerfile").read_text()
    uid = re.search(r"useradd --uid (\d+)", corr).group(1)
    assert re.findall(r"^USER (\S+)$", corr, re.M)[-1] == uid
    entry = (DOCKER / "zeek-entrypoint.sh").read_text()
    assert 'chown "${CORRELATOR_UID:-' + uid + '}" correlator' in entry
    assert '"${LOG_DIR:-/logs/correlator}"' in (DOCKER / "correlator-entrypoint.sh").read_text()


def test_make_test_does_not_build_images():
    makefile = (REPO / "Makefile").read_text()
    prereqs = re.search(r"^test:(.*)$", makefile, re.M).group(1).split()
    assert "check-docker" in prereqs
    assert not {"docker-test", "docker-live-test"} & set(prereqs)
