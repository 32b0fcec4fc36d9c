"""Sources turn a Spec (agent/specs.py) into raw text, or raise Unavailable saying why.

* LiveSource reads this host: files (size-capped), commands (timeout, then killed), and
  in-process calls from CALLS (psutil/os/platform → JSON text; defined at the end).
* DirectorySource reads a capture folder (agent/capture.py): `<root>/<spec.name>`.
* ScenarioSource serves inline content, for tests and demos.

Every probe reads only through a Source, so the same probe code runs on this host, on a
captured Windows laptop, and on a hand-written scenario.
"""

from __future__ import annotations

import contextlib
import json
import os as _os
import platform
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

import cpuinfo
import psutil

from agent import netcalls, syscalls_linux
from agent.specs import Call, Command, File, Spec


class Unavailable(Exception):
    """The fact cannot be had here: "smartctl not found", "permission denied: /dev/sda".

    `output` keeps what a failed command printed anyway (smartctl explains its failures in
    its JSON), so a probe can say more than "exit status 2".
    """

    def __init__(self, reason: str, output: str = "", exit_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.output = output
        self.exit_status = exit_status


class SourceTimeout(Unavailable):
    """A command or call did not answer in time (and, for a command, was killed)."""


class Source(Protocol):
    @property
    def os(self) -> str:
        """ "linux" | "windows" | "darwin": which specs and parsers apply."""
        ...

    def read(self, spec: Spec) -> str: ...


def current_os() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    return {"win32": "windows", "darwin": "darwin"}.get(sys.platform, sys.platform)


MAX_BYTES = 8 * 1024 * 1024
# Commands run in the C locale so their output is the documented, parseable one.
_ENV_OVERRIDES = {"LC_ALL": "C", "LANG": "C"}


class LiveSource:
    def __init__(
        self,
        os: str | None = None,
        *,
        max_bytes: int = MAX_BYTES,
        calls: Mapping[str, Callable[..., str]] | None = None,
    ) -> None:
        self._os = os or current_os()
        self.max_bytes = max_bytes
        self.calls = CALLS if calls is None else calls
        # The exit status of each command's last run, by spec name (capture's manifest).
        self.exit_codes: dict[str, int] = {}

    @property
    def os(self) -> str:
        return self._os

    def read(self, spec: Spec) -> str:
        match spec:
            case File():
                return self._read_file(spec)
            case Command():
                return self._run(spec)
            case Call():
                return self._call(spec)

    # A read of a regular file has no timeout of its own; the runner's per-probe timeout
    # bounds it (a file on a hung network mount is the remaining risk, not /etc or /proc).
    def _read_file(self, spec: File) -> str:
        try:
            with open(spec.path, "rb") as f:
                data = _read_capped(f, self.max_bytes + 1)
        except FileNotFoundError:
            raise Unavailable(f"not found: {spec.path}") from None
        except PermissionError:
            raise Unavailable(f"permission denied: {spec.path}") from None
        except OSError as exc:
            raise Unavailable(f"{spec.path}: {exc.strerror or exc}") from None
        if len(data) > self.max_bytes:
            raise Unavailable(f"{spec.path}: larger than {self.max_bytes} bytes")
        return data.decode("utf-8", errors="replace")

    def _run(self, spec: Command) -> str:
        exe = spec.argv[0]
        try:
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**_os.environ, **_ENV_OVERRIDES},
                # Own process group, so a timeout kills the children too (POSIX only).
                start_new_session=sys.platform != "win32",
            )
        except FileNotFoundError:
            raise Unavailable(f"{exe} not found") from None
        except PermissionError:
            raise Unavailable(f"permission denied: {exe}") from None
        except OSError as exc:
            raise Unavailable(f"{exe}: {exc.strerror or exc}") from None
        with proc:  # closes the pipes and reaps the child on every path
            try:
                if sys.platform == "win32":
                    out, err = proc.communicate(timeout=spec.timeout)
                else:
                    out, err = _read_capped_output(proc, spec.timeout, self.max_bytes)
            except _TooMuchOutput:
                _kill(proc)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.communicate(timeout=2.0)
                raise Unavailable(
                    f"{exe}: output larger than {self.max_bytes} bytes (killed)"
                ) from None
            except subprocess.TimeoutExpired:
                _kill(proc)
                # A grandchild that left the group may still hold the pipe: `with` closes it.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.communicate(timeout=2.0)
                raise SourceTimeout(
                    f"timeout: {exe} did not finish within {spec.timeout:g} s (killed)"
                ) from None
        stdout = out.decode("utf-8", errors="replace")
        if len(out) > self.max_bytes:
            raise Unavailable(f"{exe}: output larger than {self.max_bytes} bytes")
        status = proc.returncode
        self.exit_codes[spec.name] = status
        if status < 0:
            raise Unavailable(f"{exe} killed by signal {-status}", output=stdout)
        if not spec.exit_ok(status):
            # stderr says why; else stdout, unless it is a JSON document (kept in `output`).
            tail = _last_line(err) or ("" if stdout.lstrip()[:1] in ("{", "[") else _last_line(out))
            why = f"{exe} exited with status {status}" + (f": {tail}" if tail else "")
            raise Unavailable(why, output=stdout, exit_status=status)
        return stdout

    def _call(self, spec: Call) -> str:
        func = self.calls.get(spec.func_name)
        if func is None:
            raise Unavailable(f"no such call: {spec.func_name}")
        try:
            return func(*spec.args)
        except (OSError, psutil.Error) as exc:
            raise Unavailable(f"{spec.func_name}: {type(exc).__name__}: {exc}") from None


class _TooMuchOutput(Exception):
    pass


STDERR_KEEP = 64 * 1024  # only its last line is ever shown


def _read_capped_output(
    proc: subprocess.Popen[bytes], timeout: float, limit: int
) -> tuple[bytes, bytes]:
    """communicate(), but a command that prints more than `limit` bytes is stopped at the
    limit instead of being buffered whole (a journal of a boot full of I/O errors can be
    tens of MB; the agent must not hold it). POSIX pipes only."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            for key, _ in sel.select(remaining):
                data = _os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                buf: bytearray = key.data
                buf += data
                if buf is out and len(out) > limit:
                    raise _TooMuchOutput
                if buf is err and len(err) > STDERR_KEEP:
                    del err[: len(err) - STDERR_KEEP]
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    proc.wait(remaining)
    return bytes(out), bytes(err)


def _read_capped(f: BinaryIO, limit: int) -> bytes:
    """Up to `limit` bytes, in 64 KiB reads: procfs and sysfs handlers allocate the size
    asked for, and /proc/sys answers one 8 MiB read with ENOMEM."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = f.read(min(65536, limit - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if sys.platform == "win32":
        proc.kill()
        return
    with contextlib.suppress(ProcessLookupError):
        _os.killpg(proc.pid, signal.SIGKILL)


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else ""


class CachingSource:
    """Reuses a live answer for a Command's `max_age` seconds (agent/specs.py): facts that
    change once per boot (systemd-analyze, the previous boot's journal) or rarely (lsblk)
    are not worth a fork and exec every cycle. An "unavailable" answer is reused too (no
    journal stays no journal); a timeout is not, so a slow tool is asked again.
    """

    def __init__(self, inner: Source, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | Unavailable]] = {}

    @property
    def os(self) -> str:
        return self.inner.os

    @property
    def exit_codes(self) -> dict[str, int]:
        codes: dict[str, int] = getattr(self.inner, "exit_codes", {})
        return codes

    def read(self, spec: Spec) -> str:
        if not isinstance(spec, Command) or spec.max_age <= 0:
            return self.inner.read(spec)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(spec.name)
        if hit is not None and now - hit[0] < _max_age(spec, hit[1]):
            answer = hit[1]
        else:
            try:
                answer = self.inner.read(spec)
            except SourceTimeout:
                raise
            except Unavailable as exc:
                answer = exc
            with self._lock:
                self._cache[spec.name] = (now, answer)
        if isinstance(answer, Unavailable):
            raise Unavailable(answer.reason, answer.output, answer.exit_status)
        return answer


# An "unavailable" answer is reused for at most this long: "Bootup is not yet finished"
# from systemd-analyze, or journalctl before the journal is flushed, pass within minutes.
UNAVAILABLE_MAX_AGE_S = 300.0


def _max_age(spec: Command, answer: str | Unavailable) -> float:
    if isinstance(answer, Unavailable):
        return min(spec.max_age, UNAVAILABLE_MAX_AGE_S)
    return spec.max_age


class DirectorySource:
    """A capture folder: `<root>/<spec.name>`, `host.toml` (os) and `manifest.json`.

    A spec the manifest records as unavailable raises Unavailable with the captured reason
    (and output), so a replay fails exactly where the live host failed.
    """

    def __init__(self, root: Path, os: str | None = None) -> None:
        self.root = Path(root)
        if os is None:
            host_toml = self.root / "host.toml"
            try:
                with open(host_toml, "rb") as f:
                    os = tomllib.load(f).get("os")
            except FileNotFoundError:
                raise ValueError(f"{host_toml} not found: pass os=") from None
            if not isinstance(os, str) or not os:
                raise ValueError(f"{host_toml}: missing key 'os'")
        self._os = os
        manifest = self.root / "manifest.json"
        specs = json.loads(manifest.read_bytes()).get("specs", {}) if manifest.exists() else {}
        self._unavailable: dict[str, str] = {
            name: str(entry.get("reason") or "unavailable when captured")
            for name, entry in specs.items()
            if entry.get("status") == "unavailable"
        }
        # What each command exited with when captured: a capture of this replay keeps it.
        self.exit_codes: dict[str, int] = {
            name: entry["exit_status"]
            for name, entry in specs.items()
            if isinstance(entry.get("exit_status"), int)
        }

    @property
    def os(self) -> str:
        return self._os

    @property
    def unavailable(self) -> Mapping[str, str]:
        """Spec name → why it was unavailable when captured."""
        return self._unavailable

    def read(self, spec: Spec) -> str:
        path = self.root / spec.name
        try:
            # Bytes, not read_text: keep \r\n of Windows outputs exactly as captured.
            content = path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            content = None
        if spec.name in self._unavailable:
            reason = self._unavailable[spec.name]
            error = SourceTimeout if reason.startswith("timeout") else Unavailable
            raise error(reason, output=content or "", exit_status=self.exit_codes.get(spec.name))
        if content is None:
            raise Unavailable("not captured")
        return content


class ScenarioSource:
    """Inline content by spec name; an Unavailable value is raised as is."""

    def __init__(self, os: str, contents: Mapping[str, str | Unavailable]) -> None:
        self._os = os
        self.contents = dict(contents)

    @property
    def os(self) -> str:
        return self._os

    def read(self, spec: Spec) -> str:
        value = self.contents.get(spec.name)
        if value is None:
            raise Unavailable("not captured")
        if isinstance(value, Unavailable):
            raise value
        return value


# --- in-process calls: psutil/os/platform facts serialised to JSON ---------------------
# Parsed by agent/parsers/disk_usage_json.py and host_facts_json.py, whose docstrings show
# the shapes. Raw values only: the arithmetic lives in the parsers, tested on captures.

# Not disks: kernel interfaces, memory, containers' layers, read-only images, autofs
# triggers (statvfs on an autofs path would mount it). psutil's all=False already drops
# most "nodev" types on Linux; this list also covers macOS and bind-mounted extras.
# Optical media (iso9660, udf) are always "100 % full" and would only raise false alarms.
PSEUDO_FSTYPES = frozenset(
    {
        *("proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "devfs", "overlay", "squashfs"),
        *("cgroup", "cgroup2", "securityfs", "pstore", "bpf", "tracefs", "debugfs"),
        *("configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc", "efivarfs"),
        *("ramfs", "nsfs", "rpc_pipefs", "selinuxfs", "nullfs", "fdescfs", "iso9660", "udf"),
    }
)
MOUNT_BUDGET_S = 2.0  # for all mounts together; a hung NFS mount must not stall the probe

_stuck_lock = threading.Lock()
_stuck: dict[str, threading.Thread] = {}  # mount → a statvfs thread that never returned


def _stat_mount(mount: str) -> dict[str, object]:
    if hasattr(_os, "statvfs"):
        st = _os.statvfs(mount)
        fields = ("f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_flag")
        return {"statvfs": {name: getattr(st, name) for name in fields}}
    usage = psutil.disk_usage(mount)  # Windows: GetDiskFreeSpaceExW, no inode counts
    return {"usage": {"total": usage.total, "used": usage.used, "free": usage.free}}


def stat_mounts(
    mounts: list[str],
    budget_s: float = MOUNT_BUDGET_S,
    stat: Callable[[str], dict[str, object]] = _stat_mount,
) -> dict[str, dict[str, object]]:
    """stat each mount in its own daemon thread; whatever has not answered by the deadline
    is reported as a timeout. A thread stuck in the kernel cannot be killed, so it is
    remembered and the mount skipped until it returns: at most one stuck thread per mount.
    """
    results: dict[str, dict[str, object]] = {}
    running: list[tuple[str, threading.Thread, list[dict[str, object]]]] = []
    for mount in mounts:
        with _stuck_lock:
            old = _stuck.get(mount)
            if old is not None and old.is_alive():
                msg = "an earlier statvfs on this mount is still blocked"
                results[mount] = {"error": {"kind": "timeout", "message": msg}}
                continue
            _stuck.pop(mount, None)
        box: list[dict[str, object]] = []
        thread = threading.Thread(
            target=_stat_into, args=(stat, mount, box), name=f"rdiag-stat {mount}", daemon=True
        )
        thread.start()
        running.append((mount, thread, box))
    deadline = time.monotonic() + budget_s
    for mount, thread, box in running:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            with _stuck_lock:
                _stuck[mount] = thread
            msg = f"statvfs did not answer within {budget_s:g} s"
            results[mount] = {"error": {"kind": "timeout", "message": msg}}
        else:
            results[mount] = box[0]
    return results


def _stat_into(
    stat: Callable[[str], dict[str, object]], mount: str, box: list[dict[str, object]]
) -> None:
    try:
        box.append(stat(mount))
    except (OSError, psutil.Error) as exc:
        box.append({"error": {"kind": "error", "message": f"{type(exc).__name__}: {exc}"}})


def disk_usage() -> str:
    parts = [p for p in psutil.disk_partitions(all=False) if p.fstype.lower() not in PSEUDO_FSTYPES]
    stats = stat_mounts([p.mountpoint for p in parts])
    mounts = [
        {"mount": p.mountpoint, "device": p.device, "fstype": p.fstype, "opts": p.opts}
        | stats[p.mountpoint]
        for p in parts
    ]
    return json.dumps({"mounts": mounts}, indent=1)


# cpuinfo.get_cpu_info() runs a Python child process (and a CPUID subprocess) and takes
# about a second, with no timeout of its own. So it runs at most once per process, in a
# daemon thread; callers wait a bounded time and go without the model if it is not there.
CPU_MODEL_WAIT_S = 5.0
_cpu_lock = threading.Lock()
_cpu_started = False
_cpu_done = threading.Event()
_cpu_model = ""


def _fetch_cpu_model() -> None:
    global _cpu_model
    try:
        _cpu_model = str(cpuinfo.get_cpu_info().get("brand_raw", ""))
    except Exception:  # any failure in a third-party probe of the CPU: no model, no crash
        _cpu_model = ""
    finally:
        _cpu_done.set()


def cpu_model(wait_s: float = CPU_MODEL_WAIT_S) -> str | None:
    global _cpu_started
    with _cpu_lock:
        if not _cpu_started:
            _cpu_started = True
            threading.Thread(target=_fetch_cpu_model, name="rdiag-cpuinfo", daemon=True).start()
    return _cpu_model if _cpu_done.wait(wait_s) else None


def host_facts() -> str:
    facts: dict[str, object] = {
        "hostname": socket.gethostname(),
        "system": platform.system(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "boot_time": psutil.boot_time(),
        "memory_total": psutil.virtual_memory().total,
        "cpu_count": psutil.cpu_count(logical=True),
    }
    if (model := cpu_model()) is not None:
        facts["cpu_model"] = model
    return json.dumps(facts, indent=1)


KMSG_DUMP_MAX_BYTES = 4 * 1024 * 1024


def kmsg_dump(path: str = "/dev/kmsg") -> str:
    """Every record /dev/kmsg still holds, one per line (continuations indented), read
    without blocking: the kernel log of a capture, replayed by agent/follow.py."""
    try:
        fd = _os.open(path, _os.O_RDONLY | _os.O_NONBLOCK)
    except FileNotFoundError:
        raise Unavailable(f"not found: {path}") from None
    except PermissionError:
        raise Unavailable(f"permission denied: {path} (needs root or CAP_SYSLOG)") from None
    parts: list[bytes] = []
    size = 0
    try:
        while size < KMSG_DUMP_MAX_BYTES:
            try:
                data = _os.read(fd, 16384)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue  # records overwritten while we read: go on from the oldest left
            if not data:
                break
            parts.append(data if data.endswith(b"\n") else data + b"\n")
            size += len(data)
    finally:
        _os.close(fd)
    return b"".join(parts).decode("utf-8", errors="replace")


def _dns_checks(timeout: str, servers: str, names: str) -> str:
    # agent/specs.py dns_checks() packs its arguments as strings (they name the capture).
    return netcalls.dns_checks(
        [s for s in servers.split(",") if s], [n for n in names.split(",") if n], float(timeout)
    )


CALLS: Mapping[str, Callable[..., str]] = {
    "disk_usage": disk_usage,
    "host_facts": host_facts,
    "kmsg_dump": kmsg_dump,
    "sysfs_net": netcalls.sysfs_net,
    "dns_checks": _dns_checks,
    "pci_devices": syscalls_linux.pci_devices,
    "edac_counts": syscalls_linux.edac_counts,
    "crash_dirs": syscalls_linux.crash_dirs,
}
