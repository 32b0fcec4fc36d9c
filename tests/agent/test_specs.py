import pytest

from agent.specs import SMARTCTL_OK_EXIT_MASK, Command, File, smartctl_x


@pytest.mark.parametrize(("status", "ok"), [(0, True), (4, True), (8, True), (64, True),
                                            (4 | 64, True), (1, False), (2, False),
                                            (2 | 64, False), (-9, False)])  # fmt: skip
def test_smartctl_exit_status_is_a_bit_mask(status, ok):
    spec = Command("smartctl_scan", ("smartctl",), ok_exit_mask=SMARTCTL_OK_EXIT_MASK)
    assert spec.exit_ok(status) is ok


def test_without_mask_only_zero_is_success():
    spec = Command("x", ("true",))
    assert spec.exit_ok(0)
    assert not spec.exit_ok(4)


@pytest.mark.parametrize(
    ("device", "dev_type", "name"),
    [
        ("/dev/sda", "sat", "smartctl_x.sda"),
        ("/dev/nvme0", "nvme", "smartctl_x.nvme0"),
        ("/dev/bus/0", "megaraid,3", "smartctl_x.bus_0.megaraid_3"),
        ("/dev/disk/by-id/ata-X Y", "", "smartctl_x.disk_by-id_ata-X_Y"),
    ],
)
def test_smartctl_x_names_are_plain_file_names(device, dev_type, name):
    spec = smartctl_x(device, dev_type)
    assert spec.name == name
    assert spec.argv[-1] == device
    if dev_type:
        assert spec.argv[-3:-1] == ("-d", dev_type)
    else:
        assert "-d" not in spec.argv


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "host.toml", "manifest.json", ".hidden"])
def test_names_that_are_not_plain_file_names_are_refused(name):
    with pytest.raises(ValueError, match="not a plain file name"):
        File(name, "/etc/hostname")
