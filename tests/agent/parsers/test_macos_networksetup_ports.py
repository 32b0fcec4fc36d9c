"""`networksetup -listallhardwareports`: the iMac's ports, an adapter without address, garbage."""

from pathlib import Path

from agent.parsers import macos_networksetup_ports

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
IMAC = HOSTS / "sim-macos12-intel-imac"


def test_hardware_ports() -> None:
    ports = macos_networksetup_ports.parse((IMAC / "networksetup_ports").read_text())
    assert ports.warnings == 0
    assert [(p.name, p.kind) for p in ports.value] == [
        ("en0", "ethernet"),
        ("en1", "wifi"),
        ("en3", "other"),
        ("en2", "virtual"),
        ("bridge0", "virtual"),
    ]
    usb = "Hardware Port: USB 10/100/1000 LAN\nDevice: en7\nEthernet Address: N/A\n\nnonsense\n"
    parsed = macos_networksetup_ports.parse(usb)
    assert [(p.name, p.kind, p.mac) for p in parsed.value] == [("en7", "ethernet", "")]
    assert parsed.warnings == 1
