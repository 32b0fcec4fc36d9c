import pytest

from agent.parsers import ParseError, machine_id


def test_real_id():
    assert machine_id.parse("3d1219c7c4c5404aaa1f6d2a48adfda4\n") == (
        "3d1219c7c4c5404aaa1f6d2a48adfda4"
    )


@pytest.mark.parametrize("text", ["", "\n", "uninitialized\n"])
def test_not_yet_initialised_is_empty_not_an_error(text):
    assert machine_id.parse(text) == ""


@pytest.mark.parametrize("text", ["3D1219C7C4C5404AAA1F6D2A48ADFDA4", "3d1219c7", "<html>"])
def test_garbage(text):
    with pytest.raises(ParseError, match="32 lowercase hex"):
        machine_id.parse(text)
