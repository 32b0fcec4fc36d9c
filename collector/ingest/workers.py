"""Where streams are evaluated: in the collector's process, or in worker processes.

The collector's event loop is GIL-bound: decoding and the rule pack were three quarters of
its CPU at fleet scale, on one core (README, Performance). With `ingest.workers = N` each
agent stream is evaluated in one of N worker processes, chosen by its agent id, while the
main process keeps the gRPC streams, the store, fleet correlation and the tickets.

A worker holds its streams' StreamStates and answers BatchIn with Evaluated over a
socketpair (length-prefixed pickles; both ends are this collector's own processes). The
first workers are forked when the collector starts, before gRPC or any thread exists
(milliseconds, and the rules are already parsed); a worker that dies is replaced by a
fresh interpreter (`python -m collector.ingest.workers`, a few seconds), because forking
a process that runs gRPC's threads is not safe. A worker's death fails only its streams,
with UNAVAILABLE: their agents reconnect and resend, and their history is loaded again
from the store, so nothing is lost. A batch that killed a worker twice is refused as bad
data (kept in the store's rejected batches) instead of killing the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import dataclasses
import io
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Protocol, cast

from agent.common.codec import Codec, Dictionaries
from collector.engine.evaluate import DeferredFleet, Engine, RuleSet
from collector.engine.subjects import site_table
from collector.ingest.evaluator import BatchIn, Evaluated, Limits, Rejected, StreamState, evaluate

log = logging.getLogger("rdiag.collector.workers")

_HEADER = struct.Struct("!I")
_MAX_FRAME = 1 << 30
_STOP_WAIT_S = 5.0
_RESPAWN_DELAY_S = 1.0  # between a worker's death and its replacement, against a crash loop
_KILLS_TO_REFUSE = 2  # a batch that killed this many workers is refused as bad data


class WorkerLost(Exception):
    """The stream's evaluation state is gone with its worker: the agent must reconnect."""


class Evaluators(Protocol):
    async def open(self, agent_id: str, state: StreamState) -> int: ...

    async def evaluate(self, sid: int, agent_id: str, batch: BatchIn) -> Evaluated: ...

    def close(self, sid: int, agent_id: str) -> None: ...

    def set_rules(self, rules: RuleSet) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Setup:
    """What a worker needs to evaluate like the main process (picklable, for a respawn)."""

    rule_sources: tuple[tuple[str, str], ...]  # (file, text) of each loaded rule
    site_map: tuple[tuple[str, tuple[str, ...]], ...]
    dictionaries: str | None  # the folder of *.zdict files
    limits: Limits
    log_level: str
    log_format: str


def rule_sources(rules: RuleSet) -> tuple[tuple[str, str], ...]:
    return tuple((r.source.rpartition(":")[0], r.text) for r in rules.rules)


def rules_from(sources: Iterable[tuple[str, str]]) -> RuleSet:
    from collector.engine.load import parse_rule

    return RuleSet(parse_rule(text, Path(file)) for file, text in sources)


class InProcess:
    """Evaluation on the collector's own event loop (`ingest.workers = 0`)."""

    def __init__(self, engine: Engine, codec: Codec, limits: Limits) -> None:
        # An engine of its own (its fleet defers to the main one), on the same rules; a
        # reload reaches it through set_rules, as it reaches the workers.
        self._engine = Engine(engine.rules, engine.site_of, DeferredFleet())
        self._codec, self._limits = codec, limits
        self._states: dict[int, StreamState] = {}
        self._next = 0

    async def open(self, agent_id: str, state: StreamState) -> int:
        self._next += 1
        self._states[self._next] = state
        return self._next

    async def evaluate(self, sid: int, agent_id: str, batch: BatchIn) -> Evaluated:
        state = self._states.get(sid)
        if state is None:
            raise WorkerLost("stream not open")
        return evaluate(self._engine, self._codec, self._limits, state, batch)

    def close(self, sid: int, agent_id: str) -> None:
        self._states.pop(sid, None)

    def set_rules(self, rules: RuleSet) -> None:
        self._engine.rules = rules

    async def stop(self) -> None:
        self._states.clear()


# -- the wire between the processes ----------------------------------------------------


class _Pickler(pickle.Pickler):
    # Records freeze their maps as MappingProxyType, which pickle refuses; this pickler
    # (and only it: copyreg's global table is left alone) sends them as the dict they wrap.
    dispatch_table = {
        **copyreg.dispatch_table,
        MappingProxyType: lambda m: (_proxy, (dict(m),)),
    }

    def reducer_override(self, obj: Any) -> Any:
        # A frozen slotted dataclass pickles through dataclasses' __getstate__/__setstate__,
        # which call fields() for every instance, on both ends: the replies' thousands of
        # records per second spent more there than in the pickle itself. Its field values
        # in order, set again by _rebuilt, are the same state at half the cost.
        # (Called only for objects that are not ints, strings, bytes, lists, tuples, dicts.)
        names = _slot_fields(type(obj))
        if names is None:
            return NotImplemented
        return _rebuilt, (type(obj), tuple([getattr(obj, n) for n in names]))


_SLOT_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _slot_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of a frozen dataclass with slots, in order; None for any other class."""
    try:
        return _SLOT_FIELDS[cls]
    except KeyError:
        pass
    names: tuple[str, ...] | None = None
    params = getattr(cls, "__dataclass_params__", None)
    own = cls.__dict__
    if (
        params is not None
        and params.frozen
        and "__reduce__" not in own
        and "__reduce_ex__" not in own
        and (
            # The state dataclasses made up, not a class's own way to pickle itself.
            ("__slots__" in own
             and getattr(own.get("__getstate__"), "__name__", "") == "_dataclass_getstate")
            # A class compiled by mypyc (collector/native.py): its own pickling sets the
            # fields through the frozen __setattr__, and fails.
            or "__mypyc_attrs__" in own
        )
    ):  # fmt: skip
        names = tuple(f.name for f in dataclasses.fields(cls))
    _SLOT_FIELDS[cls] = names
    return names


def _rebuilt(cls: type[Any], values: tuple[Any, ...]) -> object:
    obj: object = cast(Any, cls).__new__(cls)  # a compiled class refuses object.__new__
    names = _slot_fields(cls)
    assert names is not None, cls
    for name, value in zip(names, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def _proxy(d: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(d)


def _frame(obj: object) -> bytes:
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    data = buf.getbuffer()
    _HEADER.pack_into(data, 0, len(data) - _HEADER.size)
    del data
    return buf.getvalue()


def _reader(sock: socket.socket) -> BinaryIO:
    return cast(BinaryIO, sock.makefile("rb", buffering=1 << 16))


def _read_frame(f: BinaryIO) -> Any:
    """The next message, or None at the end of the stream."""
    head = f.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(head)
    if n > _MAX_FRAME:
        raise ValueError(f"frame of {n} bytes is over the limit")
    data = f.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


# -- the worker's side -----------------------------------------------------------------


def serve(
    sock: socket.socket, engine: Engine, codec: Codec, limits: Limits, rfile: BinaryIO | None = None
) -> None:
    """Answer the main process until it closes the socket (or says stop)."""
    states: dict[int, StreamState] = {}
    rfile = rfile or _reader(sock)
    while True:
        msg = _read_frame(rfile)
        if msg is None or msg[0] == "stop":
            return
        match msg:
            case ("batch", rid, sid, batch):
                state = states.get(sid)
                if state is None:
                    reply: tuple[Any, ...] = ("lost", rid)
                else:
                    try:
                        reply = ("ok", rid, evaluate(engine, codec, limits, state, batch))
                    except Rejected as exc:
                        reply = ("rejected", rid, str(exc))
                    except Exception as exc:  # a bug: this stream ends, the others go on
                        states.pop(sid, None)
                        reply = ("error", rid, f"{type(exc).__name__}: {exc}")
                try:
                    frame = _frame(reply)
                except Exception as exc:  # a result that does not pickle is a bug too
                    states.pop(sid, None)
                    frame = _frame(("error", rid, f"result not sendable: {exc!r}"))
                sock.sendall(frame)
            case ("open", sid, state):
                states[sid] = state
            case ("close", sid):
                states.pop(sid, None)
            case ("rules", sources):
                engine.rules = rules_from(sources)
            case _:
                log.error("evaluation worker: unknown message", extra={"kind": str(msg[0])})


def _child_signals() -> None:
    # Inherited from the collector: its loop's wakeup fd would carry our signals to it.
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    # A terminal's Ctrl-C and systemd's SIGTERM reach the whole process group or cgroup: the
    # main process stops gracefully and still needs us for the batches in flight; we leave
    # when it closes our socket (or dies: the socket closes then too).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> None:
    """A respawned worker: `python -m collector.ingest.workers FD`, its Setup on the socket."""
    from agent.common.cli import setup_logging

    args = sys.argv[1:] if argv is None else argv
    _child_signals()
    sock = socket.socket(fileno=int(args[0]))
    rfile = _reader(sock)
    setup: Setup | None = _read_frame(rfile)
    if setup is None:
        return
    setup_logging(setup.log_level, setup.log_format)
    site_of = site_table(dict(setup.site_map))
    engine = Engine(rules_from(setup.rule_sources), site_of, DeferredFleet())
    codec = Codec(Dictionaries.from_dir(Path(setup.dictionaries) if setup.dictionaries else None))
    serve(sock, engine, codec, setup.limits, rfile)


# -- the main process's side -----------------------------------------------------------


class _Child:
    """A worker process, forked or spawned: its pid, its exit status."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid, self._popen = pid, popen
        self._status: int | None = None

    def poll(self) -> int | None:
        if self._status is not None:
            return self._status
        if self._popen is not None:
            self._status = self._popen.poll()
            return self._status
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self._status = -1
            return self._status
        if pid:
            self._status = os.waitstatus_to_exitcode(status)
        return self._status

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


@dataclass
class _Worker:
    index: int
    child: _Child
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pending: dict[int, tuple[asyncio.Future[Evaluated], str, BatchIn]]
    sids: set[int]
    task: asyncio.Task[None] | None = None


class WorkerPool:
    """N evaluation workers; a stream's batches all go to the worker its agent id picks."""

    def __init__(
        self,
        count: int,
        engine: Engine,
        codec: Codec,
        setup: Callable[[], Setup],
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.count = count
        self._engine, self._codec, self._setup = engine, codec, setup
        self._workers: list[_Worker | None] = [None] * count
        self._ready = [asyncio.Event() for _ in range(count)]
        self._lost_sids: set[int] = set()
        self._next_sid = 0
        self._next_rid = 0
        self._stopping = False
        self._respawns: set[asyncio.Task[None]] = set()
        self._kills: dict[tuple[str, int, int], int] = {}  # batches that were in a dead worker

    async def start(self) -> None:
        """Fork the workers (or spawn them where this process already runs threads)."""
        fork = threading.active_count() == 1 and hasattr(os, "fork")
        for i in range(self.count):
            if fork:
                await self._attach(i, *self._fork(i))
            else:
                await self._attach(i, *self._spawn())

    def _fork(self, index: int) -> tuple[_Child, socket.socket]:
        ours, theirs = socket.socketpair()
        siblings = [w.writer.get_extra_info("socket") for w in self._workers if w is not None]
        pid = os.fork()
        if pid == 0:  # the worker: never returns to the collector's code
            status = 0
            try:
                _child_signals()
                ours.close()
                for s in siblings:
                    with contextlib.suppress(OSError):
                        os.close(s.fileno())
                engine = Engine(self._engine.rules, self._engine.site_of, DeferredFleet())
                serve(theirs, engine, self._codec, self._setup().limits)
            except BaseException as exc:  # report, then leave without any cleanup
                status = 1
                with contextlib.suppress(Exception):
                    log.error("evaluation worker failed", extra={"error": f"{exc!r}"})
            finally:
                os._exit(status)
        theirs.close()
        return _Child(pid), ours

    def _spawn(self) -> tuple[_Child, socket.socket]:
        ours, theirs = socket.socketpair()
        fd = theirs.fileno()
        popen = subprocess.Popen(
            [sys.executable, "-m", "collector.ingest.workers", str(fd)],
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        ours.sendall(_frame(self._setup()))
        return _Child(popen.pid, popen), ours

    async def _attach(self, index: int, child: _Child, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock, limit=_MAX_FRAME)
        worker = _Worker(index, child, reader, writer, {}, set())
        worker.task = asyncio.create_task(self._replies(worker), name=f"eval-worker-{index}")
        self._workers[index] = worker
        self._ready[index].set()
        log.info("evaluation worker started", extra={"worker": index, "pid": child.pid})

    def _shard(self, agent_id: str) -> int:
        return zlib.crc32(agent_id.encode()) % self.count

    async def _worker(self, agent_id: str) -> _Worker:
        i = self._shard(agent_id)
        await self._ready[i].wait()
        worker = self._workers[i]
        if worker is None:
            raise WorkerLost("the evaluation worker is restarting")
        return worker

    async def _send(self, worker: _Worker, msg: tuple[Any, ...]) -> None:
        worker.writer.write(_frame(msg))
        await worker.writer.drain()

    async def open(self, agent_id: str, state: StreamState) -> int:
        worker = await self._worker(agent_id)
        self._next_sid += 1
        sid = self._next_sid
        worker.sids.add(sid)
        try:
            await self._send(worker, ("open", sid, state))
        except (ConnectionError, RuntimeError) as exc:
            raise WorkerLost(f"evaluation worker {worker.index} is gone") from exc
        return sid

    async def evaluate(self, sid: int, agent_id: str, batch: BatchIn) -> Evaluated:
        if sid in self._lost_sids:
            raise WorkerLost("this stream's evaluation worker died")
        worker = await self._worker(agent_id)
        if sid not in worker.sids:
            raise WorkerLost("this stream's evaluation worker died")
        key = (agent_id, batch.seq_first, batch.seq_last)
        if self._kills.get(key, 0) >= _KILLS_TO_REFUSE:
            raise Rejected(f"the batch killed the evaluation worker {_KILLS_TO_REFUSE} times")
        self._next_rid += 1
        rid = self._next_rid
        fut: asyncio.Future[Evaluated] = asyncio.get_running_loop().create_future()
        worker.pending[rid] = (fut, agent_id, batch)
        # If the worker is gone, the reply task fails the future when it notices.
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(worker, ("batch", rid, sid, batch))
        return await fut

    def close(self, sid: int, agent_id: str) -> None:
        self._lost_sids.discard(sid)
        worker = self._workers[self._shard(agent_id)]
        if worker is None or sid not in worker.sids:
            return
        worker.sids.discard(sid)
        with contextlib.suppress(ConnectionError, RuntimeError):
            worker.writer.write(_frame(("close", sid)))  # drained by the next send

    def set_rules(self, rules: RuleSet) -> None:
        sources = rule_sources(rules)
        for worker in self._workers:
            if worker is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    worker.writer.write(_frame(("rules", sources)))

    async def _replies(self, worker: _Worker) -> None:
        try:
            while True:
                head = await worker.reader.readexactly(_HEADER.size)
                (n,) = _HEADER.unpack(head)
                msg = pickle.loads(await worker.reader.readexactly(n))
                entry = worker.pending.pop(msg[1], None)
                if entry is None or entry[0].done():
                    continue
                fut = entry[0]
                match msg[0]:
                    case "ok":
                        fut.set_result(msg[2])
                    case "rejected":
                        fut.set_exception(Rejected(msg[2]))
                    case "lost":
                        fut.set_exception(WorkerLost("this stream's evaluation state is gone"))
                    case _:
                        fut.set_exception(RuntimeError(msg[2]))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception as exc:  # a reply that does not unpickle: as bad as a dead worker
            log.error("evaluation worker reply unreadable", extra={"error": repr(exc)})
        await self._gone(worker)

    async def _gone(self, worker: _Worker) -> None:
        i = worker.index
        if self._workers[i] is not worker:
            return
        self._workers[i] = None
        self._ready[i].clear()
        worker.writer.close()
        if self._stopping:
            return
        worker.child.kill()  # a worker whose reply was unreadable may still be running
        status = None
        for _ in range(50):
            status = worker.child.poll()
            if status is not None:
                break
            await asyncio.sleep(0.02)
        if worker.pending:  # the worker answers in order: the oldest was the one it was on
            _, agent_id, batch = worker.pending[min(worker.pending)]
            key = (agent_id, batch.seq_first, batch.seq_last)
            self._kills[key] = self._kills.get(key, 0) + 1
        for fut, _, _ in worker.pending.values():
            if not fut.done():
                fut.set_exception(WorkerLost(f"evaluation worker {i} died (exit {status})"))
        if len(self._kills) > 10_000:  # bounded: only the recent ones matter
            self._kills.clear()
        self._lost_sids |= worker.sids
        log.error(
            "evaluation worker died; its streams end with UNAVAILABLE and reconnect",
            extra={"worker": i, "pid": worker.child.pid, "exit": status,
                   "streams": len(worker.sids)},
        )  # fmt: skip
        task = asyncio.create_task(self._respawn(i), name=f"eval-worker-{i}-respawn")
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    async def _respawn(self, index: int) -> None:
        await asyncio.sleep(_RESPAWN_DELAY_S)
        while not self._stopping:
            try:
                await self._attach(index, *await asyncio.to_thread(self._spawn))
                return
            except Exception as exc:  # e.g. out of processes: try again, never give up
                log.error("evaluation worker not restarted", extra={"error": repr(exc)})
                await asyncio.sleep(_RESPAWN_DELAY_S * 5)

    async def stop(self) -> None:
        self._stopping = True
        for t in list(self._respawns):
            t.cancel()
        workers = [w for w in self._workers if w is not None]
        for w in workers:
            with contextlib.suppress(Exception):
                w.writer.write(_frame(("stop",)))
                w.writer.close()
        deadline = time.monotonic() + _STOP_WAIT_S
        for w in workers:
            while w.child.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if w.child.poll() is None:
                w.child.kill()
                while w.child.poll() is None:
                    await asyncio.sleep(0.02)
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w.task
            for fut, _, _ in w.pending.values():
                if not fut.done():
                    fut.set_exception(WorkerLost("the collector is stopping"))
        self._workers = [None] * self.count


def worker_count(setting: int) -> int:
    """ingest.workers: -1 is one per CPU this process may use, at most 8."""
    if setting >= 0:
        return setting
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


if __name__ == "__main__":
    # Run as the importable module, not as __main__: what it pickles (_proxy) must be
    # found under the same name by the collector that unpickles it.
    from collector.ingest import workers

    workers.main()
