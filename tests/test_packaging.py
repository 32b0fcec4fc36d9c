"""The shipped packaging files are valid and agree with the code they install."""

from __future__ import annotations

import configparser
import dataclasses
import plistlib
import re
import tomllib
import typing
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from agent.common.config import load
from agent.config import AgentConfig
from collector.config import CollectorConfig

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def documented_keys(text: str) -> set[str]:
    """Dotted keys of a TOML example, commented-out ones included."""
    keys: set[str] = set()
    section = ""
    for line in text.splitlines():
        line = line.strip().removeprefix("# ").strip()
        if m := re.fullmatch(r"\[([\w.]+)\].*", line):
            section = m.group(1)
        elif m := re.match(r"(\w+) = ", line):
            keys.add(f"{section}.{m.group(1)}")
    return keys


def declared_keys(cls: type[Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, tp in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            keys |= declared_keys(tp, f"{prefix}{name}.")  # type: ignore[arg-type]
        else:
            keys.add(prefix + name)
    return keys


@pytest.mark.parametrize(
    ("path", "cls", "prefix"),
    [
        (PACKAGING / "agent" / "agent.toml", AgentConfig, "RDIAG_AGENT_"),
        (PACKAGING / "collector" / "collector.toml", CollectorConfig, "RDIAG_COLLECTOR_"),
    ],
    ids=["agent", "collector"],
)
def test_example_config_loads_and_documents_every_key(path: Path, cls: type, prefix: str) -> None:
    loaded: object = load(cls, path, env_prefix=prefix, environ={})
    defaults = cls()
    # The example shows the defaults, so loading it changes nothing.
    assert loaded == defaults
    assert documented_keys(path.read_text()) == declared_keys(cls)


def test_systemd_units_run_the_installed_console_scripts() -> None:
    for unit in PACKAGING.rglob("*.service"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        exec_start = parser["Service"]["ExecStart"].split()
        assert Path(exec_start[0]).name in SCRIPTS, unit
        assert parser["Service"]["KillSignal"] == "SIGTERM"
        assert "run" in exec_start or "serve" in exec_start


def test_agent_unit_bounds_the_agent() -> None:
    text = (PACKAGING / "agent" / "linux" / "rdiag-agent.service").read_text()
    assert re.search(r"^MemoryMax=\d+M$", text, re.M)
    assert re.search(r"^CPUQuota=\d+%$", text, re.M)


def test_launchd_plist_and_winsw_xml_parse() -> None:
    plist = plistlib.loads((PACKAGING / "agent" / "macos" / "net.rdiag.agent.plist").read_bytes())
    assert Path(plist["ProgramArguments"][0]).name == "rdiag-agent"
    assert plist["ProgramArguments"][-1] == "run"
    service = ET.parse(PACKAGING / "agent" / "windows" / "rdiag-agent.xml").getroot()
    assert service.findtext("id") == "rdiag-agent"
    assert (service.findtext("executable") or "").endswith("rdiag-agent.exe")
