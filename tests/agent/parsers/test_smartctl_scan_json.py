import pytest

from agent.parsers import ParseError, smartctl_scan_json
from agent.parsers.smartctl_scan_json import ScanDevice

# `smartctl --scan-open --json` shape (smartmontools smartctl.cpp, scan_devices()).
SCAN = """{
  "json_format_version": [1, 0],
  "smartctl": {"version": [7, 3], "argv": ["smartctl", "--scan-open", "--json"],
               "exit_status": 0},
  "devices": [
    {"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"},
    {"name": "/dev/nvme0", "info_name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"},
    {"name": "/dev/bus/0", "info_name": "/dev/bus/0 [megaraid_disk_03]", "type": "megaraid,3",
     "protocol": "SCSI"},
    {"name": "/dev/sdb", "info_name": "/dev/sdb", "type": "scsi", "protocol": "SCSI",
     "open_error": "INQUIRY failed"}
  ]
}"""


def test_scan():
    assert smartctl_scan_json.parse(SCAN) == (
        ScanDevice("/dev/sda", "sat", "ATA"),
        ScanDevice("/dev/nvme0", "nvme", "NVMe"),
        ScanDevice("/dev/bus/0", "megaraid,3", "SCSI"),
        ScanDevice("/dev/sdb", "scsi", "SCSI", open_error="INQUIRY failed"),
    )


def test_no_devices_key_means_none_found():
    assert smartctl_scan_json.parse('{"smartctl": {"exit_status": 0}}') == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/dev/sda -d sat # /dev/sda [SAT], ATA device", "not JSON"),
        ("{}", "neither 'smartctl' nor 'devices'"),
        ('{"devices": ["/dev/sda"]}', r"devices\[0\]: expected an object"),
        ('{"devices": [{"type": "sat"}]}', r"devices\[0\]: missing key 'name'"),
        ('{"devices": {"name": "/dev/sda"}}', "key 'devices': expected list"),
    ],
)
def test_garbled(text, message):
    with pytest.raises(ParseError, match=message):
        smartctl_scan_json.parse(text)
