"""Import-level contracts that code review alone would not keep.

* agent/parsers is pure: no I/O, no psutil, no subprocess, no platform checks.
* the agent never imports the collector, nor any library outside its five runtime
  dependencies (a workstation must not pull in web or database libraries).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "agent"

PARSER_FORBIDDEN = {"os", "sys", "platform", "subprocess", "socket", "psutil", "pathlib",
                    "io", "shutil", "cpuinfo", "grpc", "agent.sources", "agent.probes"}  # fmt: skip
# What the agent may import beyond the standard library (import names of its dependencies).
AGENT_THIRD_PARTY = {"psutil", "grpc", "google", "zstandard", "cpuinfo", "rdiag_proto"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _is(module: str, banned: str) -> bool:
    return module == banned or module.startswith(banned + ".")


@pytest.mark.parametrize("path", sorted((AGENT / "parsers").glob("*.py")), ids=lambda p: p.name)
def test_parsers_are_pure(path: Path) -> None:
    bad = sorted(m for m in imports_of(path) for b in PARSER_FORBIDDEN if _is(m, b))
    assert not bad, f"{path.name} imports {bad}: parsers take text and return records"
    assert "open(" not in path.read_text(encoding="utf-8")


def test_agent_imports_only_its_declared_dependencies() -> None:
    stdlib = sys.stdlib_module_names
    offenders: dict[str, set[str]] = {}
    for path in AGENT.rglob("*.py"):
        for module in imports_of(path):
            top = module.split(".")[0]
            if top in stdlib or top == "agent" or top in AGENT_THIRD_PARTY:
                continue
            if path.name == "launch.py" and module == "collector.sim.cli":
                continue  # rdiag-agent simulate, below
            offenders.setdefault(str(path.relative_to(ROOT)), set()).add(module)
    assert not offenders, f"the agent must not import these: {offenders}"
    collector_users = [
        str(p.relative_to(ROOT))
        for p in AGENT.rglob("*.py")
        if any(_is(m, "collector") for m in imports_of(p))
    ]
    # The one exception: the launcher hands `rdiag-agent simulate` (a CI tool) to the
    # collector's package before anything of the agent loads (agent/launch.py).
    assert collector_users == ["agent/launch.py"]
    assert imports_of(AGENT / "launch.py") & {"collector", "collector.sim.cli"} == {
        "collector.sim.cli"
    }


def test_agent_runtime_dependencies_are_the_five() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
             for d in project["dependencies"]}  # fmt: skip
    assert names == {"psutil", "grpcio", "protobuf", "zstandard", "py-cpuinfo"}


def test_agent_run_path_loads_no_collector_libraries() -> None:
    """What `rdiag-agent run` imports, checked in a fresh interpreter."""
    code = (
        "import sys, agent.cli, agent.service, agent.probes, agent.runner;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'alembic', 'yaml', 'psycopg', 'collector', 'fastapi', 'requests'});"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
