"""Capture what a source answers into a folder that DirectorySource replays.

    out_dir/
      host.toml       os, captured_at (ISO 8601, UTC), hostname
      manifest.json   os, times, agent and Python versions, the capturing platform,
                      whether it was redacted, the unavailable specs; per spec: what it
                      is (path, argv + timeout, call), ok | unavailable (+ reason), exit
                      status (commands), start offset, duration, size
      <spec.name>     the content, byte for byte as the source returned it

A spec that was unavailable has no file (or, for a failed command that still printed
something, its output), and the manifest keeps the reason, so a replay fails the same way.

Specs found while collecting (smartctl per device) are not known up front, so probes can
be given instead of (or with) specs: they run against a recording wrapper, and whatever
they read is captured too:

    capture(LiveSource(), PROBES, Path("tests/fixtures/hosts/linux-debian12-vm"))

This is the format of tests/fixtures/hosts/<name>/.
"""

from __future__ import annotations

import contextlib
import json
import platform
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import agent
from agent.probes import Probe
from agent.probes.base import DEFAULT_CONTEXT, ProbeContext
from agent.redact import Redactor
from agent.sources import Source, Unavailable
from agent.specs import Call, Command, File, Spec

MANIFEST_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Reading:
    spec: Spec
    content: str | None  # None: unavailable
    reason: str
    output: str  # what a failed command printed anyway
    duration_s: float
    error_type: type[Unavailable] = Unavailable  # SourceTimeout stays a timeout on replay
    exit_status: int | None = None  # commands only
    started_s: float = 0.0  # since the capture began


class RecordingSource:
    """Reads through `inner` once per spec name and remembers every answer."""

    def __init__(self, inner: Source, redactor: Redactor | None = None) -> None:
        self.inner = inner
        self.redactor = redactor
        self.readings: dict[str, Reading] = {}
        self._t0 = time.perf_counter()

    @property
    def os(self) -> str:
        return self.inner.os

    @property
    def exit_codes(self) -> dict[str, int]:
        return {n: r.exit_status for n, r in self.readings.items() if r.exit_status is not None}

    def read(self, spec: Spec) -> str:
        if spec.name not in self.readings:
            t0 = time.perf_counter()
            status: int | None = None
            try:
                content: str | None = self.inner.read(spec)
                reason, output, error_type = "", "", Unavailable
            except Unavailable as exc:
                content, reason, output, error_type = None, str(exc), exc.output, type(exc)
                status = exc.exit_status
            duration = time.perf_counter() - t0
            codes: dict[str, int] = getattr(self.inner, "exit_codes", {})
            if isinstance(spec, Command) and status is None:
                status = codes.get(spec.name)
            if self.redactor is not None:
                # Redacted before probes see it, so the capture replays exactly as written.
                content = self.redactor.free_text(content) if content is not None else None
                output, reason = self.redactor.free_text(output), self.redactor.free_text(reason)
            self.readings[spec.name] = Reading(
                spec, content, reason, output, duration, error_type, status, t0 - self._t0
            )
        reading = self.readings[spec.name]
        if reading.content is None:
            raise reading.error_type(
                reading.reason, output=reading.output, exit_status=reading.exit_status
            )
        return reading.content


def capture(
    source: Source,
    specs: Iterable[Spec | Probe],
    out_dir: Path,
    *,
    hostname: str | None = None,
    redactor: Redactor | None = None,
    context: ProbeContext = DEFAULT_CONTEXT,
) -> dict[str, Reading]:
    """Write into a new `out_dir` the answer to every spec given, and for every probe
    given, to its `specs(os)` and to every spec it read while collecting.

    With a redactor, every answer is redacted (agent/redact.py) before it is written or
    parsed: a capture meant to be attached to a ticket carries no user names or secrets.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        # Stale files from another capture would be replayed as if this host had them.
        raise FileExistsError(f"{out_dir} is not empty")
    recorder = RecordingSource(source, redactor)
    started = datetime.now(UTC)
    items = tuple(specs)
    plain = [s for s in items if isinstance(s, File | Command | Call)]
    probes = [p for p in items if not isinstance(p, File | Command | Call)]
    for spec in (*plain, *(s for p in probes for s in p.specs(source.os))):
        with contextlib.suppress(Unavailable):  # recorded as unavailable
            recorder.read(spec)
    for probe in probes:
        # Only what the probes read matters here; what they make of it is the runner's job.
        with contextlib.suppress(Exception):
            probe.collect(recorder, context)
    _write(recorder, out_dir, hostname or socket.gethostname(), started, redactor is not None)
    return recorder.readings


def _write(
    recorder: RecordingSource, out_dir: Path, hostname: str, started: datetime, redacted: bool
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, object]] = {}
    for name, reading in sorted(recorder.readings.items()):
        entry = _describe(reading.spec)
        data = reading.content if reading.content is not None else reading.output
        if reading.content is not None or data:  # an empty file is content too
            # Bytes, so Windows \r\n line ends survive on any OS.
            (out_dir / name).write_bytes(data.encode("utf-8"))
        if reading.content is None:
            entry |= {"status": "unavailable", "reason": reading.reason}
        else:
            entry |= {"status": "ok"}
        if reading.exit_status is not None:
            entry["exit_status"] = reading.exit_status
        entry |= {
            "started_s": round(reading.started_s, 6),
            "duration_s": round(reading.duration_s, 6),
            "bytes": len(data.encode()),
        }
        entries[name] = entry
    captured_at = started.isoformat(timespec="seconds")
    manifest = {
        "format": MANIFEST_FORMAT,
        "os": recorder.os,
        "hostname": hostname,
        "captured_at": captured_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "agent_version": agent.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redacted": redacted,
        "unavailable": sorted(n for n, r in recorder.readings.items() if r.content is None),
        "specs": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    host = {"os": recorder.os, "captured_at": captured_at, "hostname": hostname}
    lines = [f"{key} = {_toml_string(value)}" for key, value in host.items()]
    (out_dir / "host.toml").write_text("\n".join(lines) + "\n", "utf-8")


def _describe(spec: Spec) -> dict[str, object]:
    match spec:
        case File():
            return {"type": "file", "path": spec.path}
        case Command():
            return {"type": "command", "argv": list(spec.argv), "timeout": spec.timeout}
        case Call():
            return {"type": "call", "func": spec.func_name}


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string once DEL (allowed raw in JSON) is escaped.
    return json.dumps(value).replace("\x7f", "\\u007f")
