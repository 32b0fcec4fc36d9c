"""The generated protobuf code is ours, importable under its own name, and fresh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import rdiag_proto
from rdiag_proto.v1 import collector_pb2, telemetry_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
GENERATED = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def test_generated_package_is_ours_not_a_namesake() -> None:
    # Google's proto-plus installs a top-level `proto`; ours must never be shadowed by it.
    assert Path(rdiag_proto.__file__).resolve().is_relative_to(PROTO)
    assert collector_pb2.DESCRIPTOR.package == "rdiag.v1"
    assert telemetry_pb2.DESCRIPTOR.package == "rdiag.v1"


def test_no_top_level_proto_package_of_ours() -> None:
    assert not (PROTO / "__init__.py").exists(), "proto/ must not be an import package"


def test_committed_code_matches_the_generator(tmp_path: Path) -> None:
    """Regenerate with the pinned grpcio-tools and mypy-protobuf and diff file by file."""
    out = tmp_path / "gen"
    result = subprocess.run(
        [sys.executable, str(PROTO / "generate.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    committed = sorted(p.relative_to(PROTO) for p in PROTO.rglob("*") if p.name.endswith(GENERATED))
    fresh = sorted(p.relative_to(out) for p in out.rglob("*") if p.name.endswith(GENERATED))
    assert committed == fresh, "generated files differ in name: run `make proto`"
    stale = [str(p) for p in committed if (PROTO / p).read_bytes() != (out / p).read_bytes()]
    assert not stale, f"stale generated code (run `make proto` and commit): {stale}"


@pytest.mark.parametrize("proto", sorted(PROTO.rglob("*.proto")), ids=lambda p: p.name)
def test_every_proto_has_generated_code(proto: Path) -> None:
    for suffix in GENERATED:
        assert proto.with_name(proto.stem + suffix).exists()
