"""skypewatch's fuzz suite: one target per parser, run briefly by the test suite
(``tests/fuzz``) and for as long as you like by ``python -m fuzz.run`` (``make fuzz``).

Targets (each a module here with a ``TARGET``): ``pcap``, ``pcapng``, ``tsv-log``,
``json-log``, ``conn-log``, ``ws-codec``, ``cli``.  ``harness.py`` says what a finding is.
"""

from __future__ import annotations

import importlib

from .harness import Target

MODULES = {
    "pcap": "pcap",
    "pcapng": "pcapng",
    "tsv-log": "tsv_log",
    "json-log": "json_log",
    "conn-log": "conn_log",
    "ws-codec": "ws_codec",
    "cli": "cli_options",
}
NAMES = tuple(MODULES)


def load(name: str) -> Target:
    return importlib.import_module(f"{__name__}.{MODULES[name]}").TARGET
