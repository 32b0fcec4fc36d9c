"""Boot faults: unclean shutdowns, panics, bug checks, failed units."""

from __future__ import annotations
