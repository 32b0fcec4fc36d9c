"""The collector's hot path, compiled to C by mypyc where it was built (`make native`).

Decoding and the rule pack are three quarters of the collector's CPU at fleet scale
(README, Performance), and they are pure, typed Python (`mypy --strict`): mypyc compiles
the same source to a C extension beside each module, which Python imports instead of the
.py. Nothing else changes: the source is the truth, tests run against whichever is
loaded, and a host without a C compiler (or with RDIAG_NATIVE=0) runs the .py.

A compiled module calls the others of its group directly, through one shared library, so
the group is taken whole or not at all: when any of its sources is newer than the build
(an edit, a checkout), or the build is incomplete, every module of it loads from source.
A stale build is never run.

`make native` builds in place (main() here); `make native-check` says what is loaded
and why.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# The modules compiled, as files under the project root. Only what is hot and pure: the
# engine's evaluation, the history and facts it reads, ingest's decoding and a stream's
# evaluation. What crosses to a worker process must still pickle (workers.py, history.py).
MODULES = (
    "collector/engine/evaluate.py",
    "collector/engine/history.py",
    "collector/engine/subjects.py",
    "collector/engine/model.py",
    "collector/engine/template.py",
    "collector/ingest/convert.py",
    "collector/ingest/evaluator.py",
)
GROUP = "collector.native_group"  # the shared library: collector/native_group__mypyc.*.so
ROOT = Path(__file__).resolve().parent.parent
_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _built(stem: Path) -> Path | None:
    """The compiled extension for a module (stem without suffix), if there is one."""
    for suffix in _SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.exists():
            return candidate
    return None


def _library(root: Path) -> Path:
    """The group's shared library, without its suffix."""
    return root / (GROUP.replace(".", "/") + "__mypyc")


def status(root: Path = ROOT) -> tuple[bool, str]:
    """(whether the compiled group may be loaded, why)."""
    if os.environ.get("RDIAG_NATIVE", "1").strip() in ("0", "no", "false", "off"):
        return False, "disabled by RDIAG_NATIVE=0"
    lib = _built(_library(root))
    if lib is None:
        return False, "not built (make native)"
    built_at = lib.stat().st_mtime
    for path in MODULES:
        source = root / path
        ext = _built(source.with_suffix(""))
        if ext is None:
            return False, f"incomplete build: {path} has no compiled module"
        if source.stat().st_mtime > min(built_at, ext.stat().st_mtime):
            return False, f"stale build: {path} changed after it was compiled (make native)"
    return True, f"compiled modules in use ({len(MODULES)})"


class _SourceOnly(importlib.abc.MetaPathFinder):
    """Finds the group's modules as their .py files, ahead of the compiled ones."""

    def __init__(self, root: Path) -> None:
        self._files = {module_name(p): root / p for p in MODULES}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._files.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def install() -> None:
    """Called when the collector package is imported: keep a stale or disabled build out."""
    allowed, _ = status()
    if not allowed and not any(isinstance(f, _SourceOnly) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnly(ROOT))


def loaded() -> dict[str, bool]:
    """Each compiled module's name → whether its compiled form is the one imported."""
    out = {}
    for path in MODULES:
        module = importlib.import_module(module_name(path))
        out[module.__name__] = str(getattr(module, "__file__", "")).endswith(_SUFFIXES)
    return out


def build(root: Path = ROOT) -> int:
    """Compile the group in place; 0 on success (a failure leaves the .py in use)."""
    from mypyc.build import mypycify  # only the build needs mypy, not the collector
    from setuptools import setup  # type: ignore[import-untyped]

    old = os.getcwd()
    os.chdir(root)
    try:
        setup(
            name="rdiag-collector-native",
            ext_modules=mypycify(list(MODULES), group_name=GROUP, opt_level="3"),
            script_args=["-q", "build_ext", "--inplace", "--build-temp", "build/native"],
        )
    finally:
        os.chdir(old)
    # build_ext keeps what it finds up to date, and copies it with its old time: after an
    # edit that leaves the C unchanged (a comment), the build would look older than the
    # source and stay unused. It was just checked against the current source: stamp it so.
    now = time.time()
    for stem in [_library(root), *((root / p).with_suffix("") for p in MODULES)]:
        ext = _built(stem)
        if ext is not None:
            os.utime(ext, (now, now))
    allowed, why = status(root)
    print(f"collector.native: {why}")
    return 0 if allowed else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
        allowed, why = status()
        print(f"collector.native: {why}")
        for name, compiled in loaded().items():
            print(f"  {name}: {'compiled' if compiled else 'source'}")
        return 0
    if args:
        print("usage: collector.native.main([--check])", file=sys.stderr)
        return 2
    return build()
