from pathlib import Path

import pytest

from agent.parsers import ParseError, kernel_tainted

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def test_real_vm_is_untainted() -> None:
    parsed = kernel_tainted.parse((FIXTURES / "tainted.debian12-vm").read_text("utf-8"))
    assert (parsed.value, parsed.warnings) == (0, 0)
    assert kernel_tainted.flags(0) == ()


def test_proprietary_out_of_tree_unsigned() -> None:
    taint = kernel_tainted.parse((FIXTURES / "tainted.proprietary-unsigned").read_text()).value
    assert taint == 12289
    assert kernel_tainted.flags(taint) == ("P", "O", "E")
    assert kernel_tainted.describe(taint)[2] == "E: unsigned module loaded"


def test_every_documented_bit_has_its_letter() -> None:
    assert kernel_tainted.flags(1 << 7) == ("D",)
    assert kernel_tainted.flags(1 << 4 | 1 << 14) == ("M", "L")
    assert kernel_tainted.flags(1 << 17 | 1 << 18) == ("T", "N")
    assert "".join(kernel_tainted.flags(2**20 - 1)) == "PFSRMBUDAWCIOELKXTNJ"


def test_unknown_high_bits_are_named_by_number() -> None:
    assert kernel_tainted.flags(1 << 28 | 1) == ("P", "bit28")
    assert kernel_tainted.describe(1 << 28) == ("bit28: unknown",)


@pytest.mark.parametrize("text", ["", "-1", "tainted\n", "0x10"])
def test_not_a_number(text: str) -> None:
    with pytest.raises(ParseError):
        kernel_tainted.parse(text)
