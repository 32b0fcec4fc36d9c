"""kernel_crash on short console logs in the shape the kernel prints them (die() in
arch/x86/kernel/dumpstack.c, __warn() in kernel/panic.c, kernel/watchdog.c,
kernel/hung_task.c; see tests/fixtures/kernel/FIXTURES.md). Real logs: test_kernel_corpus.py."""

from __future__ import annotations

from agent.parsers import kernel_crash
from agent.parsers.kernel_crash import KernelCrash
from agent.records import CrashReport

NULL_DEREF = """\
[ 1234.567890] BUG: kernel NULL pointer dereference, address: 0000000000000008
[ 1234.567895] #PF: supervisor read access in kernel mode
[ 1234.567897] #PF: error_code(0x0000) - not-present page
[ 1234.567899] PGD 0 P4D 0
[ 1234.567903] Oops: 0000 [#1] PREEMPT SMP NOPTI
[ 1234.567906] CPU: 2 PID: 812 Comm: kworker/2:1 Tainted: P           O       6.1.0-18-amd64 #1
[ 1234.567909] Hardware name: LENOVO 20XW0026GE/20XW0026GE, BIOS N32ET86W (1.62 ) 09/05/2023
[ 1234.567911] Workqueue: events iwl_mvm_async_handlers [iwlmvm]
[ 1234.567915] RIP: 0010:iwl_mvm_rx_tx_cmd+0x2c/0x6b0 [iwlmvm]
[ 1234.567960] Code: 41 57 41 56 41 55 41 54 55 53 48 83 ec 28 <48> 8b 47 08 48 89 fb
[ 1234.567962] RSP: 0018:ffffb0c4c0f2fd98 EFLAGS: 00010246
[ 1234.568010] Call Trace:
[ 1234.568012]  <TASK>
[ 1234.568014]  ? __die+0x23/0x70
[ 1234.568020]  ? page_fault_oops+0x171/0x4e0
[ 1234.568034]  ? asm_exc_page_fault+0x26/0x30
[ 1234.568040]  ? iwl_mvm_rx_tx_cmd+0x2c/0x6b0 [iwlmvm]
[ 1234.568090]  iwl_mvm_async_handlers+0x85/0x120 [iwlmvm]
[ 1234.568120]  process_one_work+0x1c7/0x380
[ 1234.568125]  worker_thread+0x4d/0x380
[ 1234.568140]  kthread+0xd7/0x100
[ 1234.568150]  ret_from_fork+0x1f/0x30
[ 1234.568155]  </TASK>
[ 1234.568157] Modules linked in: iwlmvm mac80211 iwlwifi cfg80211 nvidia(PO)
[ 1234.568300] CR2: 0000000000000008
[ 1234.568303] ---[ end trace 0000000000000000 ]---
[ 1234.601000] Kernel panic - not syncing: Fatal exception
[ 1234.601200] Kernel Offset: 0x2a000000 from 0xffffffff81000000
[ 1234.601300] ---[ end Kernel panic - not syncing: Fatal exception ]---
"""


def test_oops_then_panic_is_one_report() -> None:
    (crash,) = kernel_crash.find(NULL_DEREF).value
    assert crash == KernelCrash(
        kind="oops",
        title="BUG: unable to handle kernel NULL pointer dereference in iwl_mvm_rx_tx_cmd",
        function="iwl_mvm_rx_tx_cmd",
        module="iwlmvm",
        panicked=True,
        line=1,
        offset_ms=1234567,
        header="BUG: kernel NULL pointer dereference, address: 0000000000000008",
    )


def test_parse_gives_crash_reports_with_time() -> None:
    parsed = kernel_crash.parse(NULL_DEREF, boot_time_ms=1_700_000_000_000)
    assert parsed.value == (
        CrashReport(
            source="",
            kind="oops",
            time_ms=1_700_000_000_000 + 1234567,
            title="BUG: unable to handle kernel NULL pointer dereference in iwl_mvm_rx_tx_cmd",
            module="iwlmvm",
            panicked=True,
        ),
    )
    assert parsed.warnings == 0
    assert kernel_crash.parse(NULL_DEREF).value[0].time_ms == 0  # boot time unknown


def test_warning_names_the_warning_function_and_its_module() -> None:
    text = """\
[  100.000001] ------------[ cut here ]------------
[  100.000002] WARNING: CPU: 3 PID: 1042 at drivers/gpu/drm/i915/display/intel_display.c:7012 \
intel_atomic_commit_tail+0x1234/0x1300 [i915]
[  100.000003] Modules linked in: i915 drm_buddy
[  100.000004] CPU: 3 PID: 1042 Comm: Xorg Not tainted 6.1.0-18-amd64 #1
[  100.000005] RIP: 0010:intel_atomic_commit_tail+0x1234/0x1300 [i915]
[  100.000006] Call Trace:
[  100.000007]  <TASK>
[  100.000008]  ? __warn+0x7d/0xc0
[  100.000009]  intel_atomic_commit_work+0x12/0x20 [i915]
[  100.000010]  process_one_work+0x1c7/0x380
[  100.000011]  </TASK>
[  100.000012] ---[ end trace 0000000000000000 ]---
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.kind, crash.title, crash.module, crash.panicked) == (
        "warning", "WARNING in intel_atomic_commit_tail", "i915", False,
    )  # fmt: skip


def test_warning_in_a_checking_helper_is_titled_by_its_caller() -> None:
    # refcount_warn_saturate() reports its caller's bug; frames from another task (T200)
    # printed in between are not this report's stack.
    text = """\
[   10.000000][  T100] WARNING: CPU: 0 PID: 100 at lib/refcount.c:28 \
refcount_warn_saturate+0x13c/0x174
[   10.100000][  T200] Call Trace:
[   10.200000][  T200]  other_task_function+0x1/0x2
[   10.300000][  T100] Call Trace:
[   10.400000][  T100]  refcount_warn_saturate+0x13c/0x174
[   10.500000][  T100]  hdm_disconnect+0x98/0x9c [most_usb]
[   10.600000][  T100]  usb_unbind_interface+0x84/0x2c4
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.kind, crash.title, crash.module) == (
        "warning", "WARNING: refcount bug in hdm_disconnect", "most_usb",
    )  # fmt: skip


def test_soft_lockup_names_the_driver_it_spins_in() -> None:
    text = """\
[ 5000.100000] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [modprobe:4242]
[ 5000.200000] Modules linked in: vendor_wifi(O)
[ 5000.300000] CPU: 1 PID: 4242 Comm: modprobe Tainted: G           O L     6.1.0 #1
[ 5000.400000] RIP: 0010:vendor_fw_wait+0x3a/0x70 [vendor_wifi]
[ 5000.600000] Call Trace:
[ 5000.700000]  <TASK>
[ 5000.800000]  vendor_fw_load+0x55/0x200 [vendor_wifi]
[ 5000.900000]  vendor_probe+0x80/0x120 [vendor_wifi]
[ 5001.000000]  local_pci_probe+0x41/0x90
[ 5001.500000]  do_init_module+0x5c/0x240
[ 5001.600000]  __x64_sys_finit_module+0x18/0x20
[ 5001.700000]  do_syscall_64+0x5b/0xc0
[ 5001.800000]  entry_SYSCALL_64_after_hwframe+0x64/0xce
[ 5001.900000]  </TASK>
"""
    (crash,) = kernel_crash.find(text).value
    # Stalls are titled by the call they loop in (the frame above the syscall entry, as
    # syzkaller groups them); the module is the one the CPU was found spinning in.
    assert (crash.kind, crash.title, crash.module) == (
        "lockup", "BUG: soft lockup in sys_finit_module", "vendor_wifi",
    )  # fmt: skip


def test_hung_tasks_waiting_for_rtnl_are_grouped() -> None:
    text = """\
[ 7380.100000] INFO: task NetworkManager:812 blocked for more than 122 seconds.
[ 7380.200000]       Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1
[ 7380.300000] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
[ 7380.400000] task:NetworkManager  state:D stack:0     pid:812   ppid:1      flags:0x00000002
[ 7380.500000] Call Trace:
[ 7380.600000]  <TASK>
[ 7380.700000]  __schedule+0x34d/0x9e0
[ 7380.800000]  schedule+0x5a/0xd0
[ 7380.900000]  __mutex_lock.constprop.0+0x399/0x700
[ 7381.000000]  rtnl_lock+0x15/0x20
[ 7381.100000]  dev_ioctl+0x2f5/0x540
[ 7381.200000]  </TASK>
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.kind, crash.title, crash.function) == (
        "hung_task", "INFO: task hung in rtnl_lock", "rtnl_lock",
    )  # fmt: skip


def test_panic_without_an_earlier_report() -> None:
    text = """\
[    1.234567] VFS: Cannot open root device "UUID=1b2c" or unknown-block(0,0): error -6
[    1.234600] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)
[    1.234700] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-18-amd64 #1
[    1.234800] Call Trace:
[    1.234900]  <TASK>
[    1.235000]  dump_stack_lvl+0x44/0x5c
[    1.235100]  panic+0x118/0x2ed
[    1.235200]  mount_block_root+0x1d3/0x1ea
[    1.235300]  </TASK>
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.kind, crash.title, crash.panicked) == (
        "panic", "kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)", True,
    )  # fmt: skip


def test_previous_boot_journal_as_cat_output_has_no_frames() -> None:
    # `journalctl -b -1 -k -p 0..3 -o cat`: messages only, err and worse (no RIP, no stack)
    text = (
        "BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
        "Kernel panic - not syncing: Fatal exception\n"
    )
    (crash,) = kernel_crash.parse(text).value
    assert (crash.kind, crash.title, crash.module, crash.time_ms) == (
        "oops", "BUG: unable to handle kernel NULL pointer dereference", "", 0,
    )  # fmt: skip


def test_journal_short_iso_lines_and_other_programs() -> None:
    text = """\
-- Boot 3d1219c7c4c5404aaa1f6d2a48adfda4 --
2026-12-01T19:21:21+0000 vm kernel: kernel BUG at mm/filemap.c:1499!
2026-12-01T19:21:21+0000 vm systemd[1]: Starting systemd-journald.service...
2026-12-01T19:21:21+0000 vm kernel: Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
2026-12-01T19:21:21+0000 vm kernel: RIP: 0010:folio_unlock+0xb3/0xd0
2026-12-01T19:21:21+0000 vm kernel: Call Trace:
2026-12-01T19:21:21+0000 vm kernel:  netfs_perform_write+0x9d1/0x2370
2026-12-01T19:21:22+0000 vm kernel: Kernel panic - not syncing: Fatal exception
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.kind, crash.title, crash.panicked, crash.line) == (
        "bug", "kernel BUG in folio_unlock", True, 2,
    )  # fmt: skip


def test_pstore_record() -> None:
    # /sys/fs/pstore/dmesg-ramoops-0: a "Panic#1 Part1" header, then console lines with
    # their syslog priority.
    text = """\
Panic#1 Part1
<6>[ 4711.100000] EXT4-fs (nvme0n1p2): mounted filesystem with ordered data mode
<1>[ 4711.200000] BUG: unable to handle page fault for address: ffffa1b2c3d4e5f6
<1>[ 4711.200100] #PF: supervisor read access in kernel mode
<4>[ 4711.200200] Oops: 0000 [#1] PREEMPT SMP NOPTI
<4>[ 4711.300000] RIP: 0010:ext4_mb_new_blocks+0x4a1/0x10d0
<0>[ 4711.900000] Kernel panic - not syncing: Fatal exception
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.title, crash.offset_ms, crash.panicked) == (
        "BUG: unable to handle kernel paging request in ext4_mb_new_blocks", 4711200, True,
    )  # fmt: skip


def test_a_reboot_ends_the_boot_a_later_panic_belongs_to() -> None:
    text = (
        "WARNING: CPU: 0 PID: 1 at drivers/foo/foo.c:10 foo_probe+0x1/0x2\n"
        "Booting the kernel.\n"
        "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
    )
    crashes = kernel_crash.find(text).value
    assert [(c.kind, c.panicked) for c in crashes] == [
        ("warning", False),
        ("reboot", False),
        ("panic", True),
    ]
    assert crashes[1].title == "unexpected kernel reboot"


def test_lines_that_are_not_reports() -> None:
    text = """\
[  144.274089][T11803] WARNING: The mand mount option has been deprecated and
[   36.852785][ T3615] traps: syz-executor229[3615] general protection fault ip:7feb96eb56a1
[   95.445015] INFO: NMI handler (perf_event_nmi_handler) took too long to run: 1.356 msecs
[    1.887427] EXT4-fs (sda1): INFO: recovery required on readonly filesystem
[    3.919246][    T1] WARNING: workqueue cpumask: online intersect > possible intersect
[  404.700173] ODEBUG: Out of memory. ODEBUG disabled
"""
    assert kernel_crash.find(text).value == ()
    assert kernel_crash.find("").value == ()


def test_debug_kernel_detectors_are_sanitizer_and_lockdep_reports() -> None:
    text = """\
[   19.121834] BUG: KASAN: use-after-free in __lock_acquire+0x3c41/0x3cf0
[   19.121839] Read of size 8 at addr ffff8801c75ea0f8 by task syz/3471
[   19.121852] Call Trace:
[   19.121861]  dump_stack+0x137/0x198
[   19.121889]  kasan_report+0x23b/0x360
[   19.121903]  __lock_acquire+0x3c41/0x3cf0
[   19.121983]  lock_acquire+0x16b/0x420
[   19.122007]  _raw_spin_lock_irqsave+0x96/0xc0
[   19.122019]  remove_wait_queue+0x24/0x1b0
[   19.122027]  ep_unregister_pollwait.isra.7+0x9d/0x360
[   49.713322] WARNING: possible circular locking dependency detected
[   49.719607] 4.15.0-rc2+ #122 Not tainted
[   49.729910] syz-executor6/4896 is trying to acquire lock:
[   49.735409]  (&ctx->mutex){+.+.}, at: [<000000009b3a8cd5>] perf_event_ctx_lock_nested+0x58/0xab0
"""
    crashes = kernel_crash.find(text).value
    assert [(c.kind, c.title) for c in crashes] == [
        ("sanitizer", "KASAN: use-after-free Read in remove_wait_queue"),
        ("lockdep", "possible deadlock in perf_event_ctx_lock_nested"),
    ]


def test_rcu_stall_is_a_lockup_in_the_interrupted_code() -> None:
    text = """\
[  396.651023] INFO: rcu_sched self-detected stall on CPU
[  396.693925] Call Trace:
[  396.937797] Call Trace:
[  396.940361]  <IRQ>
[  396.942495]  dump_stack+0x1b9/0x294
[  397.169132]  smp_apic_timer_interrupt+0x15d/0x710
[  397.200493]  apic_timer_interrupt+0xf/0x20
[  397.204703]  </IRQ>
[  397.206926] RIP: 0010:e1000_clean_tx_irq+0x8b/0x9c0 [e1000e]
[  397.565731]  e1000e_poll+0x218/0x450 [e1000e]
[  397.571003]  net_rx_action+0x230/0x940
[  397.617386]  __do_softirq+0x79e/0xc50
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.kind, crash.title, crash.module) == (
        "lockup", "INFO: rcu detected stall in net_rx_action", "e1000e",
    )  # fmt: skip


def test_braces_in_a_message_stay_literal() -> None:
    (crash,) = kernel_crash.find("BUG: Bad thing {x} in {func} happened\n").value
    assert crash.title == "BUG: Bad thing {x} in {func} happened"


def test_journal_short_monotonic_lines() -> None:
    # `journalctl -b -1 -k -o short-monotonic`: the kernel's timestamp, host and identifier
    text = """\
[ 1234.567890] vm kernel: BUG: kernel NULL pointer dereference, address: 0000000000000008
[ 1234.567915] vm kernel: RIP: 0010:iwl_mvm_rx_tx_cmd+0x2c/0x6b0 [iwlmvm]
[ 1234.601000] vm kernel: Kernel panic - not syncing: Fatal exception
"""
    (crash,) = kernel_crash.find(text).value
    assert (crash.title, crash.module, crash.offset_ms, crash.panicked) == (
        "BUG: unable to handle kernel NULL pointer dereference in iwl_mvm_rx_tx_cmd",
        "iwlmvm", 1234567, True,
    )  # fmt: skip
