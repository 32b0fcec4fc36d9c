"""The `win_pnp_problem_devices` JSON (Win32_PnPEntity, ConfigManagerErrorCode <> 0) → Device.

    [{"Name":"Intel(R) Wireless Bluetooth(R)",
      "PNPDeviceID":"USB\\VID_8087\\u0026PID_0033\\5\\u00262B7C4A1\\u00260\\u002610",
      "PNPClass":"Bluetooth","Manufacturer":"Intel Corporation","Service":"BTHUSB",
      "Status":"Error","ConfigManagerErrorCode":43,"Present":true}]

(Windows PowerShell 5.1 writes & as \\u0026.) The problem code is Device Manager's
"(Code N)", a CM_PROB_* value from cfg.h; `problem` is its documented name and meaning.
Devices that are not present (Present false, or Code 45 "not connected") are phantoms
Device Manager hides too, and are left out. `Name` is translated; it is only a label.

https://learn.microsoft.com/windows-hardware/drivers/install/device-manager-error-messages
https://learn.microsoft.com/windows/win32/cimwin32prov/win32-pnpentity
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import Device

PHANTOM = 45
PROBLEMS: dict[int, tuple[str, str]] = {
    1: ("CM_PROB_NOT_CONFIGURED", "This device is not configured correctly."),
    3: ("CM_PROB_OUT_OF_MEMORY", "The driver may be corrupted, or the system is low on memory."),
    9: ("CM_PROB_INVALID_DATA", "Windows cannot identify this hardware (invalid hardware ID)."),
    10: ("CM_PROB_FAILED_START", "This device cannot start."),
    12: (
        "CM_PROB_NORMAL_CONFLICT",
        "This device cannot find enough free resources that it can use.",
    ),
    14: (
        "CM_PROB_NEED_RESTART",
        "This device cannot work properly until you restart your computer.",
    ),
    16: ("CM_PROB_PARTIAL_LOG_CONF", "Windows cannot identify all the resources this device uses."),
    18: ("CM_PROB_REINSTALL", "Reinstall the drivers for this device."),
    19: ("CM_PROB_REGISTRY", "Configuration information in the registry is incomplete or damaged."),
    21: ("CM_PROB_WILL_BE_REMOVED", "Windows is removing this device."),
    22: ("CM_PROB_DISABLED", "This device is disabled."),
    24: (
        "CM_PROB_DEVICE_NOT_THERE",
        "Not present, not working properly, or not all its drivers installed.",
    ),
    28: ("CM_PROB_FAILED_INSTALL", "The drivers for this device are not installed."),
    29: (
        "CM_PROB_HARDWARE_DISABLED",
        "Disabled: the device firmware did not give it the required resources.",
    ),
    31: ("CM_PROB_FAILED_ADD", "Windows cannot load the drivers required for this device."),
    32: ("CM_PROB_DISABLED_SERVICE", "A driver (service) for this device has been disabled."),
    33: (
        "CM_PROB_TRANSLATION_FAILED",
        "Windows cannot determine which resources this device requires.",
    ),
    34: ("CM_PROB_NO_SOFTCONFIG", "Windows cannot determine the settings for this device."),
    35: (
        "CM_PROB_BIOS_TABLE",
        "The system firmware lacks the information to configure this device.",
    ),
    36: (
        "CM_PROB_IRQ_TRANSLATION_FAILED",
        "PCI interrupt requested but configured for an ISA one (or vice versa).",
    ),
    37: (
        "CM_PROB_FAILED_DRIVER_ENTRY",
        "Windows cannot initialize the device driver for this hardware.",
    ),
    38: (
        "CM_PROB_DRIVER_FAILED_PRIOR_UNLOAD",
        "Cannot load the driver: a previous instance is still in memory.",
    ),
    39: (
        "CM_PROB_DRIVER_FAILED_LOAD",
        "Windows cannot load the device driver; it may be corrupted or missing.",
    ),
    40: (
        "CM_PROB_DRIVER_SERVICE_KEY_INVALID",
        "The driver's service key in the registry is missing or incorrect.",
    ),
    41: (
        "CM_PROB_LEGACY_SERVICE_NO_DEVICES",
        "Windows loaded the driver but cannot find the hardware device.",
    ),
    42: (
        "CM_PROB_DUPLICATE_DEVICE",
        "Cannot load the driver: a duplicate device is already running.",
    ),
    43: (
        "CM_PROB_FAILED_POST_START",
        "Windows has stopped this device because it has reported problems.",
    ),
    44: ("CM_PROB_HALTED", "An application or service has shut down this hardware device."),
    45: ("CM_PROB_PHANTOM", "Currently, this hardware device is not connected to the computer."),
    46: (
        "CM_PROB_SYSTEM_SHUTDOWN",
        "Windows cannot access this device: the system is shutting down.",
    ),
    47: (
        "CM_PROB_HELD_FOR_EJECT",
        "Windows cannot use this device: it was prepared for safe removal.",
    ),
    48: (
        "CM_PROB_DRIVER_BLOCKED",
        "The device's software is blocked: it has known problems with Windows.",
    ),
    49: (
        "CM_PROB_REGISTRY_TOO_LARGE",
        "Windows cannot start new hardware devices: the system hive is too large.",
    ),
    50: (
        "CM_PROB_SETPROPERTIES_FAILED",
        "Windows cannot apply all of the properties for this device.",
    ),
    51: (
        "CM_PROB_WAITING_ON_DEPENDENCY",
        "This device is waiting on another device or set of devices to start.",
    ),
    52: (
        "CM_PROB_UNSIGNED_DRIVER",
        "Windows cannot verify the digital signature of this device's drivers.",
    ),
    53: (
        "CM_PROB_USED_BY_DEBUGGER",
        "This device is reserved for use by the Windows kernel debugger.",
    ),
    54: ("CM_PROB_DEVICE_RESET", "This device has failed and is undergoing a reset."),
    55: ("CM_PROB_CONSOLE_LOCKED", ""),
    56: ("CM_PROB_NEED_CLASS_CONFIG", ""),
    57: ("CM_PROB_GUEST_ASSIGNMENT_FAILED", ""),
}


def problem(code: int) -> str:
    """ "CM_PROB_FAILED_POST_START: Windows has stopped this device ..." for 43; "" for 0."""
    if not code:
        return ""
    name, meaning = PROBLEMS.get(code, (f"Code {code}", ""))
    return f"{name}: {meaning}" if meaning else name


def parse(text: str) -> Parsed[tuple[Device, ...]]:
    warnings = Warnings()
    found: list[Device] = []
    for i, item in enumerate(ps.load_list(text, "win_pnp_problem_devices")):
        if not isinstance(item, dict):
            warnings.add(f"device {i}: expected an object, got {item!r:.60}")
            continue
        try:
            device = _device(item)
        except ParseError as exc:
            warnings.add(f"device {i}: {exc}")
            continue
        if device is not None:
            found.append(device)
    return Parsed.of(tuple(found), warnings)


def _device(item: ps.JsonObject) -> Device | None:
    device_id = ps.text(item, "PNPDeviceID")
    if not device_id:
        raise ParseError("missing PNPDeviceID")
    code = ps.number(item, "ConfigManagerErrorCode")
    if code == PHANTOM or not ps.flag(item, "Present", True):
        return None
    return Device(
        id=device_id,
        name=ps.text(item, "Name"),
        bus=device_id.split("\\", 1)[0].lower(),
        driver=ps.text(item, "Service"),
        problem_code=code,
        problem=problem(code),
        status=ps.text(item, "Status"),
    )
