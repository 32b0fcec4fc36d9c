"""What a single sample cannot say: rates over the agent's recent samples.

* Volume growth: a least-squares slope of used bytes over the last samples (at most
  MAX_SAMPLES, within WINDOW_S), so "will fill within 24 h" is known on the host, and a
  one-off spike (a download, then deleted) moves the slope only a little.
* Disk latency, utilisation and queue depth from two /proc/diskstats samples
  (agent/parsers/proc_diskstats.rates, iostat's formulas).

State is per mount and per disk, bounded (MAX_KEYS each), in memory: after a restart the
rates are unknown (0) for one interval, which costs nothing a rule cares about.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from agent.parsers.proc_diskstats import rates
from agent.records import DiskIo, Snapshot, Volume

MAX_SAMPLES = 32
WINDOW_S = 6 * 3600.0
MIN_SPAN_S = 120.0  # a slope over less than two minutes is noise
MAX_KEYS = 128


class Deriver:
    def __init__(self) -> None:
        self._usage: dict[str, deque[tuple[float, int]]] = {}
        self._io: dict[str, tuple[float, DiskIo]] = {}

    def apply(self, snap: Snapshot) -> Snapshot:
        t = snap.taken_at_ms / 1000.0
        volumes = tuple(self._volume(t, v) for v in snap.volumes)
        disk_io = tuple(self._disk(t, d) for d in snap.disk_io)
        _bound(self._usage, {v.mount for v in snap.volumes})
        _bound(self._io, {d.device for d in snap.disk_io})
        return dataclasses.replace(snap, volumes=volumes, disk_io=disk_io)

    def _volume(self, t: float, v: Volume) -> Volume:
        key = f"{v.device} {v.mount}"
        samples = self._usage.setdefault(key, deque(maxlen=MAX_SAMPLES))
        if samples and (t <= samples[-1][0] or v.used_bytes + v.free_bytes == 0):
            samples.clear()  # the clock went back, or the volume is a new one
        samples.append((t, v.used_bytes))
        while samples and t - samples[0][0] > WINDOW_S:
            samples.popleft()
        slope = _slope(samples)  # bytes per second
        if slope is None:
            return v
        to_full = v.free_bytes / slope if slope > 0 else 0.0
        return dataclasses.replace(v, growth_bytes_per_hour=slope * 3600.0, seconds_to_full=to_full)

    def _disk(self, t: float, d: DiskIo) -> DiskIo:
        previous = self._io.get(d.device)
        self._io[d.device] = (t, d)
        if previous is None or t <= previous[0]:
            return d
        return rates(previous[1], d, t - previous[0])


def _slope(samples: deque[tuple[float, int]]) -> float | None:
    if len(samples) < 2 or samples[-1][0] - samples[0][0] < MIN_SPAN_S:
        return None
    n = len(samples)
    mean_t = sum(s[0] for s in samples) / n
    mean_u = sum(s[1] for s in samples) / n
    var = sum((s[0] - mean_t) ** 2 for s in samples)
    if var == 0:
        return None
    return sum((s[0] - mean_t) * (s[1] - mean_u) for s in samples) / var


def _bound(state: dict[str, Any], live: set[str]) -> None:
    # Keys of volumes or disks no longer present go first; then the oldest.
    for key in [k for k in state if k.split(" ")[-1] not in live and k not in live]:
        if len(state) <= MAX_KEYS // 2:
            break
        del state[key]
    while len(state) > MAX_KEYS:
        del state[next(iter(state))]
