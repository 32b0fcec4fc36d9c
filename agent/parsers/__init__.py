"""Pure parsers: one module per source format. See README.md for the rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_EXAMPLES = 3


class ParseError(ValueError):
    """The input is not in the expected format at all; the message says where (line or key).

    A parser raises it only when nothing useful can be read (not JSON, not the expected
    document). A garbled or unknown line inside otherwise good output is a warning.
    """


@dataclass(slots=True)
class Warnings:
    """Counts what a parser skipped, keeping the first few as examples ("line 7: ...")."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message[:200])


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """A parser's result plus what it could not understand."""

    value: T
    warnings: int = 0
    examples: tuple[str, ...] = ()

    @classmethod
    def of(cls, value: T, warnings: Warnings) -> Parsed[T]:
        return cls(value, warnings.count, tuple(warnings.examples))
