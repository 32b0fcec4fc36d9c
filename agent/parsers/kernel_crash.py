"""Kernel crash reports in a console log → CrashReport: panics, oopses, BUG()s, WARN()s,
lockups, hung tasks, RCU stalls and the debug-kernel detectors (KASAN, lockdep ...).

Read from pstore (`/sys/fs/pstore/dmesg-ramoops-N`, `/var/lib/systemd/pstore/*/dmesg.txt`),
kdump (`/var/crash/*/vmcore-dmesg.txt`) and the previous boot's journal, in any of the line
formats kernel_log understands, journalctl's short-monotonic, or without timestamps
(`journalctl -o cat`):

    [  345.726870] BUG: unable to handle kernel NULL pointer dereference at 00000000000005ec
    [  345.727782] IP: [<ffffffffc0852ffb>] read_balance+0x1db/0x4e0 [raid1]
    [  345.729279] Oops: 0000 [#1] SMP
    ...
    [  345.737334] CPU: 6 PID: 952 Comm: systemd-udevd Kdump: loaded Not tainted 3.10.0-862...

A report starts at a header line (the table below) and takes its title the way syzkaller
titles it (google/syzkaller pkg/report/linux.go; "title" in the kernel's own words plus
"in <function>", the first frame of the report that is not reporting machinery). Lines that
follow a header and belong to the same failure join it: "Oops:" after "BUG: unable to
handle ...", "invalid opcode" after "kernel BUG at", and a "Kernel panic - not syncing"
anywhere later in the same boot (the report then says it panicked).

Kinds, for a support engineer rather than a kernel developer: panic, oops (the CPU faulted
in kernel code), bug (BUG() / "BUG:" assertions), warning (WARN()), lockup (soft or hard
lockup, RCU stall, workqueue lockup: a CPU stopped making progress), hung_task (a task
blocked for minutes), lockdep (lock validator), sanitizer (KASAN, KMSAN, KCSAN, KFENCE,
UBSAN, kmemleak: only on debug kernels), reboot (a console log shows a new boot).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.parsers import Parsed, Warnings
from agent.parsers.kernel_log import split_syslog
from agent.records import CrashReport


@dataclass(frozen=True, slots=True)
class KernelCrash:
    """One report, with what CrashReport has no field for (panicked, function)."""

    kind: str
    title: str
    function: str = ""  # the guilty frame, "" when the log does not show it
    module: str = ""  # the module named there ("[raid1]") or at the faulting RIP; "" built in
    panicked: bool = False
    line: int = 0  # 1-based line of the header
    offset_ms: int | None = None  # since boot, when the header line has a timestamp
    header: str = ""  # the header line's message, prefixes removed


@dataclass(slots=True)
class _Line:
    number: int
    context: str  # CONFIG_PRINTK_CALLER "T123"/"C1"; "" when not printed
    offset_ms: int | None
    text: str  # the kernel's message, prefixes removed


# Everything a console puts before the kernel's "[seconds]": a login prompt the kernel
# wrote over, a printk-dropped notice, dmesg -x, a syslog priority; syz-fuzzer prints the
# kmemleak report it read from debugfs with a Go log timestamp.
_CONSOLE = re.compile(
    r"^(?:\*\* \d+ printk messages dropped \*\* )?(?:.*? login: )?(?:[a-z]+ *:[a-z]+ *: )?"
    r"(?:<\d{1,3}>)?\[ *(?P<sec>\d+)\.(?P<frac>\d+)\](?:\[ *(?P<caller>[CT]\d+)\])? ?(?P<msg>.*)$"
)
# journalctl -o short-monotonic: "[ 1234.567890] host kernel: message" (other programs'
# lines there cannot be told from kernel messages like "usb 1-2: ...": they stay)
_SHORT_MONOTONIC = re.compile(r"^\S+ kernel: ")
_GO_LOG = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?=BUG: memory leak)")


def _lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        syslog = split_syslog(line)
        if syslog is not None:
            if syslog.identifier != "kernel":
                continue  # another program's line in a journal or messages file
            line = syslog.message
        m = _CONSOLE.match(line)
        if m is None:
            out.append(_Line(number, "", None, _GO_LOG.sub("", line)))
            continue
        ms = int(m["sec"]) * 1000 + int(m["frac"][:3].ljust(3, "0"))
        message = m["msg"]
        if (monotonic := _SHORT_MONOTONIC.match(message)) is not None:
            message = message[monotonic.end() :]
        out.append(_Line(number, m["caller"] or "", ms, message))
    return out


# --- frames ---------------------------------------------------------------------------

_FRAME = re.compile(
    r"^\s*(?:\[<?[0-9a-f]+>?\]\s*){0,2}(?P<q>\? )?(?P<func>[A-Za-z_][\w.]*)"
    r"\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[(?P<mod>[\w-]+)\])?"
)
_INLINE = re.compile(r"^\s*(?P<func>[A-Za-z_][\w.]*) \S+:\d+ \[inline\]")
# arm: "[<818df75c>] (show_stack) from [<818fcdd8>] (dump_stack_lvl+0x54/0x7c)"
_ARM_FRAME = re.compile(
    r"^\s*\[<[0-9a-f]+>\] \((?P<func>[A-Za-z_][\w.]*)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?\) from"
    r" \[<[0-9a-f]+>\] \((?P<caller>[A-Za-z_][\w.]*)"
)
_RIP = re.compile(
    r"^\s*(?:RIP|E?IP|NIP|PC is at|pc\s*:)\s*:?\s*(?:00(?P<cs>[0-9a-f]{2}):)?"
    r"(?:\[<?[0-9a-f]+>?\]\s*){0,2}(?P<func>[A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+"
    r"(?: \[(?P<mod>[\w-]+)\])?"
)
_STACK_START = re.compile(r"Call [Tt]race:|(?<!stack )backtrace:|Backtrace:")
_STACK_END = re.compile(
    r"---\[ end |Allocated by task|Freed by task|The buggy address|Memory state around"
    r"|Kernel Offset:|Dumping ftrace|Rebooting in|RIP: 00[23]3:|</TASK>|Modules linked in"
    r"|Showing all locks held|NMI backtrace for cpu|Sending NMI|Uninit was (?:created|stored)|^$"
)
# Reporting machinery, locking and library helpers: never the function a report is about
# (after syzkaller's skip list, pkg/report/linux.go linuxStackParams).
# fmt: off
_SKIP = (
    "__sanitizer", "__asan", "kasan", "__msan", "kmsan", "kcsan", "kfence", "ubsan",
    "check_memory_region", "print_", "panic", "invalid_op", "report_bug", "fixup_bug",
    "do_error", "_trap", "dump_stack", "show_stack", "dump_backtrace", "warn_slowpath",
    "warn_alloc", "__warn", "debug_object", "lockdep", "lock_acquire", "lock_release",
    "lock_class", "mark_lock", "spin_lock", "spin_trylock", "spin_unlock", "read_lock",
    "write_lock", "down_read", "down_write", "up_read", "up_write", "mutex_lock", "mutex_trylock",
    "mutex_unlock", "mutex_remove_waiter", "osq_lock", "_and_lock", "__wake_up", "refcount_",
    "memcpy", "memcmp", "memset", "memchr", "memmove", "strcmp", "strncmp", "strcpy", "strlcpy",
    "strncpy", "strscpy", "strlen", "strnlen", "strstr", "strchr", "snprintf", "kasprintf",
    "kvasprintf", "printk", "dev_info", "dev_warn", "dev_err", "copy_to_user", "copy_from_user",
    "copy_user", "put_user", "get_user", "__might", "might_fault", "might_sleep", "list_add",
    "list_del", "list_replace", "list_move", "list_splice", "_indirect_thunk_", "fortify",
    "kfree", "vfree", "kmem_cache", "kmalloc", "kzalloc", "kcalloc", "krealloc", "slab_",
    "alloc_pages", "should_fail", "check_heap_object", "check_object_size", "usercopy", "crc_",
    "read_once", "stack_trace", "save_stack", "arch_stack_walk", "__schedule", "preempt_schedule",
    "perf_trace", "wait_for_completion", "del_timer", "flush_work", "cancel_work",
    "try_to_grab_pending", "flush_workqueue", "drain_workqueue", "destroy_workqueue",
    "finish_wait", "kthread_stop", "kobject_del", "kobject_put", "kobject_uevent",
    "add_uevent_var", "get_device_parent", "device_add", "device_del", "device_unregister",
    "device_destroy", "put_device", "device_for_each_child", "rollback_registered",
    "unregister_netdev", "sysfs_remove", "device_remove_file", "tty_unregister_device",
    "dummy_urb_enqueue", "usb_kill_urb", "usb_kill_anchored_urbs", "usb_control_msg",
    "usb_hcd_submit_urb", "usb_submit_urb", "iput",
)
# fmt: on
# Where a stall or lockup report's stack is anchored: the frame above is the guilty one.
_STALL_ANCHORS = re.compile(
    r"process_one_work|do_syscall_|do_fast_syscall_|sysenter_dispatch|netif_receive_skb"
    r"|do_softirq|call_timer_fn|_run_timers|run_timer_softirq|run_ksoftirqd|smpboot_thread_fn"
    r"|^kthread$|start_secondary|cpu_startup_entry|ret_from_fork|vfs_write|vfs_read"
    r"|vfs_iter_read|vfs_iter_write|vfs_ioctl|blkdev_ioctl|do_iter_readv_writev|mmap_region"
    r"|do_mmap|do_dentry_open|vfs_open|^sock_sendmsg|^sock_recvmsg|^__sock_release"
    r"|__sys_setsockopt|sock_common_setsockopt|^sock_ioctl|__do_fault|handle_mm_fault"
    r"|do_page_fault|__fput|task_work_run|exit_to_user_?mode|entry_SYSCALL|compat_ioctl"
    r"|^(?:__ia32_|__x64_)?(?:compat_)?(?:SYSC|SyS|__sys|___sys|__do_sys|__se_sys|sys)"
    r"_(?:socketpair|connect|ioctl)"
)
_SYSCALL_PREFIX = re.compile(r"^(?:__x64_|__ia32_|SYSC_|SyS_|compat_SYSC_|compat_SyS_)")
_HUNG_SKIP = (
    "sched", "_lock", "_slowlock", "down", "completion", "kthread", "wait", "synchronize",
    "context_switch", "__switch_to", "cancel_delayed_work", "rcu_barrier",
)  # fmt: skip


def _name(func: str) -> str:
    """A symbol without the compiler's clone suffix: tabledist.part.0 → tabledist."""
    return func.split(".", 1)[0]


def _skipped(func: str, extra: Sequence[str] = ()) -> bool:
    return any(s in func for s in _SKIP) or any(s in func for s in extra)


Frame = tuple[str, str]


@dataclass(slots=True)
class _Window:
    """The lines after a header that belong to its context (the same printing task)."""

    lines: list[_Line]

    def frames(self) -> list[Frame]:
        """(function, module) of the first stack: from a "Call Trace:" or the first frame
        line on, to the end of that stack. Frames marked "?" (stale) are left out."""
        out: list[Frame] = []
        for line in self.lines:
            if _STACK_START.search(line.text):
                continue
            if _STACK_END.search(line.text) or _header_at(line.text):
                if out:
                    break
                continue
            if (m := _FRAME.match(line.text)) is not None:
                if not m["q"]:
                    out.append((_name(m["func"]), m["mod"] or ""))
            elif (arm := _ARM_FRAME.match(line.text)) is not None:
                out.extend(((_name(arm["func"]), ""), (_name(arm["caller"]), "")))
            elif (inline := _INLINE.match(line.text)) is not None:
                out.append((_name(inline["func"]), ""))
        return out

    def rip(self) -> tuple[str, str]:
        for line in self.lines:
            m = _RIP.match(line.text)
            if m and m["cs"] not in ("33", "23", "2b"):
                return _name(m["func"]), m["mod"] or ""
        return "", ""

    def after(self, marker: str) -> _Window:
        """The lines after the first one containing `marker` (all lines when none does)."""
        for i, line in enumerate(self.lines):
            if marker in line.text:
                return _Window(self.lines[i + 1 :])
        return self


_Finder = Callable[[_Window, re.Match[str]], Frame]


def _first_unskipped(frames: list[Frame], extra: Sequence[str] = ()) -> Frame:
    for func, mod in frames:
        if not _skipped(func, extra):
            return func, mod
    return "", ""


def _stack(extra: Sequence[str] = ()) -> _Finder:
    return lambda w, _m: _first_unskipped(w.frames(), extra)


def _rip(extra: Sequence[str] = ()) -> _Finder:
    def find(w: _Window, _m: re.Match[str]) -> Frame:
        func, mod = w.rip()
        if func and not _skipped(func, extra):
            return func, mod
        return _first_unskipped(w.frames(), extra)

    return find


def _named(extra: Sequence[str] = ()) -> _Finder:
    """The function the header names ("at file:line func+0x.."), else as _rip."""

    def find(w: _Window, m: re.Match[str]) -> Frame:
        func = _name(m.groupdict().get("func") or "")
        if func and not _skipped(func, extra):
            return func, m.groupdict().get("mod") or ""
        frames = w.frames()
        # The stack may begin with the reporting machinery above the named function.
        names = [f for f, _ in frames]
        if func in names:
            frames = frames[names.index(func) + 1 :]
        return _first_unskipped(frames, extra)

    return find


def _stall(w: _Window, _m: re.Match[str]) -> Frame:
    return _anchored(w.frames())


def _anchored(frames: list[Frame]) -> Frame:
    """In a stall the CPU loops somewhere inside a call; the report names the frame just
    above the first dispatcher (syscall entry, workqueue, timer ...), like syzkaller."""
    previous: Frame = ("", "")
    for func, mod in frames:
        if _STALL_ANCHORS.search(func):
            name = _SYSCALL_PREFIX.sub("", previous[0])
            return (name, previous[1]) if name else ("", "")
        if not _skipped(func):
            previous = (func, mod)
    return _first_unskipped(frames)


def _rcu_stall(w: _Window, _m: re.Match[str]) -> Frame:
    """The stalled CPU's stack is the one the timer interrupt interrupted."""
    interrupted = w.after("apic_timer_interrupt")
    if interrupted is w:
        return _anchored(w.frames())
    rip = interrupted.rip()
    frames = ([rip] if rip[0] else []) + interrupted.frames()
    return _anchored([f for f in frames if not _skipped(f[0], ("apic_timer_interrupt", "rcu"))])


def _hung(w: _Window, _m: re.Match[str]) -> Frame:
    """Hangs show victims: group them under rtnl_lock / synchronize_rcu when those wait."""
    frames = w.frames()
    for func, mod in frames:
        bare = func.lstrip("_")
        if bare.startswith("rtnl_lock"):
            return "rtnl_lock", mod
        if bare.startswith(("synchronize_rcu", "synchronize_srcu", "synchronize_net")):
            return "synchronize_rcu", mod
    return _first_unskipped(frames, _HUNG_SKIP)


_AT = re.compile(r"(?:at: |\] )(?:\[<?[0-9a-f]+>?\]\s+)?(?P<func>[A-Za-z_][\w.]*)\+0x")


def _after(*triggers: str) -> _Finder:
    """The function on the first "at: func+0x" (or frame) line after the line containing
    the first of `triggers` the report has (lockdep names the lock operation that way);
    no triggers: from the header on."""

    def find(w: _Window, _m: re.Match[str]) -> Frame:
        for trigger in triggers or ("",):
            seen = not trigger
            for line in w.lines[:60]:
                if not seen:
                    seen = trigger in line.text
                    continue
                m = _AT.search(line.text) or _FRAME.match(line.text)
                if m and not (m.re is _FRAME and m["q"]) and not _skipped(_name(m["func"])):
                    return _name(m["func"]), ""
        return "", ""

    return find


def _none(_w: _Window, _m: re.Match[str]) -> Frame:
    return "", ""


# --- headers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Header:
    regex: re.Pattern[str]
    kind: str
    title: str | Callable[[re.Match[str], _Window], str]  # "{func}" and the regex's groups
    frame: _Finder = _none
    follows: str = ""  # "near": joins a report begun just before; "panic": any in the boot
    kind_of: Callable[[re.Match[str]], str] | None = None  # when the match decides the kind


def _h(
    pattern: str,
    kind: str,
    title: str | Callable[[re.Match[str], _Window], str],
    frame: _Finder = _none,
    follows: str = "",
    kind_of: Callable[[re.Match[str]], str] | None = None,
) -> _Header:
    return _Header(re.compile(pattern), kind, title, frame, follows, kind_of)


def _kasan_title(m: re.Match[str], w: _Window) -> str:
    bug = m["bug"]
    if "invalid-free" in bug or "double-free" in bug:
        return "KASAN: invalid-free in {func}"
    access = next((a for line in w.lines[:6] if (a := _ACCESS.match(line.text))), None)
    return f"KASAN: {bug} {access[1]} in {{func}}" if access else f"KASAN: {bug} in {{func}}"


_ACCESS = re.compile(r"^(Read|Write) of size")


def _ubsan_title(m: re.Match[str], _w: _Window) -> str:
    what = m["what"].strip().lower().replace(" ", "-").replace("behavior", "behaviour")
    return f"UBSAN: {what} in {{func}}"


# A WARN() in one of these files reports a misuse by its caller: titled by the kind of bug.
_WARN_FILES = (
    (re.compile(r"lib/debugobjects\.c"), "WARNING: ODEBUG bug in {func}", "warning"),
    (re.compile(r"mm/usercopy\.c"), "WARNING: bad usercopy in {func}", "warning"),
    (re.compile(r"lib/kobject\.c"), "WARNING: kobject bug in {func}", "warning"),
    (re.compile(r"fs/proc/generic\.c"), "WARNING: proc registration bug in {func}", "warning"),
    (re.compile(r"lib/refcount\.c"), "WARNING: refcount bug in {func}", "warning"),
    (re.compile(r"kernel/locking/lockdep\.c"), "WARNING: locking bug in {func}", "lockdep"),
)
_MALLOC = re.compile(r"k?.?malloc")


def _warn_file(m: re.Match[str]) -> tuple[str, str] | None:
    src = m["src"] or ""
    for pattern, title, kind in _WARN_FILES:
        if pattern.search(src):
            return title, kind
    if re.search(r"(?:^|/)mm/[\w/]*\.c", src) and _MALLOC.search(m["func"] or ""):
        return "WARNING: kmalloc bug in {func}", "warning"
    return None


def _warn_kind(m: re.Match[str]) -> str:
    special = _warn_file(m)
    return special[1] if special else "warning"


def _warn_title(m: re.Match[str], _w: _Window) -> str:
    special = _warn_file(m)
    return special[0] if special else "WARNING in {func}"


def _warn_frame(w: _Window, m: re.Match[str]) -> Frame:
    if _warn_file(m):  # the WARN()ing helper is not the news: its caller is
        return _named(("kmalloc", "vmalloc", "kobject_", "proc_", "lock_sock", m["func"]))(w, m)
    return _named()(w, m)


def _panic_title(m: re.Match[str], _w: _Window) -> str:
    reason = m["reason"].rstrip(" .")
    reason = re.sub(r"^kernel: ", "", reason)
    if reason.startswith("stack-protector: Kernel stack is corrupted in"):
        return "kernel panic: stack is corrupted in {func}"
    if reason.startswith("corrupted stack end"):
        return "kernel panic: corrupted stack end in {func}"
    if reason.startswith("Attempted to kill init!"):
        return "kernel panic: Attempted to kill init!"
    return "kernel panic: " + _literal(reason)


def _literal(text: str) -> str:
    """`text` inside a title template: braces doubled for str.format."""
    return text.replace("{", "{{").replace("}", "}}")


def _panic_frame(w: _Window, m: re.Match[str]) -> Frame:
    if "stack-protector" in m["reason"]:
        named = re.search(r"corrupted in: (?P<func>[A-Za-z_][\w.]*)", m["reason"])
        return (named["func"], "") if named else _first_unskipped(w.frames(), ("stack_chk",))
    if "corrupted stack end" in m["reason"]:
        return _anchored([f for f in w.frames() if not _skipped(f[0], _SCHEDULER)])
    return "", ""


_SCHEDULER = ("schedule", "retint_kernel")


_LOCKDEP = r"^(?:\[ )?(?:WARNING|INFO): "
_WARN_AT = (
    r"^WARNING: (?:CPU: \d+ PID: \d+ at |at )?(?P<src>\S+?:\d+)?\s*(?:at )?"
    r"(?P<func>[A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?:\(\))?(?: \[(?P<mod>[\w-]+)\])?"
)

# fmt: off
_HEADERS: tuple[_Header, ...] = (
    _h(r"^BUG: KASAN: (?P<bug>[\w-]+(?: or [\w-]+)?) (?:in|on address) (?P<func>[A-Za-z_][\w.]*)?",
       "sanitizer", _kasan_title, _named()),
    _h(r"^BUG: KMSAN: (?P<bug>[\w-]+) in (?P<func>[A-Za-z_][\w.]*)", "sanitizer",
       "KMSAN: {bug} in {func}", _named()),
    _h(r"^BUG: KCSAN: (?P<what>.+)", "sanitizer",
       lambda m, _w: "KCSAN: " + _literal(re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+", "", m["what"]))),
    _h(r"^BUG: KFENCE: (?P<bug>[\w -]+?) in (?P<func>[A-Za-z_][\w.]*)", "sanitizer",
       "KFENCE: {bug} in {func}", _named()),
    _h(r"^UBSAN: (?P<what>.+?) in \S+", "sanitizer", _ubsan_title, _stack(("overflow",))),
    _h(r"^BUG: memory leak", "sanitizer", "memory leak in {func}",
       _stack(("kmemleak", "alloc", "mmap", "kmem", "idr_get", "list_lru_init", "strdup",
               "strndup", "memdup", "kasprintf", "pcpu_create"))),
    _h(r"^BUG: (?:unable to handle kernel paging request|unable to handle page fault for address"
       r"|Unable to handle kernel data access)|^Unable to handle kernel paging request", "oops",
       "BUG: unable to handle kernel paging request in {func}", _rip()),
    _h(r"^BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference)"
       r"|^Unable to handle kernel NULL pointer dereference", "oops",
       "BUG: unable to handle kernel NULL pointer dereference in {func}", _rip()),
    _h(r"^BUG: (?:unable to handle kernel|Unable to handle kernel)", "oops",
       "BUG: unable to handle kernel"),
    _h(r"^BUG: spinlock lockup suspected", "lockup", "BUG: spinlock lockup suspected in {func}",
       _stack(("spin_",))),
    _h(r"^BUG: spinlock (?P<what>already unlocked|recursion|bad magic|wrong owner|wrong CPU)",
       "lockdep", "BUG: spinlock {what} in {func}", _stack(("spin_",))),
    _h(r"^(?:watchdog: |NMI watchdog: )?BUG: soft lockup", "lockup", "BUG: soft lockup in {func}",
       _stall),
    _h(r"^BUG: workqueue lockup", "lockup", "BUG: workqueue lockup"),
    _h(r"^Watchdog detected hard LOCKUP on cpu", "lockup",
       "Watchdog detected hard LOCKUP in {func}", _rip()),
    _h(r"^BUG: .*still has locks held!", "lockdep", "BUG: still has locks held in {func}",
       _after("locks held")),
    _h(r"^(?:\[ )?(?P<level>BUG|WARNING): lock held when returning to user space", "lockdep",
       "{level}: lock held when returning to user space in {func}", _after("leaving the kernel")),
    _h(r"^(?:\[ )?(?P<level>BUG|WARNING): bad unlock balance detected", "lockdep",
       "{level}: bad unlock balance in {func}", _after("is trying to release lock")),
    _h(r"^(?:\[ )?(?P<level>BUG|WARNING): held lock freed", "lockdep",
       "{level}: held lock freed in {func}", _after()),
    _h(r"^BUG: Dentry .* still in use", "bug", "BUG: Dentry still in use in unmount"),
    _h(r"^BUG: (?P<what>Bad page state|Bad page map|Bad rss-counter state"
       r"|non-zero nr_p[mt][de]s on freeing mm)", "bug", "BUG: {what}"),
    _h(r"^BUG: sleeping function called from invalid context", "bug",
       "BUG: sleeping function called from invalid context in {func}", _stack()),
    _h(r"^BUG: scheduling while atomic", "bug", "BUG: scheduling while atomic in {func}",
       _stack()),
    _h(r"^BUG: using (?P<what>__this_cpu_\w+\(\)|smp_processor_id\(\)) in preemptible", "bug",
       "BUG: using {what} in preemptible code in {func}", _stack(("preempt",))),
    _h(r"^BUG: (?:TASK )?stack guard page was hit", "bug",
       "BUG: stack guard page was hit in {func}", _stack()),
    _h(r"^BUG: (?P<what>.*\S)", "bug", lambda m, _w: "BUG: " + _literal(m["what"])),
    _h(r"^BUG (?P<cache>[\w-]+) \([^)]*\): (?P<what>.*\S)", "bug",  # SLUB debug
       lambda m, _w: "BUG: " + _literal(m["what"])),
    _h(_LOCKDEP + r"(?:possible circular locking dependency|possible recursive locking)",
       "lockdep", "possible deadlock in {func}", _after("is trying to acquire")),
    _h(_LOCKDEP + r"possible irq lock inversion", "lockdep", "possible deadlock in {func}",
       _after("just changed the state")),
    _h(_LOCKDEP + r"\w+-safe -> \w+-unsafe lock order", "lockdep", "possible deadlock in {func}",
       _after("which became", "is trying to acquire")),
    _h(_LOCKDEP + r"inconsistent lock state", "lockdep", "inconsistent lock state in {func}",
       _after("takes")),
    _h(_LOCKDEP + r"trying to register non-static key", "lockdep",
       "INFO: trying to register non-static key in {func}", _stack(("stack", "lock", "IRQ"))),
    _h(r"^(?:\[ )?(?P<level>WARNING|INFO): suspicious RCU usage", "warning",
       "{level}: suspicious RCU usage in {func}", _stack(("rcu",))),
    _h(r"^WARNING: kernel stack (?:regs|frame pointer) at .* has bad", "warning",
       "WARNING: kernel stack regs has bad value"),
    _h(_WARN_AT, "warning", _warn_title, _warn_frame, kind_of=_warn_kind),
    _h(r"^(?:rcu: )?INFO: rcu_(?:preempt|sched|bh) (?:self-)?detected(?: expedited)? stall",
       "lockup", "INFO: rcu detected stall in {func}", _rcu_stall),
    _h(r"^INFO: task .* blocked for more than \d+ seconds", "hung_task",
       "INFO: task hung in {func}", _hung),
    _h(r"^unregister_netdevice: waiting for \S+ to become free", "hung_task",
       "unregister_netdevice: waiting for DEV to become free", follows="near"),
    _h(r"^(?:Oops: )?general protection fault", "oops", "general protection fault in {func}",
       _rip()),
    _h(r"^(?:Oops: )?stack segment: ", "oops", "stack segment fault in {func}", _rip()),
    _h(r"^(?:Oops: )?(?:divide error|divide_error): ", "oops", "divide error in {func}", _rip()),
    _h(r"^(?:Oops: )?invalid opcode: ", "oops", "invalid opcode in {func}", _rip(),
       follows="near"),
    _h(r"^PANIC: double fault", "oops", "PANIC: double fault in {func}", _rip(), follows="near"),
    _h(r"^(?:kernel stack overflow \(double-fault\)|stack guard page): [0-9a-f]+ \[#", "oops",
       "kernel stack overflow in {func}", _rip(), follows="near"),
    _h(r"^kernel BUG at lib/list_debug\.c", "bug", "BUG: corrupted list in {func}", _stack()),
    _h(r"^kernel BUG at mm/usercopy\.c", "bug", "BUG: bad usercopy in {func}",
       _stack(("usercopy", "__check"))),
    _h(r"^kernel BUG at ", "bug", "kernel BUG in {func}", _rip()),
    _h(r"^Kernel BUG (?P<what>.*\S)", "bug", lambda m, _w: "kernel BUG " + _literal(m["what"])),
    _h(r"^Unhandled fault: ", "oops", "Unhandled fault in {func}", _rip()),
    _h(r"^Internal error: ", "oops", "Internal error in {func}", _rip(), follows="near"),
    _h(r"^Oops(?: - [^:]+)?: ", "oops", "Oops in {func}", _rip(), follows="near"),
    _h(r"^Kernel panic - not syncing: (?P<reason>.*)", "panic", _panic_title, _panic_frame,
       follows="panic"),
    _h(r"^Booting the kernel\.", "reboot", "unexpected kernel reboot"),
)
# fmt: on
# Messages that look like headers but report no bug (syzkaller's list, plus the kernel's).
_NOT_HEADERS = re.compile(
    r"^(?:BUG|WARNING|INFO): (?:no syscalls can create resource|workqueue cpumask"
    r"|lockdep is turned off|Stall ended before state dump|NMI handler"
    r"|recovery required on readonly filesystem)"
)
# One cheap test before the table: every header starts with one of these.
_STARTS = (
    "BUG", "UBSAN", "Unable", "watchdog", "NMI watchdog", "Watchdog", "[ ", "WARNING", "INFO",
    "rcu: INFO", "unregister_netdevice", "Oops", "general protection", "stack segment", "divide",
    "invalid opcode", "PANIC", "kernel stack overflow", "stack guard page", "kernel BUG",
    "Kernel BUG", "Unhandled fault", "Internal error", "Kernel panic", "Booting the kernel",
)  # fmt: skip
_NEAR = 10  # lines: an "Oops:" follows its "BUG: unable to handle" within a few


def _header_at(text: str) -> _Header | None:
    return _match_header(text)[0]


def _match_header(text: str) -> tuple[_Header | None, re.Match[str] | None]:
    if not text.startswith(_STARTS) or _NOT_HEADERS.match(text):
        return None, None
    for header in _HEADERS:
        m = header.regex.match(text)
        if m:
            return header, m
    return None, None


@dataclass(slots=True)
class _Open:
    crash: KernelCrash
    index: int  # into the line list
    context: str = ""
    panicked: bool = False


def find(text: str) -> Parsed[tuple[KernelCrash, ...]]:
    """Every report in a console log, in order."""
    lines = _lines(text)
    reports: list[_Open] = []
    for index, line in enumerate(lines):
        header, m = _match_header(line.text)
        if header is None or m is None:
            continue
        if header.kind == "reboot":
            reports.append(_Open(_report(header, m, lines, index), index, line.context))
            continue
        if header.follows == "panic" and (run := _panicking(reports, line.context)):
            for report in run:
                report.panicked = True
            continue
        current = _current(reports)
        if (
            header.follows == "near"
            and current is not None
            and index - current.index <= _NEAR
            and line.context == lines[current.index].context
        ):
            continue
        crash = _report(header, m, lines, index)
        reports.append(_Open(crash, index, line.context, panicked=header.kind == "panic"))
    found = tuple(dataclasses.replace(r.crash, panicked=r.panicked) for r in reports)
    return Parsed.of(found, Warnings())


def _panicking(reports: list[_Open], context: str) -> list[_Open]:
    """The reports a panic ends: the last one this boot from the panicking task (any task,
    when the log does not say), with the same-kind reports just before it (khungtaskd lists
    every blocked task, then panics)."""
    boot: list[_Open] = []
    for report in reports:
        boot = [] if report.crash.kind == "reboot" else [*boot, report]
    mine = [r for r in boot if r.context == context] if context else boot
    if not mine:
        mine = boot
    run = mine[-1:]
    for report in reversed(mine[:-1]):
        if report.crash.kind != run[0].crash.kind:
            break
        run.insert(0, report)
    return run


def _current(reports: list[_Open]) -> _Open | None:
    """The last report of this boot (a reboot ends the boot's reports)."""
    if not reports or reports[-1].crash.kind == "reboot":
        return None
    return reports[-1]


_WINDOW = 120  # lines after a header searched for its frames


def _report(header: _Header, m: re.Match[str], lines: list[_Line], index: int) -> KernelCrash:
    start = lines[index]
    window = _Window(
        [
            line
            for line in lines[index + 1 : index + 1 + _WINDOW]
            if not start.context or line.context == start.context
        ]
    )
    func, mod = header.frame(window, m)
    # The driver is the clue a support engineer needs: the guilty frame's module, else the
    # one the header or the faulting instruction names (a lockup spinning in a driver).
    mod = mod or m.groupdict().get("mod") or window.rip()[1]
    template = header.title(m, window) if callable(header.title) else header.title
    groups = {k: v or "" for k, v in m.groupdict().items()}
    if not func:
        template = template.replace(" in {func}", "")
    title = template.format(**{**groups, "func": func})
    kind = header.kind_of(m) if header.kind_of else header.kind
    return KernelCrash(kind, title, func, mod, False, start.number, start.offset_ms, start.text)


def parse(text: str, boot_time_ms: int = 0) -> Parsed[tuple[CrashReport, ...]]:
    """The reports as CrashReport records; `source` is left for the caller to set. A report's
    time is boot_time_ms + its header's offset when both are known, else 0."""
    found = find(text)
    reports = tuple(
        CrashReport(
            source="",
            kind=c.kind,
            time_ms=boot_time_ms + c.offset_ms if boot_time_ms and c.offset_ms is not None else 0,
            title=c.title,
            module=c.module or c.function,
            panicked=c.panicked or c.kind == "panic",
        )
        for c in found.value
    )
    return Parsed(reports, found.warnings, found.examples)
