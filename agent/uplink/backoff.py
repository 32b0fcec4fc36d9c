"""Exponential backoff with ±20% jitter, a fleet that lost its collector returns spread out."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float
    maximum: float
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._next = self.initial

    def reset(self) -> None:
        self._next = self.initial

    def next_delay(self, at_least: float = 0.0) -> float:
        """The delay to wait now; the next one grows by factor, capped at maximum."""
        base = max(self._next, at_least)
        self._next = min(self.maximum, self._next * self.factor)
        spread = base * self.jitter
        return float(
            min(self.maximum * (1 + self.jitter), base + self.rng.uniform(-spread, spread))
        )
