import json
import sys
import threading
import time
from pathlib import Path

import cpuinfo
import psutil
import pytest

from agent import sources
from agent.parsers import disk_usage_json, host_facts_json
from agent.sources import (
    CachingSource,
    DirectorySource,
    LiveSource,
    ScenarioSource,
    SourceTimeout,
    Unavailable,
)
from agent.specs import (
    OS_RELEASE,
    SMARTCTL_OK_EXIT_MASK,
    SMARTCTL_SCAN,
    Call,
    Command,
    File,
    Spec,
)

HOST = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "linux-debian12-vm"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses sh and sleep")


# --- DirectorySource / ScenarioSource ------------------------------------------------


def test_directory_source_reads_the_capture():
    source = DirectorySource(HOST)
    assert source.os == "linux"
    assert source.read(OS_RELEASE).startswith('PRETTY_NAME="Debian GNU/Linux 12')


def test_directory_source_replays_what_was_unavailable_with_its_reason():
    with pytest.raises(Unavailable, match="^smartctl not found$"):
        DirectorySource(HOST).read(SMARTCTL_SCAN)


def test_directory_source_absent_file_is_not_captured(tmp_path):
    source = DirectorySource(tmp_path, os="windows")
    assert source.os == "windows"
    with pytest.raises(Unavailable, match="^not captured$"):
        source.read(File("nothing_here", "/x"))


def test_directory_source_needs_an_os(tmp_path):
    with pytest.raises(ValueError, match="host.toml not found"):
        DirectorySource(tmp_path)
    (tmp_path / "host.toml").write_text('hostname = "x"\n')
    with pytest.raises(ValueError, match="missing key 'os'"):
        DirectorySource(tmp_path)


def test_directory_source_keeps_windows_line_ends(tmp_path):
    (tmp_path / "out").write_bytes(b"a\r\nb\r\n")
    assert DirectorySource(tmp_path, os="windows").read(File("out", "x")) == "a\r\nb\r\n"


def test_directory_source_replays_a_timeout_as_a_timeout(tmp_path):
    manifest = {"specs": {"slow": {"status": "unavailable", "reason": "timeout: x (killed)"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SourceTimeout):
        DirectorySource(tmp_path, os="linux").read(Command("slow", ("x",)))


def test_scenario_source():
    gone = Unavailable("permission denied: /dev/sda")
    source = ScenarioSource("darwin", {"os_release": "ID=x\n", "smartctl_scan": gone})
    assert source.os == "darwin"
    assert source.read(OS_RELEASE) == "ID=x\n"
    with pytest.raises(Unavailable, match="permission denied: /dev/sda"):
        source.read(SMARTCTL_SCAN)
    with pytest.raises(Unavailable, match="not captured"):
        source.read(File("machine_id", "/etc/machine-id"))


# --- LiveSource: commands -----------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@posix_only
def test_command_timeout_kills_the_child_and_its_children(tmp_path):
    pids = tmp_path / "pids"
    # sh starts a background sleep (a grandchild) and waits on a foreground one.
    script = f"sleep 30 & echo $$ $! > {pids}; sleep 30"
    spec = Command("slow", ("sh", "-c", script), timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(SourceTimeout, match=r"^timeout: sh did not finish within 0.5 s \(killed\)"):
        LiveSource().read(spec)
    assert time.monotonic() - t0 < 3.0
    shell, grandchild = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5.0
    while not (_gone(shell) and _gone(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(shell) and _gone(grandchild)


def test_missing_executable_is_unavailable():
    with pytest.raises(Unavailable, match="^no-such-tool-rdiag not found$"):
        LiveSource().read(Command("x", ("no-such-tool-rdiag", "--json")))


def test_smartctl_is_not_on_this_build_machine():
    # The real live path for SMART on hosts without smartmontools.
    if sys.platform == "win32" or Path("/usr/sbin/smartctl").exists():
        pytest.skip("smartctl is installed here")
    with pytest.raises(Unavailable, match="^smartctl not found$"):
        LiveSource().read(SMARTCTL_SCAN)


@posix_only
@pytest.mark.parametrize("status", [4, 8, 64, 4 | 64])
def test_health_bits_in_the_exit_status_are_data(status):
    spec = Command("x", ("sh", "-c", f'echo "{{}}"; exit {status}'), 5, SMARTCTL_OK_EXIT_MASK)
    assert LiveSource().read(spec) == "{}\n"


@posix_only
def test_failure_bits_are_unavailable_and_keep_the_output():
    script = 'echo \'{"smartctl": {"exit_status": 2}}\'; exit 2'
    spec = Command("x", ("sh", "-c", script), 5, SMARTCTL_OK_EXIT_MASK)
    with pytest.raises(Unavailable, match="^sh exited with status 2$") as info:
        LiveSource().read(spec)
    assert json.loads(info.value.output) == {"smartctl": {"exit_status": 2}}


@posix_only
def test_failure_message_is_the_last_line_of_stderr():
    spec = Command("x", ("sh", "-c", "echo noise; echo 'lsblk: bad usage' >&2; exit 1"))
    with pytest.raises(Unavailable, match="^sh exited with status 1: lsblk: bad usage$"):
        LiveSource().read(spec)


@posix_only
def test_commands_run_in_the_c_locale():
    assert LiveSource().read(Command("x", ("sh", "-c", "echo $LC_ALL"))) == "C\n"


# --- LiveSource: files and calls ----------------------------------------------------


def test_file_missing_and_too_large(tmp_path):
    with pytest.raises(Unavailable, match="^not found: /nonexistent/rdiag$"):
        LiveSource().read(File("x", "/nonexistent/rdiag"))
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(Unavailable, match="larger than 100 bytes"):
        LiveSource(max_bytes=100).read(File("x", str(big)))
    big.write_bytes(b"x" * 100)
    assert LiveSource(max_bytes=100).read(File("x", str(big))) == "x" * 100


def test_call_failures_are_unavailable():
    def broken() -> str:
        raise psutil.AccessDenied(1)

    source = LiveSource(calls={"broken": broken})
    with pytest.raises(Unavailable, match="^broken: AccessDenied"):
        source.read(Call("x", "broken"))
    with pytest.raises(Unavailable, match="no such call: nope"):
        source.read(Call("x", "nope"))


def test_os_name():
    assert LiveSource(os="windows").os == "windows"
    assert LiveSource().os in ("linux", "windows", "darwin")


def test_a_hung_mount_is_reported_not_waited_for():
    release = threading.Event()

    def stat(mount: str) -> dict[str, object]:
        if mount == "/test-hung":
            release.wait(30)
        return {"statvfs": {"f_frsize": 1, "f_blocks": 1}}

    try:
        t0 = time.monotonic()
        first = sources.stat_mounts(["/test-hung", "/test-ok"], 0.2, stat)
        assert time.monotonic() - t0 < 1.0
        assert first["/test-hung"]["error"] == {
            "kind": "timeout",
            "message": "statvfs did not answer within 0.2 s",
        }
        assert "statvfs" in first["/test-ok"]
        # Still stuck: skipped at once, no second thread on the same mount.
        t0 = time.monotonic()
        again = sources.stat_mounts(["/test-hung"], 5.0, stat)
        assert time.monotonic() - t0 < 0.5
        assert "still blocked" in str(again["/test-hung"]["error"])
    finally:
        release.set()
    sources._stuck["/test-hung"].join(5)
    assert "statvfs" in sources.stat_mounts(["/test-hung"], 1.0, stat)["/test-hung"]


def test_stat_errors_are_per_mount():
    def stat(mount: str) -> dict[str, object]:
        raise PermissionError(13, "Permission denied")

    result = sources.stat_mounts(["/test-denied"], 1.0, stat)
    assert result["/test-denied"]["error"] == {
        "kind": "error",
        "message": "PermissionError: [Errno 13] Permission denied",
    }


def test_cpuinfo_runs_at_most_once(monkeypatch):
    calls = []

    def slow_cpu_info() -> dict[str, str]:
        calls.append(1)
        time.sleep(0.2)
        return {"brand_raw": "Test CPU"}

    monkeypatch.setattr(cpuinfo, "get_cpu_info", slow_cpu_info)
    monkeypatch.setattr(sources, "_cpu_started", False)
    monkeypatch.setattr(sources, "_cpu_done", threading.Event())
    monkeypatch.setattr(sources, "_cpu_model", sources._cpu_model)  # restored afterwards
    assert sources.cpu_model(wait_s=0.0) is None  # not there yet: go without it
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(sources.cpu_model())) for _ in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["Test CPU"] * 3
    assert sources.cpu_model() == "Test CPU"
    assert len(calls) == 1


@pytest.mark.live_host
def test_live_calls_produce_what_the_parsers_read():
    source = LiveSource()
    facts = host_facts_json.parse(source.read(Call("host_facts", "host_facts")))
    assert facts.hostname and facts.memory_bytes > 0 and facts.cpu_cores > 0
    report = disk_usage_json.parse_report(source.read(Call("disk_usage", "disk_usage")))
    assert report.volumes or report.failures


# --- CachingSource -----------------------------------------------------------------------


class _Counting:
    """A source that counts how often each spec is read and answers from a script."""

    os = "linux"

    def __init__(self, answers: dict[str, list[object]]) -> None:
        self.answers = answers
        self.reads: list[str] = []

    def read(self, spec: Spec) -> str:
        self.reads.append(spec.name)
        answer = self.answers[spec.name].pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, str)
        return answer


def test_caching_source_reuses_answers_for_max_age_only() -> None:
    slow = Command("analyze", ("systemd-analyze", "time"), max_age=60.0)
    fresh = Command("state", ("systemctl", "is-system-running"))
    inner = _Counting({"analyze": ["7.4s", "8.1s"], "state": ["running", "degraded"]})
    now = [0.0]
    source = CachingSource(inner, clock=lambda: now[0])
    assert source.read(slow) == "7.4s"
    now[0] = 59.0
    assert source.read(slow) == "7.4s"  # reused
    assert source.read(fresh) == "running"
    assert source.read(fresh) == "degraded"  # max_age 0: asked every time
    now[0] = 61.0
    assert source.read(slow) == "8.1s"
    assert inner.reads == ["analyze", "state", "state", "analyze"]


def test_caching_source_keeps_unavailable_but_not_timeouts() -> None:
    journal = Command("prev", ("journalctl", "-b", "-1"), max_age=60.0)
    slow = Command("slow", ("chronyc", "tracking"), max_age=60.0)
    inner = _Counting(
        {
            "prev": [Unavailable("journalctl exited with status 1", "", 1)],
            "slow": [SourceTimeout("timeout: chronyc"), "ok"],
        }
    )
    source = CachingSource(inner, clock=lambda: 0.0)
    for _ in range(2):
        with pytest.raises(Unavailable, match="status 1") as info:
            source.read(journal)
        assert info.value.exit_status == 1
    with pytest.raises(SourceTimeout):
        source.read(slow)
    assert source.read(slow) == "ok"  # a timeout is asked again
    assert inner.reads == ["prev", "slow", "slow"]


def test_caching_source_asks_again_after_a_few_minutes_when_unavailable() -> None:
    analyze = Command("analyze", ("systemd-analyze", "time"), max_age=6 * 3600.0)
    inner = _Counting(
        {"analyze": [Unavailable("Bootup is not yet finished", "", 1), "Startup finished in 7s"]}
    )
    now = [0.0]
    source = CachingSource(inner, clock=lambda: now[0])
    with pytest.raises(Unavailable):
        source.read(analyze)
    now[0] = 301.0  # not six hours: a boot still in progress finishes within minutes
    assert source.read(analyze) == "Startup finished in 7s"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_a_command_printing_too_much_is_stopped_at_the_limit() -> None:
    """Not buffered whole then refused: the agent never holds more than the limit."""
    flood = Command(
        "flood",
        (sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x' * 65536)"),
        20.0,
    )
    source = LiveSource(max_bytes=1024 * 1024)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="output larger than 1048576 bytes"):
        source.read(flood)
    assert time.monotonic() - started < 10  # killed at the limit, not at the timeout
