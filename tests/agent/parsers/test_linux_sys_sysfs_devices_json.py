from pathlib import Path

import pytest

from agent.parsers import ParseError, sysfs_devices_json
from agent.parsers.sysfs_devices_json import AerCounters
from agent.records import Device

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def test_real_vm_host_bridge_without_driver_is_no_problem() -> None:
    parsed = sysfs_devices_json.parse(_read("pci_devices.debian12-vm.json"))
    assert parsed.warnings == 0
    assert len(parsed.value) == 6
    assert parsed.value[0] == Device(id="0000:00:00.0", name="8086:0d57 (bridge)", bus="pci")
    assert parsed.value[3] == Device(
        id="0000:00:03.0", name="1af4:1041 (network)", bus="pci", driver="virtio-pci"
    )
    assert all(d.problem == "" for d in parsed.value)


def test_workstation_unbound_network_card_and_uncorrectable_aer() -> None:
    parsed = sysfs_devices_json.parse(_read("pci_devices.workstation.json"))
    problems = {d.id: d.problem for d in parsed.value if d.problem}
    assert problems == {
        "0000:00:1f.6": "no driver bound",
        "0000:02:00.0": "PCIe AER: 0 fatal, 2 non-fatal errors",
        "0000:03:00.0": "PCIe AER: 1 fatal, 0 non-fatal errors",
    }
    by_id = {d.id: d for d in parsed.value}
    # Unbound signal-processing, memory and SMBus functions are normal.
    assert by_id["0000:00:12.0"].driver == ""
    assert by_id["0000:00:14.2"].name == "8086:02ef (memory)"
    assert by_id["0000:00:14.0"].driver == "xhci_hcd"
    # A device whose ids could not be read still gets a record (and a warning for its class).
    assert by_id["0000:04:00.0"] == Device(id="0000:04:00.0", bus="pci")
    assert parsed.warnings == 2


def test_aer_counters_for_a_rate_rule() -> None:
    parsed = sysfs_devices_json.parse_aer(_read("pci_devices.workstation.json"))
    assert parsed.value == (
        AerCounters("0000:00:1c.0", 0, 0, 0),
        AerCounters("0000:02:00.0", 1241, 2, 0),
        AerCounters("0000:03:00.0", 0, 0, 1),  # summed when TOTAL_ERR_FATAL is missing
    )


def test_unbound_usb_controller_needs_a_driver_but_smbus_does_not() -> None:
    text = (
        '{"devices": [{"slot": "0000:00:14.0", "class": "0x0c0330", "driver": null},'
        ' {"slot": "0000:00:1f.4", "class": "0x0c0500", "driver": null}]}'
    )
    usb, smbus = sysfs_devices_json.parse(text).value
    assert (usb.problem, smbus.problem) == ("no driver bound", "")


@pytest.mark.parametrize("text", ["", "[]", '{"pci": []}'])
def test_not_the_pci_devices_call(text: str) -> None:
    with pytest.raises(ParseError):
        sysfs_devices_json.parse(text)


def test_edac_controllers_are_devices_with_their_counts() -> None:
    parsed = sysfs_devices_json.parse_edac_devices(_read("edac.server.json"))
    by_id = {d.id: d for d in parsed.value}
    mc0 = by_id["edac/mc0"]
    assert (mc0.bus, mc0.name, mc0.corrected_errors, mc0.uncorrected_errors) == (
        "edac",
        "Skylake Socket#0 IMC#0",
        14,
        0,
    )
    assert mc0.problem == "memory errors on CPU_SrcID#0_MC#0_Chan#0_DIMM#0: 14 CE, 0 UE"
    assert by_id["edac/mc2"].uncorrected_errors == 1
    assert parsed.warnings == 0


def test_edac_without_errors_and_garbage() -> None:
    text = '{"time_ms": 5, "controllers": [{"mc": "mc0", "ce_count": 0, "ue_count": 0}, 7]}'
    parsed = sysfs_devices_json.parse_edac_devices(text)
    ((mc0), *_) = parsed.value
    assert (mc0.corrected_errors, mc0.uncorrected_errors, mc0.problem) == (0, 0, "")
    assert parsed.warnings == 1
    assert sysfs_devices_json.parse_edac_devices('{"controllers": []}').value == ()
    with pytest.raises(ParseError):
        sysfs_devices_json.parse_edac_devices('{"mc": []}')
