"""The compiled hot path (collector/native.py): used only when built from the current
source, all or nothing, and what crosses to a worker still pickles."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest

from collector import native
from collector.engine import history as history_module
from collector.engine.history import HostHistory, RuleState, StoredEvent
from collector.ingest.evaluator import BatchIn, Limits, StreamState
from collector.ingest.workers import Setup, _frame, _read_frame
from collector.tickets.policy import TicketPolicy
from tests.helpers.procs import env

ROOT = Path(__file__).resolve().parents[2]


def _round_trip(obj: object) -> Any:
    return _read_frame(cast(Any, io.BytesIO(_frame(obj))))


def _fake_build(root: Path, *, skip: str = "", age_s: float = 0.0) -> None:
    """Sources and empty 'extensions' in a scratch tree (status() reads names and mtimes)."""
    suffix = native._SUFFIXES[0]
    for path in native.MODULES:
        source = root / path
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("# source\n")
        if path != skip:
            source.with_name(source.stem + suffix).write_bytes(b"")
    lib = native._library(root)
    lib.with_name(lib.name + suffix).write_bytes(b"")
    if age_s:
        old = time.time() - age_s
        for ext in root.rglob(f"*{suffix}"):
            os.utime(ext, (old, old))


def test_a_complete_build_newer_than_its_sources_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RDIAG_NATIVE", raising=False)
    _fake_build(tmp_path)
    allowed, why = native.status(tmp_path)
    assert allowed, why


def test_a_source_edited_after_the_build_keeps_the_whole_group_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RDIAG_NATIVE", raising=False)
    _fake_build(tmp_path, age_s=60)
    allowed, why = native.status(tmp_path)
    assert not allowed
    assert "stale build" in why and native.MODULES[0] in why


def test_an_incomplete_build_or_none_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RDIAG_NATIVE", raising=False)
    missing = native.MODULES[2]
    _fake_build(tmp_path, skip=missing)
    allowed, why = native.status(tmp_path)
    assert not allowed and missing in why and "incomplete" in why
    shutil.rmtree(tmp_path / "collector")
    (tmp_path / "collector").mkdir()
    assert native.status(tmp_path) == (False, "not built (make native)")


def test_rdiag_native_0_disables_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_build(tmp_path)
    monkeypatch.setenv("RDIAG_NATIVE", "0")
    assert native.status(tmp_path) == (False, "disabled by RDIAG_NATIVE=0")


def _loaded_files(extra_env: dict[str, str]) -> list[str]:
    names = [native.module_name(p) for p in native.MODULES]
    code = "import importlib\n" + "".join(
        f"print(importlib.import_module({n!r}).__file__)\n" for n in names
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env() | extra_env, capture_output=True, text=True,
        check=True, cwd=ROOT,
    )  # fmt: skip
    return out.stdout.split()


def test_disabled_means_every_module_loads_from_its_source() -> None:
    files = _loaded_files({"RDIAG_NATIVE": "0"})
    assert len(files) == len(native.MODULES)
    assert all(f.endswith(".py") for f in files), files


def test_where_it_is_built_every_module_runs_compiled() -> None:
    allowed, why = native.status()
    if not allowed:
        # CI builds it (make test runs `make native` first): there, not built is a failure.
        assert os.environ.get("CI") != "true", f"CI runs without the compiled modules: {why}"
        pytest.skip(f"the compiled modules are not in use here: {why}")
    files = _loaded_files({})
    assert all(not f.endswith(".py") for f in files), files
    assert all(native.loaded().values())


def test_a_stream_state_with_history_crosses_to_a_worker_intact() -> None:
    hist = HostHistory("pc-1", max_events=50, max_points=60)
    hist.load(
        [StoredEvent("k1", 1_000, "disk.io_error", "error", "I/O error", {"device": "sda"})],
        [("volume.used_bytes", "/", 1_000, 40.0)],
        [RuleState("disk.volume_nearly_full", "/", phase="active", occurrences=3)],
        1_000,
    )
    hist.horizon_ms = 123
    state = StreamState("pc-1", hist, None, evaluated_seq=9)
    back = _round_trip(("open", 1, state))[2]
    assert isinstance(back, StreamState) and back.evaluated_seq == 9
    got = back.history
    assert (got.agent_id, got.max_events, got.max_points, got.horizon_ms) == ("pc-1", 50, 60, 123)
    assert got.states == hist.states
    assert list(got.events(["disk.io_error"], 0, 2_000)) == list(
        hist.events(["disk.io_error"], 0, 2_000)
    )
    assert got.points("volume.used_bytes", "/", 0, 2_000) == [(1_000, 40.0)]
    assert got.last_snapshot_ms == 1_000


def test_the_history_pickles_every_attribute_it_has() -> None:
    # __reduce__ names them (a compiled class has no __dict__ to copy): a new attribute
    # left out of _HISTORY_STATE would be lost on the way to a worker.
    compiled = HostHistory.__dict__.get("__mypyc_attrs__")
    names = set(compiled) if compiled else set(vars(HostHistory("x")))
    assert names - {"agent_id", "__dict__"} == set(history_module._HISTORY_STATE)


def test_frozen_records_of_compiled_modules_cross_as_they_are() -> None:
    limits = Limits(max_batch_bytes=1 << 20, policy=TicketPolicy())
    batch = BatchIn(1, 3, 3, 1, 0, b"payload", held=(("r", "c", "storm"),))
    setup = Setup(
        (("a.yaml", "id: a"),), (("site", ("10.0.0.0/8",)),), None, limits, "info", "text"
    )
    assert _round_trip(limits) == limits
    assert _round_trip(batch) == batch
    assert _round_trip(setup) == setup


def test_the_engine_and_tickets_also_pass_from_source() -> None:
    # The suite runs against the compiled modules where they are built (CI): the source is
    # what a host without a compiler runs, so the engine's and tickets' tests run on it too.
    tests = ["tests/collector/engine", "tests/collector/tickets/test_render.py",
             "tests/collector/ingest/test_convert_memo.py"]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-W", "error", *tests],
        env=env() | {"RDIAG_NATIVE": "0"}, capture_output=True, text=True, cwd=ROOT,
        check=False, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " failed" not in out.stdout
