"""`diskutil list -plist` and `diskutil apfs list -plist` (XML property lists) → disks and
APFS volumes.

diskutil(8): https://keith.github.io/xcode-man-pages/diskutil.8.html ; the plist format is
Apple's (https://developer.apple.com/documentation/foundation/propertylistserialization),
read with plistlib. `diskutil list -plist`, trimmed:

    <dict><key>AllDisksAndPartitions</key><array>
      <dict><key>Content</key><string>GUID_partition_scheme</string>
            <key>DeviceIdentifier</key><string>disk0</string>
            <key>OSInternal</key><false/>
            <key>Partitions</key><array>...</array>
            <key>Size</key><integer>500277792768</integer></dict>
      <dict><key>APFSPhysicalStores</key><array><dict><key>DeviceIdentifier</key>
                <string>disk0s2</string></dict></array>
            <key>APFSVolumes</key><array>
              <dict><key>CapacityInUse</key><integer>305817722880</integer>
                    <key>DeviceIdentifier</key><string>disk3s5</string>
                    <key>MountPoint</key><string>/System/Volumes/Data</string>
                    <key>VolumeName</key><string>Macintosh HD - Data</string> ...</dict>
              <dict>... <key>MountedSnapshots</key><array><dict>
                    <key>SnapshotBSD</key><string>disk3s1s1</string>
                    <key>SnapshotMountPoint</key><string>/</string> ...</dict></array></dict>
            </array>
            <key>DeviceIdentifier</key><string>disk3</string>
            <key>Size</key><integer>494384795648</integer></dict>
    </array> ...</dict>

`diskutil apfs list -plist` gives each container's `CapacityCeiling` and `CapacityFree`
(`Containers[].ContainerReference` = disk3) and each volume's `Roles` (["Data"], ["System"],
["Preboot"], ...).

APFS volumes share their container's space, so a volume's Volume record is what df shows
for it: total = the container's size, used = the volume's CapacityInUse, free = the
container's free space. The sealed, read-only System volume ("/" since macOS 11) and the
Preboot, Recovery, VM and Update volumes are left out: their space is the Data volume's
container, reported once there, and a read-only "/" is normal, not a fault. Mounted
non-APFS partitions (an exFAT stick) are left out too: diskutil list gives no free space
for them (disk_usage, psutil's statvfs, covers them). A plist that does not parse
(truncated output) raises ParseError: it is one document, nothing in it can be trusted.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass, field
from typing import cast
from xml.parsers.expat import ExpatError

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import JsonObject, get_int, get_list, get_str
from agent.records import InventoryDisk, Volume

# APFS volume roles whose space is the system's own, never a user's problem by themselves.
_INTERNAL_ROLES = frozenset(
    {"System", "Preboot", "Recovery", "VM", "Update", "Hardware", "xART", "Installer"}
)
_DATA_MOUNT = "/System/Volumes/Data"


@dataclass(slots=True)
class _Container:
    device: str
    size: int = 0
    free: int = -1  # -1: not known from apfs list
    listed_in_use: int = 0  # CapacityInUse of all its volumes in diskutil list, mounted or not
    volumes: list[tuple[JsonObject, str, str]] = field(default_factory=list)  # (vol, mount, bsd)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # volume bsd → roles
    in_use: dict[str, int] = field(default_factory=dict)


def load(text: str, what: str) -> JsonObject:
    """The plist's top-level dict; ParseError if it is not a complete plist."""
    try:
        doc = plistlib.loads(text.encode("utf-8"))
    except (plistlib.InvalidFileException, ExpatError, ValueError) as exc:
        raise ParseError(f"{what}: not a property list: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"{what}: expected a dict, got {type(doc).__name__}")
    return cast(JsonObject, doc)


def parse_list(text: str) -> Parsed[tuple[InventoryDisk, ...]]:
    """The whole disks that are not APFS containers (those are synthesized on a store)."""
    doc = load(text, "diskutil list")
    warnings = Warnings()
    disks: list[InventoryDisk] = []
    for entry in _dicts(doc, "AllDisksAndPartitions", warnings):
        try:
            if "APFSPhysicalStores" in entry or entry.get("OSInternal") is True:
                continue
            name = get_str(entry, "DeviceIdentifier")
            disks.append(InventoryDisk(name, size_bytes=get_int(entry, "Size")))
        except ParseError as exc:
            warnings.add(f"AllDisksAndPartitions entry skipped: {exc}")
    return Parsed.of(tuple(disks), warnings)


def parse_volumes(list_text: str, apfs_text: str = "") -> Parsed[tuple[Volume, ...]]:
    """Mounted APFS volumes a user fills (see the module docstring); `apfs_text` optional.

    Without it free space is the container's size less what its volumes use (what the
    volumes of diskutil list add up to; snapshots of deleted files are not counted).
    """
    warnings = Warnings()
    containers = _containers(load(list_text, "diskutil list"), warnings)
    if apfs_text:
        _add_apfs(load(apfs_text, "diskutil apfs list"), containers, warnings)
    volumes: list[Volume] = []
    for container in containers.values():
        has_data = any(mount == _DATA_MOUNT for _, mount, _ in container.volumes)
        free = container.free
        if free < 0:
            free = max(0, container.size - container.listed_in_use)
        for vol, mount, bsd in container.volumes:
            vol_id = get_str(vol, "DeviceIdentifier")
            if set(container.roles.get(vol_id, ())) & _INTERNAL_ROLES and mount != _DATA_MOUNT:
                continue
            if mount.startswith("/System/Volumes/") and mount != _DATA_MOUNT:
                continue
            if mount == "/" and has_data:
                continue
            volumes.append(
                Volume(
                    mount=mount,
                    device=f"/dev/{bsd}",
                    fstype="apfs",
                    total_bytes=container.size,
                    used_bytes=_in_use(vol, container),
                    free_bytes=free,
                )
            )
    return Parsed.of(tuple(volumes), warnings)


def _containers(doc: JsonObject, warnings: Warnings) -> dict[str, _Container]:
    containers: dict[str, _Container] = {}
    for entry in _dicts(doc, "AllDisksAndPartitions", warnings):
        if "APFSVolumes" not in entry or entry.get("OSInternal") is True:
            continue  # Apple silicon's iSC and Recovery containers are the firmware's
        try:
            container = _Container(get_str(entry, "DeviceIdentifier"), get_int(entry, "Size"))
            for vol in _dicts(entry, "APFSVolumes", warnings):
                container.listed_in_use += get_int(vol, "CapacityInUse")
                if mounted := _mount(vol):
                    container.volumes.append((vol, *mounted))
        except ParseError as exc:
            warnings.add(f"APFS container skipped: {exc}")
            continue
        containers[container.device] = container
    return containers


def _mount(vol: JsonObject) -> tuple[str, str] | None:
    """(mount point, device node) of a volume, or of its mounted snapshot (the sealed "/")."""
    if mount := get_str(vol, "MountPoint"):
        return mount, get_str(vol, "DeviceIdentifier")
    for snap in get_list(vol, "MountedSnapshots"):
        if isinstance(snap, dict) and (mount := get_str(snap, "SnapshotMountPoint")):
            return mount, get_str(snap, "SnapshotBSD") or get_str(vol, "DeviceIdentifier")
    return None


def _add_apfs(doc: JsonObject, containers: dict[str, _Container], warnings: Warnings) -> None:
    for entry in _dicts(doc, "Containers", warnings):
        try:
            container = containers.get(get_str(entry, "ContainerReference"))
            if container is None:
                continue
            container.size = get_int(entry, "CapacityCeiling") or container.size
            container.free = get_int(entry, "CapacityFree", -1)
            for vol in _dicts(entry, "Volumes", warnings):
                vol_id = get_str(vol, "DeviceIdentifier")
                roles = get_list(vol, "Roles")
                container.roles[vol_id] = tuple(r for r in roles if isinstance(r, str))
                container.in_use[vol_id] = get_int(vol, "CapacityInUse")
        except ParseError as exc:
            warnings.add(f"diskutil apfs list container skipped: {exc}")


def _in_use(vol: JsonObject, container: _Container) -> int:
    vol_id = get_str(vol, "DeviceIdentifier")
    return container.in_use.get(vol_id, get_int(vol, "CapacityInUse"))


def _dicts(doc: JsonObject, key: str, warnings: Warnings) -> list[JsonObject]:
    try:
        items = get_list(doc, key)
    except ParseError as exc:
        warnings.add(str(exc))
        return []
    found: list[JsonObject] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            found.append(cast(JsonObject, item))
        else:
            warnings.add(f"{key}[{i}]: not a dict")
    return found
