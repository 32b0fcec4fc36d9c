"""Batch payload compression: zstd, optionally with a trained dictionary.

grpcio only offers gzip/deflate, and a per-message zstd frame with a shared
dictionary is what gets a small steady-state snapshot to a few hundred bytes
(see README, Performance). Decompression is bounded: a frame that claims or
produces more than the limit is rejected before it is allocated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import zstandard

CODEC_NONE = 1
CODEC_ZSTD = 2
CODECS = {CODEC_NONE: "none", CODEC_ZSTD: "zstd"}


class CodecError(ValueError):
    """A payload that cannot be decoded as declared."""


class Dictionaries:
    """zstd dictionaries known to this process, by their zstd dictionary id."""

    def __init__(self, dicts: Iterable[zstandard.ZstdCompressionDict] = ()) -> None:
        self._by_id: dict[int, zstandard.ZstdCompressionDict] = {}
        for d in dicts:
            self._by_id[d.dict_id()] = d

    @classmethod
    def from_dir(cls, folder: Path | None) -> Dictionaries:
        """Load every *.zdict file in folder (none when folder is None)."""
        if folder is None:
            return cls()
        return cls(
            zstandard.ZstdCompressionDict(p.read_bytes()) for p in sorted(folder.glob("*.zdict"))
        )

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._by_id))

    def get(self, dict_id: int) -> zstandard.ZstdCompressionDict | None:
        return self._by_id.get(dict_id)

    def as_mapping(self) -> Mapping[int, zstandard.ZstdCompressionDict]:
        return dict(self._by_id)


def train_dictionary(
    samples: Iterable[bytes], size: int = 16 * 1024
) -> zstandard.ZstdCompressionDict:
    """Train a dictionary from serialized records (collector-side tooling and benchmarks)."""
    return zstandard.train_dictionary(size, list(samples))


class Codec:
    """Thread-safe compress/decompress with cached contexts per dictionary."""

    def __init__(self, dictionaries: Dictionaries | None = None, level: int = 3) -> None:
        self.dictionaries = dictionaries or Dictionaries()
        self._level = level
        self._local = threading.local()

    def _dictionary(self, dict_id: int) -> zstandard.ZstdCompressionDict | None:
        """The dictionary for dict_id (None for 0, no dictionary); CodecError if unknown."""
        if not dict_id:
            return None
        d = self.dictionaries.get(dict_id)
        if d is None:
            raise CodecError(f"unknown zstd dictionary id {dict_id}")
        return d

    def _compressor(self, dict_id: int) -> zstandard.ZstdCompressor:
        cache: dict[int, zstandard.ZstdCompressor] = self._local.__dict__.setdefault("c", {})
        if dict_id not in cache:
            cache[dict_id] = zstandard.ZstdCompressor(
                level=self._level, dict_data=self._dictionary(dict_id), write_content_size=True
            )
        return cache[dict_id]

    def _decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache: dict[int, zstandard.ZstdDecompressor] = self._local.__dict__.setdefault("d", {})
        if dict_id not in cache:
            cache[dict_id] = zstandard.ZstdDecompressor(dict_data=self._dictionary(dict_id))
        return cache[dict_id]

    def compress(self, payload: bytes, dict_id: int = 0) -> bytes:
        return self._compressor(dict_id).compress(payload)

    def encode(self, payload: bytes, dict_id: int = 0) -> tuple[bytes, int, int]:
        """(data, codec, dictionary id) to send: zstd, unless its frame would cost more
        than it saves (a lone small record without a dictionary), then the payload as is."""
        compressed = self.compress(payload, dict_id)
        if len(compressed) < len(payload):
            return compressed, CODEC_ZSTD, dict_id
        return payload, CODEC_NONE, 0

    def decompress(self, data: bytes, codec: int, dict_id: int, max_size: int) -> bytes:
        if codec == CODEC_NONE:
            if dict_id:
                raise CodecError("a dictionary id was given for an uncompressed payload")
            if len(data) > max_size:
                raise CodecError(f"payload of {len(data)} bytes exceeds the {max_size}-byte limit")
            return data
        if codec != CODEC_ZSTD:
            raise CodecError(f"unknown codec {codec}")
        dctx = self._decompressor(dict_id)
        try:
            params = zstandard.get_frame_parameters(data)
        except zstandard.ZstdError as exc:
            raise CodecError(f"not a zstd frame: {exc}") from None
        # Our agents always write the content size (zstd's default). Requiring it lets the
        # limit be checked before a byte is allocated, and makes a truncated frame an error
        # rather than a short payload.
        if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
            raise CodecError("zstd frame does not declare its content size")
        if params.content_size > max_size:
            raise CodecError(
                f"frame declares {params.content_size} bytes, over the {max_size}-byte limit"
            )
        if params.dict_id != dict_id:
            raise CodecError(f"frame uses dictionary {params.dict_id}, batch declares {dict_id}")
        try:
            out = dctx.decompress(data, max_output_size=max_size)
        except zstandard.ZstdError as exc:
            raise CodecError(f"corrupt or truncated zstd frame: {exc}") from None
        if len(out) != params.content_size:
            raise CodecError(f"frame declares {params.content_size} bytes but holds {len(out)}")
        return out
