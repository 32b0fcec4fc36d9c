"""dns_wire: the query bytes RFC 1035 prescribes, and responses good, odd and garbled."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agent.parsers import ParseError, dns_wire

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "net"
QUESTION = b"\x07example\x03com\x00\x00\x01\x00\x01"


def _response(
    query_id: int = 0x1234,
    flags: int = 0x8180,
    question: bytes = QUESTION,
    qdcount: int = 1,
    ancount: int = 0,
) -> bytes:
    return struct.pack("!HHHHHH", query_id, flags, qdcount, ancount, 0, 0) + question


def test_build_query_is_rfc_1035_layout() -> None:
    # ID, flags RD, QDCOUNT 1, then QNAME labels, QTYPE A, QCLASS IN.
    assert dns_wire.build_query(0x1234, "example.com") == (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + QUESTION
    )
    assert dns_wire.build_query(7, "example.com.", dns_wire.QTYPE_AAAA).endswith(
        b"\x00\x1c\x00\x01"
    )


def test_names() -> None:
    assert dns_wire.encode_name(".") == b"\x00"
    assert dns_wire.encode_name("bücher.example") == b"\x0dxn--bcher-kva\x07example\x00"
    for bad in ("a..b", "x" * 64 + ".com", ".".join(["abcdefgh"] * 32), "\udcff.com"):
        with pytest.raises(ValueError):
            dns_wire.encode_name(bad)
    with pytest.raises(ValueError):
        dns_wire.build_query(0x10000, "example.com")


def test_a_real_nxdomain_from_this_machines_resolver() -> None:
    data = bytes.fromhex((FIXTURES / "dns_response_nxdomain.hex").read_text().strip())
    assert dns_wire.parse_response(data, 0x4A2F, "example.com", 1) == (3, 0)


def test_rcodes_and_answer_counts() -> None:
    assert dns_wire.parse_response(_response(ancount=2), 0x1234, "example.com", 1) == (0, 2)
    assert dns_wire.parse_response(_response(flags=0x8182), 0x1234) == (2, 0)
    # 0x20 case randomisation: a name compares case-insensitively.
    upper = b"\x07ExAmPlE\x03COM\x00\x00\x01\x00\x01"
    assert dns_wire.parse_response(_response(question=upper), 0x1234, "example.com", 1) == (0, 0)
    # REFUSED may come without the question.
    assert dns_wire.parse_response(_response(flags=0x8185, question=b"", qdcount=0), 0x1234) == (
        5,
        0,
    )


def test_truncated_flag() -> None:
    assert dns_wire.truncated(_response(flags=0x8380))
    assert not dns_wire.truncated(_response())


def test_another_querys_answer_is_an_id_mismatch() -> None:
    with pytest.raises(dns_wire.IdMismatch):
        dns_wire.parse_response(_response(query_id=0x4321), 0x1234)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x12\x34\x81",
        _response(flags=0x0100),  # a query, not a response
        _response(flags=0x8980),  # opcode 1
        _response(qdcount=2),
        _response(question=b"\x07example\x03com\x00\x00\x01"),  # no QCLASS
        _response(question=b"\x07examp"),  # label past the end
        _response(question=b"\xc0\x0c\x00\x01\x00\x01"),  # pointer to itself, forever
        _response(question=b"\x47example\x00\x00\x01\x00\x01"),  # label type 01
        _response(question=b"\x07example\x03org\x00\x00\x01\x00\x01"),  # another name
        _response(question=b"\x07example\x03com\x00\x00\x1c\x00\x01"),  # another type
        _response(question=b"\x07example\x03com\x00\x00\x01\x00\x03"),  # class CH
    ],
)
def test_garbage_raises_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError) as info:
        dns_wire.parse_response(data, 0x1234, "example.com", 1)
    assert not isinstance(info.value, dns_wire.IdMismatch)
