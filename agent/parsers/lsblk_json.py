"""`lsblk -J -b -d -o NAME,MODEL,SERIAL,SIZE,ROTA,TRAN,TYPE` → InventoryDisk per physical disk.

lsblk(8), util-linux: https://man7.org/linux/man-pages/man8/lsblk.8.html. The Debian 12
build VM (util-linux 2.38.1) prints typed JSON:

    {"blockdevices": [
       {"name": "vda", "model": null, "serial": null, "size": 274877906944,
        "rota": true, "tran": null, "type": "disk"}]}

util-linux before 2.33 printed every value as a string ("size": "274877906944",
"rota": "1"); both are read. Missing values are null (virtio disks have no model,
serial or transport; an unprivileged lsblk may not see serials). Models are padded with
spaces on old versions (the sysfs `model` attribute is fixed-width) and are stripped.

Kept: TYPE "disk" only (not part, loop, rom, lvm, crypt, raid*), except zram swap devices
and disks of size 0 (an empty card-reader slot), which are not physical disks.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import JsonObject, get_list, load_object
from agent.records import InventoryDisk

_NOT_PHYSICAL = re.compile(r"zram\d+|ram\d+|loop\d+")


def parse(text: str) -> Parsed[tuple[InventoryDisk, ...]]:
    doc = load_object(text, "lsblk")
    if "blockdevices" not in doc:
        raise ParseError("lsblk: missing key 'blockdevices'")
    warnings = Warnings()
    disks: list[InventoryDisk] = []
    for i, entry in enumerate(get_list(doc, "blockdevices")):
        if not isinstance(entry, dict):
            warnings.add(f"blockdevices[{i}]: not an object")
            continue
        name = _text(entry, "name")
        if not name:
            warnings.add(f"blockdevices[{i}]: no name")
            continue
        if _text(entry, "type") != "disk" or _NOT_PHYSICAL.fullmatch(name):
            continue
        size = _size(entry.get("size"))
        if size is None:
            warnings.add(f"blockdevices[{i}] ({name}): size {entry.get('size')!r} not a number")
            size = 0
        elif size == 0:
            continue
        rota = _flag(entry.get("rota"))
        if rota is None:
            warnings.add(f"blockdevices[{i}] ({name}): rota {entry.get('rota')!r} not a flag")
        disks.append(
            InventoryDisk(
                name=name,
                model=_text(entry, "model"),
                serial=_text(entry, "serial"),
                size_bytes=size,
                rotational=bool(rota),
                transport=_text(entry, "tran"),
            )
        )
    return Parsed.of(tuple(disks), warnings)


def _text(entry: JsonObject, key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def _size(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _flag(value: object) -> bool | None:
    # Newer lsblk: true/false; older: "1"/"0"; some builds printed 1/0 as numbers.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip() in ("0", "1")):
        return bool(int(value))
    return None
