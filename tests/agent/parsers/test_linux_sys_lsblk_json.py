from pathlib import Path

import pytest

from agent.parsers import ParseError, lsblk_json
from agent.records import InventoryDisk

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def test_real_vm_virtio_disk_without_model_and_no_zram() -> None:
    parsed = lsblk_json.parse(_read("lsblk.debian12-vm.json"))
    assert parsed.value == (InventoryDisk(name="vda", size_bytes=274877906944, rotational=True),)
    assert parsed.warnings == 0


def test_workstation_disks_skip_rom_zram_and_empty_reader() -> None:
    parsed = lsblk_json.parse(_read("lsblk.workstation.json"))
    assert [d.name for d in parsed.value] == ["sda", "sdb", "mmcblk0", "nvme0n1"]
    sda, sdb, mmc, nvme = parsed.value
    assert sda == InventoryDisk(
        "sda", "WDC WD20EZRZ-00Z5HB0", "WD-WCC4M1XXXXXX", 2000398934016, True, "sata"
    )
    assert (sdb.transport, sdb.rotational) == ("usb", False)
    assert (mmc.model, mmc.transport, mmc.serial) == ("", "", "0x1b2c3d4e")
    assert nvme.serial == "S5GXNX0R******"  # a masked serial stays as printed


def test_old_lsblk_prints_strings() -> None:
    parsed = lsblk_json.parse(_read("lsblk.util-linux-2.31.json"))
    sda, sdb, sdc = parsed.value
    assert sda == InventoryDisk(
        "sda", "Samsung SSD 860", "S3Z9NB0K123456A", 500107862016, False, "sata"
    )
    assert (sdb.rotational, sdb.serial, sdb.size_bytes) == (True, "", 1000204886016)
    assert (sdc.model, sdc.size_bytes, sdc.rotational) == ("USB Flash Disk", 0, False)
    assert parsed.warnings == 2  # sdc: "huge" and "yes"


@pytest.mark.parametrize("text", ["", "[]", '{"devices": []}', "lsblk: unknown column"])
def test_not_lsblk_json(text: str) -> None:
    with pytest.raises(ParseError):
        lsblk_json.parse(text)


def test_entries_without_a_name_warn() -> None:
    parsed = lsblk_json.parse('{"blockdevices": [{"type": "disk"}, 7]}')
    assert (parsed.value, parsed.warnings) == ((), 2)
