"""Regenerate the Python code for the .proto files under proto/rdiag_proto.

    python proto/generate.py            # write next to the .proto files
    python proto/generate.py --out DIR  # write into DIR (the freshness test)

Uses the pinned grpcio-tools and mypy-protobuf from the [dev] extra, so the
output is byte-for-byte reproducible; tests/test_proto.py fails when the
committed files differ from what this produces.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "rdiag_proto"


def proto_files(root: Path = HERE) -> list[Path]:
    return sorted((root / PACKAGE).rglob("*.proto"))


def generate(out: Path) -> None:
    from grpc_tools import protoc  # a dev-only dependency, never needed at run time

    bin_dir = Path(sys.executable).parent
    plugins = {
        "mypy": bin_dir / "protoc-gen-mypy",
        "mypy_grpc": bin_dir / "protoc-gen-mypy_grpc",
    }
    for name, path in plugins.items():
        if not path.exists():
            raise SystemExit(f"generate.py: {path} not found: install the [dev] extra ({name})")
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = [str(p.relative_to(HERE)) for p in proto_files()]
    argv = [
        "grpc_tools.protoc",
        f"-I{HERE}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={plugins['mypy']}",
        f"--plugin=protoc-gen-mypy_grpc={plugins['mypy_grpc']}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    status = protoc.main(argv)
    if status != 0:
        raise SystemExit(f"generate.py: protoc failed with status {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output root (default: proto/)")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if out != HERE:
        # Mirror the package layout so the output can be compared file by file.
        for p in proto_files():
            target = out / p.relative_to(HERE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
    generate(out)


if __name__ == "__main__":
    main()
