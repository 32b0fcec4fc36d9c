"""Bytes on the wire per snapshot, next to gzip'd JSON of the same content.

Snapshots are real: this host's (LiveSource, the agent's probes via agent.runner.collect)
and the captured fixture host tests/fixtures/hosts/linux-debian12-vm (DirectorySource).
They are encoded exactly as the agent sends them: encode_body → spool row → batch_payload
(a TelemetryBatch) → zstd (agent.common.codec.Codec) → Batch in an AgentMessage.

Steady state is simulated by varying what changes between cycles (the timestamp, used and
free bytes, free inodes, probe timings); everything else stays as collected. Cases:
  * 1 snapshot per batch, zstd, no dictionary;
  * 1 snapshot per batch, zstd with a dictionary trained (train_dictionary) on
    TRAIN_SAMPLES such batches of the same host and applied to a held-out one;
  * the same with a "fleet" dictionary, trained on 100 other hosts (own hostname,
    machine id, boot time, memory and disk sizes) and never on this one: what a
    collector-wide dictionary would give a host it has not seen;
  * 50 snapshots in one batch (a backlog drain), bytes per snapshot, with and without
    the dictionary;
  * the agent's real steady cycle: snapshot + its AgentStats record in one batch.

Columns: payload = the compressed TelemetryBatch; wire = the serialized AgentMessage plus
gRPC's 5-byte message prefix and HTTP/2's 9-byte DATA frame header (no TCP/IP, no TLS);
gzip JSON = gzip(json.dumps(dataclasses.asdict(snapshot))) of the same snapshots (a JSON
array for batches; compact separators, gzip level 9). gzip has no trained dictionary, so
its dictionary rows repeat the plain figure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import random
import time
from dataclasses import dataclass, replace

import agent
from agent.common.codec import Codec, Dictionaries, train_dictionary
from agent.probes import PROBES
from agent.records import AgentStats, Priority, ProbeTiming, Snapshot, Volume
from agent.runner import collect
from agent.sources import DirectorySource, LiveSource, Source
from agent.uplink.convert import batch_message, batch_payload, encode_body
from agent.uplink.spool import SpoolRow
from tests.bench.report import ROOT, Outcome, Row, judged

NAME = "wire"
FIXTURE = ROOT / "tests" / "fixtures" / "hosts" / "linux-debian12-vm"
TRAIN_SAMPLES = 300
BATCH = 50
STEADY_TARGET = 600  # bytes per steady-state snapshot with a dictionary (long-term goal)
FRAMING = 5 + 9  # gRPC length-prefixed message + HTTP/2 DATA frame header


@dataclass(frozen=True)
class Case:
    name: str
    snapshots: int
    raw: int  # uncompressed TelemetryBatch bytes
    payload: int
    wire: int
    gzip_json: int

    def per(self, n: int) -> float:
        return n / self.snapshots


def vary(snap: Snapshot, i: int, rng: random.Random) -> Snapshot:
    """Cycle i after snap: what really changes between two collections of the same host."""
    volumes: list[Volume] = []
    for v in snap.volumes:
        delta = rng.randint(-16384, 16384) * 4096 if v.total_bytes else 0
        used = min(max(v.used_bytes + delta, 0), v.total_bytes)
        free = max(v.free_bytes - (used - v.used_bytes), 0)
        inodes = max(v.inodes_free - rng.randint(-500, 500), 0) if v.inodes_free else 0
        volumes.append(replace(v, used_bytes=used, free_bytes=free, inodes_free=inodes))
    timings = tuple(
        ProbeTiming(t.probe, rng.uniform(0.0005, 0.01), rng.uniform(0.0001, 0.002))
        for t in snap.timings
    )
    return replace(
        snap,
        taken_at_ms=snap.taken_at_ms + i * 60_000 + rng.randint(0, 50),
        volumes=tuple(volumes),
        timings=timings,
    )


def rows_of(bodies: list[tuple[Priority, str, bytes]], first_seq: int) -> list[SpoolRow]:
    return [SpoolRow(first_seq + k, p, kind, b) for k, (p, kind, b) in enumerate(bodies)]


def snapshot_rows(snaps: list[Snapshot], first_seq: int) -> list[SpoolRow]:
    return rows_of(
        [(Priority.NORMAL, "snapshot", encode_body(s, Priority.NORMAL)) for s in snaps], first_seq
    )


def as_dict(body: Snapshot | AgentStats) -> dict[str, object]:
    """dataclasses.asdict, except that AgentStats' frozen map (a mappingproxy, which
    asdict cannot copy) becomes a plain dict."""
    if isinstance(body, AgentStats):
        return {f.name: getattr(body, f.name) for f in dataclasses.fields(body)} | {
            "dropped": dict(body.dropped)
        }
    return dataclasses.asdict(body)


def gzip_json(bodies: list[Snapshot | AgentStats]) -> int:
    docs = [as_dict(b) for b in bodies]
    text = json.dumps(docs[0] if len(docs) == 1 else docs, separators=(",", ":"), default=dict)
    return len(gzip.compress(text.encode(), compresslevel=9, mtime=0))


def measure(
    name: str,
    rows: list[SpoolRow],
    bodies: list[Snapshot | AgentStats],
    codec: Codec,
    dict_id: int,
) -> Case:
    raw = batch_payload(rows)
    payload, codec_id, used_dict = codec.encode(raw, dict_id)  # what the agent sends
    msg = batch_message(rows, payload, codec_id, used_dict)
    snapshots = sum(isinstance(b, Snapshot) for b in bodies)
    return Case(name, snapshots, len(raw), len(payload), msg.ByteSize() + FRAMING,
                gzip_json(bodies))  # fmt: skip


def other_host(base: Snapshot, k: int, rng: random.Random) -> Snapshot:
    """Another workstation of the fleet: same OS image, its own identity and disk sizes."""
    inv = base.inventory
    if inv is not None:
        inv = replace(
            inv,
            hostname=f"ws-{k:05d}",
            machine_id=rng.randbytes(16).hex(),
            boot_time_unix=inv.boot_time_unix - rng.randint(0, 30 * 86400),
            memory_bytes=rng.choice((8, 16, 32)) * 1024**3 - rng.randint(0, 1 << 20) * 4096,
        )
    volumes = tuple(
        replace(v, total_bytes=t, used_bytes=t // 3, free_bytes=t - t // 3 - t // 20)
        for v in base.volumes
        for t in [rng.choice((256, 512, 1024)) * 10**9 - rng.randint(0, 1 << 20) * 4096]
    )
    return replace(base, inventory=inv, volumes=volumes)


def train(samples: list[Snapshot]) -> Codec:
    payloads = [batch_payload(snapshot_rows([s], 1000 + i)) for i, s in enumerate(samples)]
    return Codec(Dictionaries([train_dictionary(list(payloads))]))


def host_cases(label: str, base: Snapshot, seed: int) -> list[Case]:
    rng = random.Random(seed)
    codec = train([vary(base, i, rng) for i in range(1, TRAIN_SAMPLES + 1)])
    (dict_id,) = codec.dictionaries.ids
    # A dictionary trained on the fleet (other hosts, a few cycles each), never on this host.
    fleet = [vary(other_host(base, k, rng), c, rng) for k in range(100) for c in range(3)]
    fleet_codec = train(fleet)
    (fleet_id,) = fleet_codec.dictionaries.ids
    held_out = vary(base, TRAIN_SAMPLES + 7, random.Random(seed + 1))
    later = [vary(base, TRAIN_SAMPLES + 100 + i, rng) for i in range(BATCH)]
    one = snapshot_rows([held_out], 5001)
    stats = AgentStats(held_out.taken_at_ms + 3, 1, len(one[0].body), {})
    cycle = [*one, SpoolRow(5002, Priority.LOW, "stats", encode_body(stats, Priority.LOW))]
    many = snapshot_rows(later, 6001)
    return [
        measure(f"{label}: 1/batch, no dictionary (as sent today)", one, [held_out], codec, 0),
        measure(f"{label}: 1/batch, zstd + dictionary", one, [held_out], codec, dict_id),
        measure(f"{label}: 1/batch, zstd + fleet dictionary (other hosts)", one, [held_out],
                fleet_codec, fleet_id),
        measure(f"{label}: agent cycle (snapshot + stats), dictionary", cycle, [held_out, stats],
                codec, dict_id),
        measure(f"{label}: {BATCH}/batch, no dictionary", many, list(later), codec, 0),
        measure(f"{label}: {BATCH}/batch, zstd + dictionary", many, list(later), codec, dict_id),
    ]  # fmt: skip


def collect_once(source: Source) -> Snapshot:
    return asyncio.run(
        collect(
            source,
            PROBES,
            timeout_s=20,
            clock_ms=lambda: int(time.time() * 1000),
            agent_version=agent.__version__,
        )
    ).snapshot


def describe(snap: Snapshot) -> str:
    return (
        f"{len(snap.volumes)} volume(s), {len(snap.smart)} SMART device(s), "
        f"{len(snap.errors)} probe error(s), inventory {'yes' if snap.inventory else 'no'}"
    )


def side_by_side(cases: list[Case]) -> str:
    head = (
        "case",
        "snapshots",
        "protobuf",
        "zstd payload",
        "on the wire",
        "gzip JSON",
        "JSON/wire",
    )
    body = [
        (
            c.name,
            str(c.snapshots),
            f"{c.per(c.raw):.0f}",
            f"{c.per(c.payload):.0f}",
            f"{c.per(c.wire):.0f}",
            f"{c.per(c.gzip_json):.0f}",
            f"{c.gzip_json / c.wire:.1f}x",
        )
        for c in cases
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    fmt = [str.ljust] + [str.rjust] * (len(head) - 1)
    lines = ["bytes per snapshot"]
    for cells in (head, *body):
        lines.append("  ".join(f(x, w) for f, x, w in zip(fmt, cells, widths, strict=True)))
    return "\n".join(lines) + "\n"


def run() -> Outcome:
    hosts = {
        "this host": collect_once(LiveSource()),
        "fixture vm": collect_once(DirectorySource(FIXTURE)),
    }
    cases: list[Case] = []
    for seed, (label, snap) in enumerate(hosts.items()):
        cases += host_cases(label, snap, seed)
    rows: list[Row] = []
    for c in cases:
        note = f"gzip JSON {c.per(c.gzip_json):.0f} B/snap; zstd payload {c.per(c.payload):.0f} B"
        if c.name.endswith("1/batch, zstd + dictionary"):
            rows.append(
                judged(NAME, c.name, c.per(c.wire), "B/snap", at_most=STEADY_TARGET, note=note)
            )
        else:
            rows.append(Row(NAME, c.name, c.per(c.wire), "B/snap", note=note))
    details: dict[str, object] = {
        "hosts": {label: describe(s) for label, s in hosts.items()},
        "cases": [dataclasses.asdict(c) for c in cases],
        "train_samples": TRAIN_SAMPLES,
        "framing_bytes": FRAMING,
    }
    text = side_by_side(cases) + "".join(f"{label}: {describe(s)}\n" for label, s in hosts.items())
    return Outcome(rows, details, text)


if __name__ == "__main__":  # a quick look: python -m tests.bench.bench_wire
    print(run().text)
