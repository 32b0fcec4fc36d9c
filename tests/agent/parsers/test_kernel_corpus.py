"""Every kernel log of the shared corpus against its manifest facts.

The corpus (127 files, ../shared/corpus/kernel, see its SOURCE.md) is read in place, never
copied into the project: 120 console logs from syzkaller's report-parser tests (105 with a
crash label, 15 crash-free) and 7 log fixtures of insights-core (dmesg, vmcore-dmesg,
journalctl, messages). Facts checked:

* every file goes through kernel_crash, parse_dmesg and parse_syslog without an exception;
* a syzkaller crash file gives at least one report; the first one's kind is the one the
  table below maps the manifest's type / title to, its title is syzkaller's (the
  differences are listed with their reason, TITLE_DIFFERS), and it says it panicked
  exactly when the manifest does;
* a crash-free file gives no report;
* the header line of that first report is also an Event kind classify() knows;
* for insights-core files: the markers are found by classify, and the parsers' warnings
  are the ones the file's format explains.

Kinds. A support engineer needs to know that the kernel crashed, faulted, asserted,
warned, stopped making progress or hung — not which debug detector noticed. So several
syzkaller types map to one broader kind:

* sanitizer: KASAN, KMSAN, KCSAN, KFENCE, UBSAN and kmemleak ("memory leak in ...") reports;
  these detectors exist only in debug kernels.
* lockdep: every lock-validator report, whatever its title says ("possible deadlock",
  "inconsistent lock state", "BUG: bad unlock balance", "WARNING: locking bug",
  "BUG: spinlock already unlocked" — syzkaller type LOCKDEP — and "INFO: trying to register
  non-static key").
* lockup: soft lockups, RCU stalls and workqueue lockups (a CPU made no progress).
* oops: the CPU faulted in kernel code — bad memory access ("BUG: unable to handle ..."),
  general protection fault, stack segment fault, divide error, arm "Internal error" and
  "Unhandled fault".
* hung_task: "INFO: task hung" and "unregister_netdevice: waiting for DEV to become free"
  (a task stuck for minutes on a leaked device reference).
* "INFO: suspicious RCU usage" is a warning, as its WARNING: spelling is (syzkaller 208).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.parsers import kernel_crash, kernel_log

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "kernel"
MANIFEST = CORPUS / "manifest.json"

if not MANIFEST.is_file():
    pytest.skip(f"kernel log corpus not found at {CORPUS}", allow_module_level=True)

ENTRIES: list[dict[str, Any]] = json.loads(MANIFEST.read_text("utf-8"))["files"]
SYZ = [e for e in ENTRIES if e["origin"] == "syzkaller"]
CRASHES = [e for e in SYZ if e["label"] != "none"]
CRASH_FREE = [e for e in ENTRIES if e["label"] == "none"]
INSIGHTS = [e for e in ENTRIES if e["origin"] == "insights-core"]

# Manifest → kind: the type decides first, then the title's start, then the title family.
KIND_BY_TYPE = {"LOCKDEP": "lockdep", "REBOOT": "reboot", "KFENCE-INVALID-FREE": "sanitizer"}
KIND_BY_TITLE = {
    "INFO: suspicious RCU usage": "warning",
    "INFO: trying to register non-static key": "lockdep",
    "stack segment fault": "oops",
    "divide error": "oops",
    "Internal error": "oops",
    "Unhandled fault": "oops",
}
KIND_BY_FAMILY = {
    "bad_access": "oops",
    "gpf": "oops",
    "panic": "panic",
    "warning": "warning",
    "kernel_bug": "bug",
    "bug_other": "bug",
    "kasan": "sanitizer",
    "kmsan": "sanitizer",
    "kcsan": "sanitizer",
    "ubsan": "sanitizer",
    "memory_leak": "sanitizer",
    "lockdep": "lockdep",
    "rcu_stall": "lockup",
    "soft_lockup": "lockup",
    "lockup": "lockup",
    "hung_task": "hung_task",
    "netdev": "hung_task",
}

# Real disagreements with the manifest, kept as strict xfails so a change shows.
DISAGREEMENTS = {
    "syzkaller__6.log": "'WARNING: foo' is a made-up one-line test of syzkaller's parser. A"
    " real WARN() prints 'WARNING: CPU: n PID: n at file:line func'; free text after"
    " 'WARNING: ' is a printk (the crash-free syzkaller__619.log has 'WARNING: The mand"
    " mount option has been deprecated'), and taking it for a crash would misfire there.",
}

# Where our title is not syzkaller's: the title we give, whether it starts as syzkaller's
# does (the same report kind in the same words, another function) and why it differs.
TITLE_DIFFERS = {
    "syzkaller__57.log": ("INFO: rcu detected stall in __sctp_write_space", True,
                          "syzkaller calls the report corrupted (two CPUs' stacks interleave);"
                          " we name the first frame above the dispatcher"),
    "syzkaller__107.log": ("KASAN: slab-out-of-bounds", True,
                           "4.x 'at addr' KASAN format without an access line: syzkaller"
                           " keeps the raw header, we give no function"),
    "syzkaller__142.log": ("WARNING in __switch_to", True, "syzkaller: corrupted; the WARN() site"),
    "syzkaller__208.log": ("WARNING: suspicious RCU usage in crypto_create_tfm", True,
                           "syzkaller: corrupted; we take the first frame of the stack"),
    "syzkaller__235.log": ("INFO: task hung in SyS_memfd_create", True,
                           "syzkaller: corrupted; we take the first non-waiting frame"),
    "syzkaller__295.log": ("INFO: rcu detected stall in netlink_sendmsg", True,
                           "syzkaller anchors netlink dispatch deeper (rtnl_newlink)"),
    "syzkaller__609.log": ("WARNING: kmalloc bug in dvb_dmx_init", False,
                           "newer syzkaller names this vmalloc WARN 'zero-size vmalloc'"),
    "syzkaller__615.log": ("BUG: stack guard page was hit in pskb_expand_head", True,
                           "syzkaller looks past the overflowing recursion (rtnl_newlink)"),
    "syzkaller__662.log": ("general protection fault in klist_next", True,
                           "syzkaller skips klist helpers (device_find_child)"),
    "syzkaller__687.log": ("INFO: rcu detected stall in netlink_sendmsg", True,
                           "syzkaller anchors netlink dispatch deeper"),
    "syzkaller__742.log": ("kernel BUG in folio_unlock", True,
                           "syzkaller skips folio_unlock for its caller netfs_perform_write"),
    "syzkaller__746.log": ("WARNING in __alloc_frozen_pages_noprof", True,
                           "syzkaller skips the page allocator for its caller"),
}  # fmt: skip

# The Event kinds a report's header line may classify as (kernel_log's signatures).
EVENT_KINDS = {
    "panic": {"boot.panic"},
    "oops": {"boot.oops", "boot.bug"},  # a header cut off after "BUG: unable to handle kernel"
    "bug": {"boot.bug"},
    "warning": {"boot.warning"},
    "lockup": {"boot.soft_lockup", "boot.hard_lockup", "boot.rcu_stall"},
    "hung_task": {"boot.hung_task"},
    "lockdep": {"boot.lockdep", "boot.bug", "boot.warning"},
    "sanitizer": {"boot.sanitizer"},
}
# Headers with no kernel-log signature: not in failure-signatures.md.
NO_EVENT = ("unregister_netdevice: waiting for", "Booting the kernel.")

# insights-core marker names (a pattern scan of the text) → the Event kinds they are.
MARKER_KINDS = {"bug": {"boot.oops", "boot.bug"}, "oops": {"boot.oops"}, "panic": {"boot.panic"}}
# parse_dmesg warnings the formats explain; every other insights file gives none.
DMESG_WARNINGS = {
    # printk.time=0 lines with one timestamped line among them
    "insights-core__dmesg__msginfo.log": 16,
}


def _text(fact: dict[str, Any]) -> str:
    return (CORPUS / str(fact["file"])).read_text("utf-8", errors="replace")


def expected_kind(fact: dict[str, Any]) -> str:
    title: str = fact["title"]
    if fact["type"] in KIND_BY_TYPE:
        return KIND_BY_TYPE[fact["type"]]
    for start, kind in KIND_BY_TITLE.items():
        if title.startswith(start):
            return kind
    return KIND_BY_FAMILY[fact["title_family"]]


def _stem(title: str) -> str:
    return title.partition(" in ")[0]


def test_manifest_covers_every_file() -> None:
    listed = {e["file"] for e in ENTRIES}
    on_disk = {p.name for p in CORPUS.glob("*.log")}
    assert listed == on_disk
    assert len(ENTRIES) == 127
    assert (len(SYZ), len(CRASHES), len(INSIGHTS)) == (120, 105, 7)


def test_the_mapping_covers_every_crash_label() -> None:
    assert {expected_kind(e) for e in CRASHES} <= set(EVENT_KINDS) | {"reboot"}


@pytest.mark.parametrize("fact", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_file_parses(fact: dict[str, Any]) -> None:
    text = _text(fact)
    kernel_crash.parse(text)
    kernel_log.parse_dmesg(text, boot_time_ms=0)
    kernel_log.parse_syslog(text, year=2024)


def _crash_params() -> list[Any]:
    return [
        pytest.param(e, id=e["file"], marks=pytest.mark.xfail(reason=DISAGREEMENTS[e["file"]]))
        if e["file"] in DISAGREEMENTS
        else pytest.param(e, id=e["file"])
        for e in CRASHES
    ]


@pytest.mark.parametrize("fact", _crash_params())
def test_crash_file_matches_manifest(fact: dict[str, Any]) -> None:
    crashes = kernel_crash.find(_text(fact)).value
    assert crashes, "no report found"
    first = crashes[0]
    assert first.kind == expected_kind(fact)
    assert first.panicked == bool(fact["panicked"])
    title = fact["title"].removesuffix(" in corrupted")  # syzkaller: function unknown
    if fact["file"] in TITLE_DIFFERS:
        ours, same_start, _why = TITLE_DIFFERS[fact["file"]]
        assert first.title == ours
        assert (_stem(first.title) == _stem(title)) == same_start
    else:
        assert first.title == title


REPORTED = [e for e in CRASHES if e["file"] not in DISAGREEMENTS]


@pytest.mark.parametrize("fact", REPORTED, ids=[e["file"] for e in REPORTED])
def test_crash_header_is_a_classified_event(fact: dict[str, Any]) -> None:
    first = kernel_crash.find(_text(fact)).value[0]
    found = kernel_log.classify(first.header)
    if first.header.startswith(NO_EVENT):
        assert found is None
    else:
        assert found is not None, first.header
        assert found.kind in EVENT_KINDS[first.kind]


@pytest.mark.parametrize("fact", CRASH_FREE, ids=[e["file"] for e in CRASH_FREE])
def test_crash_free_file_gives_no_report(fact: dict[str, Any]) -> None:
    assert kernel_crash.find(_text(fact)).value == ()


def test_insights_vmcore_crash() -> None:
    (fact,) = [e for e in INSIGHTS if e["label"] == "crash"]
    (crash,) = kernel_crash.find(_text(fact)).value
    assert (crash.kind, crash.title, crash.module) == (
        "oops", "BUG: unable to handle kernel NULL pointer dereference in read_balance", "raid1",
    )  # fmt: skip


@pytest.mark.parametrize("fact", INSIGHTS, ids=[e["file"] for e in INSIGHTS])
def test_insights_file(fact: dict[str, Any]) -> None:
    text = _text(fact)
    if fact["log_type"] in ("journalctl", "messages"):
        parsed = kernel_log.parse_syslog(text, year=2017)
        warnings = 0
    else:
        parsed = kernel_log.parse_dmesg(text, boot_time_ms=0)
        warnings = DMESG_WARNINGS.get(fact["file"], 0)
    assert parsed.warnings == warnings
    kinds = [e.kind for e in parsed.value]
    for name, marker in fact["markers"].items():
        first = kernel_log.split_dmesg(marker["first"])
        assert first is not None
        found = kernel_log.classify(first.message)
        assert found is not None and found.kind in MARKER_KINDS[name]
        assert sum(k in MARKER_KINDS[name] for k in kinds) >= marker["count"]
    if fact["label"] == "none":
        assert not {"boot.panic", "boot.oops", "boot.bug"} & set(kinds)
