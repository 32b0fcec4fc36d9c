"""Driver and device faults: crash loops, problem codes, failed loads."""

from __future__ import annotations
