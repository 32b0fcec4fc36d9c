"""The DNS wire format for one query and its response header (RFC 1035 section 4).

https://www.rfc-editor.org/rfc/rfc1035#section-4.1

    header   ID(16) | QR Opcode(4) AA TC RD RA Z(3) RCODE(4) | QD, AN, NS, ARCOUNT (16 each)
    question QNAME (length-prefixed labels, 0-terminated) | QTYPE(16) | QCLASS(16)

build_query() makes a standard recursive query (RD set, one question, class IN);
parse_response() checks that bytes are the answer to it - same id, QR set, standard
query, the same question (names compare case-insensitively, RFC 4343) - and returns the
RCODE and ANCOUNT. The answers themselves are not decoded: the probe needs to know
whether the server answered and how, not what. Pure functions, so the socket code in
agent/netcalls.py stays small.
"""

from __future__ import annotations

import struct

from agent.parsers import ParseError

QTYPE_A = 1
QTYPE_AAAA = 28
CLASS_IN = 1
_HEADER = struct.Struct("!HHHHHH")
_FLAG_QR = 0x8000
_FLAG_RD = 0x0100
_FLAG_TC = 0x0200
# RFC 1035 4.1.1, RFC 6895 2.3.
RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}


class IdMismatch(ParseError):
    """A well-formed response to some other query (late, or spoofed): keep waiting."""


def build_query(query_id: int, name: str, qtype: int = QTYPE_A) -> bytes:
    """A recursive query for `name` (ASCII or IDNA); ValueError when `name` is not a name."""
    if not 0 <= query_id <= 0xFFFF or not 0 <= qtype <= 0xFFFF:
        raise ValueError("query id and type are 16-bit")
    header = _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def encode_name(name: str) -> bytes:
    out = bytearray()
    for raw in _labels(name):
        if not 0 < len(raw) <= 63:
            raise ValueError(f"not a DNS name: {name!r} (label length {len(raw)})")
        out += bytes([len(raw)]) + raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"not a DNS name: {name!r} (longer than 255 octets)")
    return bytes(out)


def _labels(name: str) -> list[bytes]:
    if name in ("", "."):
        return []  # the root
    try:
        return [label.encode("idna") for label in name.removesuffix(".").split(".")]
    except UnicodeError:
        raise ValueError(f"not a DNS name: {name!r}") from None


def parse_response(
    data: bytes, query_id: int, name: str | None = None, qtype: int | None = None
) -> tuple[int, int]:
    """(RCODE, ANCOUNT) of the response to query `query_id` (and, when given, the question
    `name`/`qtype`). IdMismatch when it answers another id; ParseError when it is not a
    DNS response to this query."""
    if len(data) < _HEADER.size:
        raise ParseError(f"DNS response of {len(data)} bytes is shorter than a header")
    got_id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    if got_id != query_id:
        raise IdMismatch(f"response id {got_id:#06x} is not the query's {query_id:#06x}")
    if not flags & _FLAG_QR:
        raise ParseError("DNS message is a query, not a response")
    if (flags >> 11) & 0xF:
        raise ParseError(f"DNS response opcode {(flags >> 11) & 0xF} is not a standard query")
    rcode = flags & 0xF
    # A server may leave the question out of a FORMERR/NOTIMP/REFUSED (RFC 1035 4.1.1).
    if qdcount == 0 and rcode in (1, 4, 5):
        return rcode, ancount
    if qdcount != 1:
        raise ParseError(f"DNS response has {qdcount} questions, the query had 1")
    got_name, offset = _read_name(data, _HEADER.size)
    if len(data) < offset + 4:
        raise ParseError("DNS response question is truncated")
    got_type, got_class = struct.unpack_from("!HH", data, offset)
    if name is not None and got_name.lower() != b".".join(_labels(name)).decode().lower():
        raise ParseError(f"DNS response is for {got_name!r}, not {name!r}")
    if (qtype is not None and got_type != qtype) or got_class != CLASS_IN:
        raise ParseError(f"DNS response question is type {got_type} class {got_class}")
    return rcode, ancount


def truncated(data: bytes) -> bool:
    """TC: the answer did not fit in UDP (the counts still hold)."""
    return len(data) >= _HEADER.size and bool(_HEADER.unpack_from(data)[1] & _FLAG_TC)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The uncompressed QNAME at `offset` (a question name is never compressed in practice,
    but a pointer is followed once for robustness) → (name, offset after it)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if offset >= len(data):
            raise ParseError("DNS name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data) or jumps > 8:
                raise ParseError("DNS name has a bad compression pointer")
            end = offset + 2 if end < 0 else end
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            continue
        if length & 0xC0:
            raise ParseError(f"DNS name label type {length >> 6} is not supported")
        offset += 1
        if length == 0:
            break
        if offset + length > len(data):
            raise ParseError("DNS name label runs past the end of the message")
        labels.append(data[offset : offset + length].decode("ascii", errors="replace"))
        offset += length
    return ".".join(labels), (end if end >= 0 else offset)
