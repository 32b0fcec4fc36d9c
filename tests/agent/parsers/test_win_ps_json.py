"""PowerShell ConvertTo-Json quirks, as both Windows PowerShell 5.1 and PowerShell 7 print them."""

import pytest

from agent.parsers import ParseError
from agent.parsers import win_ps_json as ps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("\r\n", []),
        ("null\r\n", []),
        ("[]\r\n", []),
        ('{"a":1}\r\n', [{"a": 1}]),  # one result piped into ConvertTo-Json: no array
        ('\ufeff[{"a":1},null,{"a":2}]\r\n', [{"a": 1}, {"a": 2}]),  # BOM, and a null item
        ('{"value":[{"a":1}],"Count":1}', [{"a": 1}]),  # 5.1 System.Array ETS wrapping
    ],
)
def test_load_list_shapes(text: str, expected: list[object]) -> None:
    assert ps.load_list(text, "t") == expected


def test_load_list_rejects_what_is_not_json() -> None:
    with pytest.raises(ParseError, match="t: not JSON"):
        ps.load_list("Get-Volume : Access denied\r\n", "t")
    with pytest.raises(ParseError, match="expected a JSON array or object"):
        ps.load_list('"text"', "t")


def test_load_object_needs_an_object() -> None:
    with pytest.raises(ParseError, match="got no output"):
        ps.load_object("", "t")


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("/Date(1795193371267)/", 1795193371267),  # 5.1 ("\/Date(..)\/" in the JSON text)
        ("/Date(1795193371267+0100)/", 1795193371267),
        (
            {"value": "/Date(1795193371267)/", "DisplayHint": 2, "DateTime": "Freitag"},
            1795193371267,
        ),
        ("2026-11-20T17:49:31.2670000+01:00", 1795193371267),  # pwsh 7, 7 fraction digits
        ("2026-11-20T16:49:31.267Z", 1795193371267),
        ("2026-11-20T16:49:31.267", 1795193371267),  # no offset: taken as UTC
        ("20261120174931.267000+060", 1795193371267),  # DMTF (Get-WmiObject), UTC+60 min
        (1795193371267, 1795193371267),
        (None, 0),
        ("", 0),
    ],
)
def test_time_ms_forms(value: object, ms: int) -> None:
    assert ps.time_ms({"t": value}, "t") == ms


def test_time_ms_of_the_json_text_itself() -> None:
    (item,) = ps.load_list('[{"t":"\\/Date(1795193371267)\\/"}]', "x")
    assert isinstance(item, dict)
    assert ps.time_ms(item, "t") == 1795193371267


def test_time_ms_rejects_other_text() -> None:
    with pytest.raises(ParseError, match="not a date"):
        ps.time_ms({"t": "Freitag, 20. November 2026"}, "t")


def test_enum_numbers_names_and_unknowns() -> None:
    names = {0: "Healthy", 1: "Warning", 5: "Unknown"}
    assert ps.enum({"h": 0}, "h", names) == "Healthy"
    assert ps.enum({"h": "1"}, "h", names) == "Warning"
    assert ps.enum({"h": "healthy"}, "h", names) == "Healthy"
    assert ps.enum({"h": [1, 0]}, "h", names) == "Warning"
    assert ps.enum({"h": 7}, "h", names) == "7"
    assert ps.enum({}, "h", names) == ""
    assert ps.enums({"h": [0, 5]}, "h", names) == ("Healthy", "Unknown")
    assert ps.enums({"h": 1}, "h", names) == ("Warning",)
    with pytest.raises(ParseError):
        ps.enum({"h": {"x": 1}}, "h", names)


def test_numbers_texts_and_flags() -> None:
    doc = {"n": 17, "s": "18446744073709551615", "f": 3.0, "b": True, "t": " C\x00 ", "x": "x"}
    assert ps.number(doc, "n") == 17
    assert ps.number(doc, "s") == 2**64 - 1  # uint64 as a string
    assert ps.number(doc, "f") == 3
    assert ps.number(doc, "missing", 9) == 9
    assert ps.text(doc, "t") == "C"
    assert ps.text(doc, "n") == "17"
    assert ps.flag(doc, "b") and not ps.flag(doc, "missing") and ps.flag({"b": "True"}, "b")
    for bad in ("b", "x"):
        with pytest.raises(ParseError):
            ps.number(doc, bad)
    with pytest.raises(ParseError):
        ps.flag(doc, "x")


def test_mac_address() -> None:
    assert ps.mac_address("A4-C3-F0-5E-21-7B") == "a4:c3:f0:5e:21:7b"
    assert ps.mac_address("A4C3F05E217B") == "a4:c3:f0:5e:21:7b"
    assert ps.mac_address("") == ""


def test_iso_utc() -> None:
    assert ps.iso_utc(1795193371267) == "2026-11-20T16:49:31Z"
