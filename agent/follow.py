"""Event-driven log following: the kernel log, as it is written, with a persisted cursor.

A follower thread reads entries from a LogReader, keeps those the kernel-log signatures
classify (agent/parsers/kernel_log.py), redacts them and spools each as an Event in the
same transaction as its cursor (Spool.append(cursor=...)). So after a crash or restart the
follower resumes right after the last entry it spooled: nothing is sent twice, and nothing
still in the retained log is missed. Entries that match nothing only advance the cursor
(saved at most every CURSOR_SAVE_S, so a restart re-reads at most that much and finds
nothing new in it).

Readers, chosen by `kernel_log_reader()`:

| reader        | reads                                   | cursor                        |
|---------------|-----------------------------------------|-------------------------------|
| JournalReader | `journalctl -k -f -o json`              | journald's __CURSOR           |
| KmsgReader    | /dev/kmsg (no journald: containers, old)| "<boot id>:<seq>"             |
| SourceReader  | a capture's `kmsg` dump (replay, sims)  | "<boot id>:<seq>"             |

Errors and above are spooled CRITICAL and wake the uplink at once; warnings wait for the
next batch. A storm (a dying disk logs thousands of I/O errors a minute) is cut by a token
bucket per kind; what it holds back is counted as a drop ("rate_limited:<kind>") and so
reaches the collector in AgentStats.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from agent.parsers import ParseError, journal_json, kmsg
from agent.parsers.kernel_log import classify
from agent.records import Event, Priority
from agent.redact import Redactor
from agent.sources import Source, Unavailable
from agent.specs import KMSG_DUMP
from agent.uplink.convert import encode_body
from agent.uplink.spool import Spool

log = logging.getLogger("rdiag.agent.follow")

CURSOR_NAME = "kernel"
CURSOR_SAVE_S = 5.0
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 300.0
POLL_S = 1.0
MAX_ENTRY_CHARS = 2000  # one log line; longer ones are cut (a hex dump is no evidence)


@dataclass(frozen=True, slots=True)
class Entry:
    cursor: str
    time_ms: int
    message: str
    device: str = ""


class LogReader(Protocol):
    name: str

    def poll(self, timeout: float) -> list[Entry]:
        """Entries written since the last poll (waits up to `timeout` for the first)."""
        ...

    def close(self) -> None: ...


class KmsgReader:
    """/dev/kmsg: one record per read(2); EPIPE means the ring buffer overwrote records
    we had not read yet (counted, then reading goes on from the oldest still there)."""

    name = "kmsg"

    def __init__(
        self,
        boot_id: str,
        boot_time_ms: int,
        after_seq: int = -1,
        path: str = "/dev/kmsg",
        *,
        kernel_only: bool = True,
    ) -> None:
        self.boot_id = boot_id
        self.boot_time_ms = boot_time_ms
        self.after_seq = after_seq
        # Userspace may write to /dev/kmsg too (facility "user" or "daemon"): only the
        # kernel's own records (facility 0) are evidence of what the kernel saw.
        self.kernel_only = kernel_only
        self.overruns = 0
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def poll(self, timeout: float) -> list[Entry]:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        entries: list[Entry] = []
        while ready and len(entries) < 1000:
            try:
                data = os.read(self._fd, 16384)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    self.overruns += 1
                    continue
                raise
            record = kmsg.parse_record(data.decode("utf-8", errors="replace"))
            if record is None or record.seq <= self.after_seq:
                continue
            if self.kernel_only and record.facility != 0:
                continue
            entries.append(
                Entry(
                    f"{self.boot_id}:{record.seq}",
                    self.boot_time_ms + record.usec // 1000,
                    record.message,
                    record.device,
                )
            )
        return entries

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class JournalReader:
    """`journalctl -k -f -o json`, from the saved cursor or from the start of this boot."""

    name = "journal"

    def __init__(self, cursor: str | None) -> None:
        argv = ["journalctl", "-k", "-f", "-o", "json", "--no-pager"]
        argv += [f"--after-cursor={cursor}"] if cursor else ["-b"]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        self._out = self._proc.stdout
        os.set_blocking(self._out.fileno(), False)
        self._partial = b""

    def poll(self, timeout: float) -> list[Entry]:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            return []
        chunk = self._out.read(1 << 16) or b""
        if not chunk and self._proc.poll() is not None:
            raise OSError(f"journalctl exited with status {self._proc.returncode}")
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if not lines:
            return []
        try:
            parsed = journal_json.parse(b"\n".join(lines).decode("utf-8", errors="replace"))
        except ParseError:
            return []  # nothing but garbled lines in this chunk; the next one may be fine
        # journald tags userspace writes to /dev/kmsg with their own identifier.
        return [
            Entry(e.cursor, e.time_ms, e.message) for e in parsed.value if e.identifier == "kernel"
        ]

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=2)
        self._out.close()


class SourceReader:
    """A capture's kmsg dump, read once: a replayed or simulated host's kernel log."""

    name = "capture"

    def __init__(self, source: Source, boot_id: str, boot_time_ms: int, after_seq: int) -> None:
        self._entries: list[Entry] | None = None
        self._source = source
        self._boot = (boot_id, boot_time_ms, after_seq)

    def poll(self, timeout: float) -> list[Entry]:
        if self._entries is not None:
            time.sleep(min(timeout, 0.05))
            return []
        boot_id, boot_ms, after = self._boot
        try:
            text = self._source.read(KMSG_DUMP)
        except Unavailable:
            text = ""  # a capture made without the kernel log (dmesg_restrict, not root)
        records = kmsg.parse(text).value
        self._entries = [
            Entry(f"{boot_id}:{r.seq}", boot_ms + r.usec // 1000, r.message, r.device)
            for r in records
            if r.seq > after and r.facility == 0
        ]
        return self._entries

    def close(self) -> None:
        pass


def _lines(entries: Iterable[Entry]) -> Iterable[Entry]:
    """One entry per line: the kernel escapes a newline inside a record as \\x0a (libata's
    "res ..." line, md's "Operation continuing ..."), and each line is its own evidence."""
    for entry in entries:
        if "\\x0a" not in entry.message:
            yield entry
            continue
        for line in entry.message.split("\\x0a"):
            if line.strip():
                yield Entry(entry.cursor, entry.time_ms, line, entry.device)


def kmsg_after(cursor: str | None, boot_id: str) -> int:
    """The last seq spooled in this boot, or -1 (a new boot: its whole buffer is new)."""
    if cursor:
        saved_boot, _, seq = cursor.rpartition(":")
        if saved_boot == boot_id and seq.isdigit():
            return int(seq)
    return -1


def journal_cursor(cursor: str | None) -> str | None:
    """The saved cursor if it is journald's ("s=...;i=...;b=..."), else None: a kmsg cursor
    ("<boot id>:<seq>") given to --after-cursor makes journalctl fail for good. None starts
    the journal reader at this boot's first entry."""
    if cursor is not None and cursor.startswith("s=") and ";b=" in cursor:
        return cursor
    return None


def kernel_log_reader(
    source: Source, cursor: str | None, boot_id: str, boot_time_ms: int, *, live: bool
) -> LogReader:
    """The best reader for this host; Unavailable says why there is none."""
    if not live:
        return SourceReader(source, boot_id, boot_time_ms, kmsg_after(cursor, boot_id))
    # A kmsg cursor of this boot stays with kmsg: switching to the journal mid-boot would
    # send this boot's events again. journald's cursors look like "s=...;i=...;b=...".
    in_kmsg = kmsg_after(cursor, boot_id) >= 0
    if not in_kmsg and shutil.which("journalctl") and _journal_has_kernel_entries():
        return JournalReader(journal_cursor(cursor))
    try:
        return KmsgReader(boot_id, boot_time_ms, kmsg_after(cursor, boot_id))
    except PermissionError:
        raise Unavailable(
            "no journal, and /dev/kmsg is not readable (needs root or CAP_SYSLOG)"
        ) from None
    except OSError as exc:
        raise Unavailable(f"no journal, and /dev/kmsg: {exc.strerror or exc}") from None


def _journal_has_kernel_entries() -> bool:
    try:
        out = subprocess.run(
            ["journalctl", "-k", "-n", "1", "-o", "json", "--no-pager"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip().startswith(b"{")


class TokenBucket:
    """Per kind: `burst` events at once, then one per `per_s` seconds."""

    def __init__(
        self, burst: int = 10, per_s: float = 6.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.per_s = per_s
        self.clock = clock
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.per_s)
        allowed = tokens >= 1.0
        self._state[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._state) > 256:  # bounded: kinds are a fixed vocabulary, but be sure
            self._state.pop(next(iter(self._state)))
        return allowed


def to_event(entry: Entry) -> Event | None:
    found = classify(entry.message)
    if found is None:
        return None
    fields = dict(found.fields)
    if entry.device and "device" not in fields:
        fields["device"] = _device_name(entry.device)
    return Event(
        time_ms=entry.time_ms,
        source="kernel",
        kind=found.kind,
        severity=found.severity,
        message=entry.message[:MAX_ENTRY_CHARS],
        fields=fields,
    )


def _device_name(prop: str) -> str:
    """kmsg's DEVICE= as a name: "+pci:0000:05:00.0" → "0000:05:00.0" (subsystem:name);
    block "b8:0", char "c189:1" and netdev "n2" ids are kept as they are."""
    if prop.startswith("+"):
        return prop[1:].partition(":")[2] or prop
    return prop


class Follower:
    """Runs a LogReader in a daemon thread and spools what it classifies."""

    def __init__(
        self,
        reader: LogReader,
        *,
        spool: Spool,
        redactor: Redactor,
        wake: Callable[[], None],
        bucket: TokenBucket | None = None,
        cursor_name: str = CURSOR_NAME,
        reopen: Callable[[str | None], LogReader] | None = None,
    ) -> None:
        self.reader = reader
        # Given the saved cursor, a new reader after a failure (journalctl exited, a
        # transient SQLite error): the follower retries with backoff instead of ending.
        self.reopen = reopen
        self.spool = spool
        self.redactor = redactor
        self.wake = wake
        self.bucket = bucket or TokenBucket()
        self.cursor_name = cursor_name
        self.spooled = 0
        self.error: str = ""
        self._drops: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rdiag-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (a replay is handled without it)
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = RETRY_INITIAL_S
        try:
            while not self._stop.is_set():
                try:
                    self.handle(self.reader.poll(POLL_S))
                    self.error, delay = "", RETRY_INITIAL_S
                except Exception as exc:  # the follower must never take the agent down
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("kernel log follower failed", extra={"error": self.error})
                    if self.reopen is None:
                        return
                    # Jittered so a fleet whose journald restarted does not retry in step.
                    if self._stop.wait(delay * random.uniform(0.8, 1.2)):
                        return
                    delay = min(delay * 2, RETRY_MAX_S)
                    self._reopen()
        finally:
            self.reader.close()

    def _reopen(self) -> None:
        assert self.reopen is not None
        self.reader.close()
        try:
            self.reader = self.reopen(self.spool.cursor(self.cursor_name))
        except Exception as exc:  # keep the old (closed) reader; the next poll fails again
            self.error = f"{type(exc).__name__}: {exc}"

    _last_save = 0.0
    _unsaved: str | None = None
    _overruns = 0

    def handle(self, entries: Iterable[Entry]) -> None:
        woke = False
        for entry in _lines(entries):
            event = to_event(entry)
            if event is None:
                self._unsaved = entry.cursor
                continue
            if not self.bucket.allow(event.kind):
                # Counted in memory and written with the cursor every CURSOR_SAVE_S: a
                # storm must not cost an fsync per line (a crash loses at most those
                # seconds of counts, never an event).
                reason = f"rate_limited:{event.kind}"
                self._drops[reason] = self._drops.get(reason, 0) + 1
                self._unsaved = entry.cursor
                continue
            priority = event.priority
            body = encode_body(self.redactor.record(event), priority)
            self.spool.append(priority, "event", body, cursor=(self.cursor_name, entry.cursor))
            self._unsaved = None
            self.spooled += 1
            woke = woke or priority is Priority.CRITICAL
        if woke:
            self.wake()
        now = time.monotonic()
        if now - self._last_save >= CURSOR_SAVE_S:
            self.flush()
            self._last_save = now

    def flush(self) -> None:
        """Write the pending cursor and drop counts, in one transaction."""
        overruns = getattr(self.reader, "overruns", 0)
        if overruns > self._overruns:
            # /dev/kmsg overwrote records before they were read: lost, and counted.
            self._drops["kmsg_overrun"] = (
                self._drops.get("kmsg_overrun", 0) + overruns - self._overruns
            )
            self._overruns = overruns
        if self._unsaved is None and not self._drops:
            return
        cursor = (self.cursor_name, self._unsaved) if self._unsaved is not None else None
        self.spool.count_drops(self._drops, cursor=cursor)
        self._unsaved = None
        self._drops = {}
