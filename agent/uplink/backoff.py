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

    @property
    def ceiling(self) -> float:
        """No delay is ever longer than this: the maximum plus its jitter."""
        return self.maximum * (1 + self.jitter)

    def reset(self) -> None:
        self._next = self.initial

    def next_delay(self, at_least: float = 0.0) -> float:
        """The delay to wait now; the next one grows by factor, capped at maximum.

        at_least is a floor asked for by the server (retry-after): it is honoured
        exactly, jittered upwards only, so a fleet told "not before 10 s" does not
        come back at 10 s all at once. A floor above the ceiling is clipped to it:
        a collector cannot park its agents for longer than the configured maximum.
        """
        base = self._next
        self._next = min(self.maximum, self._next * self.factor)
        delay = base * (1 + self.rng.uniform(-self.jitter, self.jitter))
        if delay < at_least:
            delay = at_least * (1 + self.rng.uniform(0, self.jitter))
        return float(min(self.ceiling, delay))
