from pathlib import Path

import pytest

from agent.parsers import ParseError, proc_modules
from agent.records import DriverInfo

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def test_taint_letters_map_to_provider_and_signed() -> None:
    parsed = proc_modules.parse((FIXTURES / "modules.workstation").read_text("utf-8"))
    by_name = {m.name: m for m in parsed.value}
    assert len(by_name) == 10
    assert by_name["nvidia"] == DriverInfo("nvidia", provider="proprietary", signed=False)
    assert by_name["vboxdrv"] == DriverInfo("vboxdrv", provider="out-of-tree", signed=False)
    assert by_name["r8188eu"] == DriverInfo("r8188eu", provider="staging", signed=True)
    assert by_name["v4l2loopback"] == DriverInfo(
        "v4l2loopback", provider="out-of-tree", signed=False
    )
    # No letters: in tree, signature unknown counts as signed; hidden address (0x0) is fine.
    assert by_name["snd_hda_intel"] == DriverInfo("snd_hda_intel")
    assert by_name["ext4"] == DriverInfo("ext4")
    assert parsed.warnings == 1
    assert parsed.examples[0].startswith("line 11:")


def test_kernel_without_module_unloading_prints_dashes() -> None:
    parsed = proc_modules.parse("loop 36864 - - Live 0xffffffffc0300000\n")
    assert parsed.value == (DriverInfo("loop"),)


def test_empty_file_is_no_modules_and_garbage_is_an_error() -> None:
    assert proc_modules.parse("").value == ()
    with pytest.raises(ParseError):
        proc_modules.parse("Module                  Size  Used by\nnvidia 1 2\n")
