import json
from pathlib import Path

import pytest

from agent.parsers import ParseError, crash_dirs_json
from agent.parsers.crash_dirs_json import CrashFile

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _file(
    path: str, mtime_ms: int = 1000, text: str | None = None, size: int = 10
) -> dict[str, object]:
    return {
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "size": size,
        "mtime_ms": mtime_ms,
        "text": text,
        "truncated": False,
    }


def _doc(pstore: list[dict[str, object]], var_crash: list[dict[str, object]]) -> str:
    return json.dumps(
        {
            "time_ms": 5,
            "text_limit": 65536,
            "dirs": [
                {
                    "source": "pstore",
                    "root": "/sys/fs/pstore",
                    "present": True,
                    "error": "",
                    "files": pstore,
                },
                {
                    "source": "var_crash",
                    "root": "/var/crash",
                    "present": True,
                    "error": "",
                    "files": var_crash,
                },
            ],
        }
    )


def test_real_vm_has_no_crashes() -> None:
    parsed = crash_dirs_json.parse((FIXTURES / "crash_dirs.debian12-vm.json").read_text("utf-8"))
    assert (parsed.value, parsed.warnings) == ((), 0)


def test_pstore_parts_of_one_dump_become_one_crash() -> None:
    text = _doc(
        [
            _file(
                "/sys/fs/pstore/dmesg-efi-171739800001",
                1717398000000,
                "Panic#1 Part1\nKernel panic - not syncing",
            ),
            _file(
                "/sys/fs/pstore/dmesg-efi-171739800002",
                1717398000000,
                "Panic#1 Part2\nearlier lines",
            ),
            _file(
                "/sys/fs/pstore/dmesg-efi-171700000001", 1717000000000, "Oops#1 Part1\nOops: 0002"
            ),
            _file("/sys/fs/pstore/console-ramoops-0", 1717398000000, "normal console output"),
        ],
        [],
    )
    first, second = crash_dirs_json.parse(text).value
    assert first == CrashFile(
        "pstore",
        "/sys/fs/pstore/dmesg-efi-171739800001",
        1717398000000,
        "Panic#1 Part2\nearlier lines\nPanic#1 Part1\nKernel panic - not syncing",
        20,
    )
    assert second.text == "Oops#1 Part1\nOops: 0002"


def test_kdump_folder_prefers_its_dmesg_and_skips_kexec_cmd() -> None:
    text = _doc(
        [],
        [
            _file(
                "/var/crash/202406010700/dmesg.202406010700", 7, "[ 1.0] BUG: kernel NULL pointer"
            ),
            _file("/var/crash/202406010700/dump.202406010700", 7, None, 10**9),
            _file("/var/crash/202405010700/dump.202405010700", 8, None, 10**9),
            _file("/var/crash/127.0.0.1-2024-05-02-10:00:00/vmcore-dmesg.txt", 9, "Oops"),
            _file("/var/crash/127.0.0.1-2024-05-02-10:00:00/vmcore", 9, None),
            _file("/var/crash/kexec_cmd", 10, None),
            _file("/var/crash/_usr_bin_gnome-shell.1000.crash", 11, "ProblemType: Crash\n"),
            _file("/var/crash/_usr_bin_gnome-shell.1000.upload", 11, None),
        ],
    )
    crashes = crash_dirs_json.parse(text).value
    assert [(c.path.rsplit("/", 1)[-1], c.time_ms) for c in crashes] == [
        ("_usr_bin_gnome-shell.1000.crash", 11),
        ("dmesg.202406010700", 7),
        ("dump.202405010700", 8),
        ("vmcore-dmesg.txt", 9),
    ]
    assert crashes[2] == CrashFile(
        "var_crash", "/var/crash/202405010700/dump.202405010700", 8, "", 10**9
    )


def test_unreadable_folder_and_bad_entries_warn() -> None:
    doc = {
        "dirs": [
            {
                "source": "pstore",
                "root": "/sys/fs/pstore",
                "error": "PermissionError: denied",
                "files": [7],
            },
            {"source": "elsewhere", "root": "/x", "files": []},
        ]
    }
    parsed = crash_dirs_json.parse(json.dumps(doc))
    assert (parsed.value, parsed.warnings) == ((), 3)


@pytest.mark.parametrize("text", ["", "[]", '{"files": []}'])
def test_not_the_crash_dirs_call(text: str) -> None:
    with pytest.raises(ParseError):
        crash_dirs_json.parse(text)
