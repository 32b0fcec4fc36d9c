"""Batch payload codec: zstd with or without a dictionary, bounded before allocation."""

from __future__ import annotations

import pytest
import zstandard

from agent.common.codec import (
    CODEC_NONE,
    CODEC_ZSTD,
    Codec,
    CodecError,
    Dictionaries,
    train_dictionary,
)

SAMPLES = [
    f'{{"host": "ws-{i}", "mount": "/", "used": {i * 7919}}}'.encode() * 8 for i in range(300)
]


def test_round_trip_plain_and_with_a_dictionary() -> None:
    d = train_dictionary(SAMPLES, 4096)
    codec = Codec(Dictionaries([d]))
    payload = SAMPLES[42]
    assert codec.decompress(codec.compress(payload), CODEC_ZSTD, 0, 1 << 20) == payload
    with_dict = codec.compress(payload, d.dict_id())
    assert codec.decompress(with_dict, CODEC_ZSTD, d.dict_id(), 1 << 20) == payload
    assert codec.dictionaries.ids == (d.dict_id(),)


def test_dictionary_mismatches_are_refused() -> None:
    d = train_dictionary(SAMPLES, 4096)
    codec = Codec(Dictionaries([d]))
    with_dict = codec.compress(SAMPLES[1], d.dict_id())
    with pytest.raises(CodecError, match="batch declares 0"):
        codec.decompress(with_dict, CODEC_ZSTD, 0, 1 << 20)
    with pytest.raises(CodecError, match="unknown zstd dictionary id 7"):
        codec.decompress(with_dict, CODEC_ZSTD, 7, 1 << 20)
    with pytest.raises(CodecError, match="unknown zstd dictionary id 9"):
        Codec().compress(b"x", 9)


def test_limits_are_checked_before_decompressing() -> None:
    codec = Codec()
    bomb = codec.compress(b"\0" * 100_000)
    with pytest.raises(CodecError, match="declares 100000 bytes, over the 1000-byte limit"):
        codec.decompress(bomb, CODEC_ZSTD, 0, 1000)
    unsized = zstandard.ZstdCompressor().compressobj()
    frame = unsized.compress(b"\0" * 100) + unsized.flush()
    with pytest.raises(CodecError, match="does not declare its content size"):
        codec.decompress(frame, CODEC_ZSTD, 0, 1000)
    with pytest.raises(CodecError, match="exceeds the 10-byte limit"):
        codec.decompress(b"x" * 11, CODEC_NONE, 0, 10)


@pytest.mark.parametrize(
    ("data", "codec_id", "dict_id", "message"),
    [
        (b"\x00garbage", CODEC_ZSTD, 0, "not a zstd frame"),
        (Codec().compress(SAMPLES[0])[:-4], CODEC_ZSTD, 0, "truncated zstd frame"),
        (b"abc", 9, 0, "unknown codec 9"),
        (b"abc", CODEC_NONE, 3, "a dictionary id was given for an uncompressed payload"),
    ],
)
def test_bad_payloads(data: bytes, codec_id: int, dict_id: int, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        Codec().decompress(data, codec_id, dict_id, 1 << 20)


def test_encode_falls_back_to_plain_when_zstd_does_not_pay() -> None:
    codec = Codec()
    assert codec.encode(b"tiny") == (b"tiny", CODEC_NONE, 0)
    data, codec_id, dict_id = codec.encode(SAMPLES[3])
    assert codec_id == CODEC_ZSTD and dict_id == 0 and len(data) < len(SAMPLES[3])
    assert codec.decompress(data, codec_id, dict_id, 1 << 20) == SAMPLES[3]
