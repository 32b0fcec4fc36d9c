"""The `win_signed_drivers` JSON (Win32_PnPSignedDriver) → DriverInfo per device driver.

    [{"DeviceName":"Intel(R) Wi-Fi 6E AX211 160MHz","DeviceID":"PCI\\VEN_8086\\u0026DEV_51F1...",
      "DeviceClass":"NET","DriverVersion":"23.60.0.10","DriverProviderName":"Intel",
      "DriverDate":"\\/Date(1718150400000)\\/","IsSigned":true,
      "Signer":"Microsoft Windows Hardware Compatibility Publisher","InfName":"oem61.inf"}]

`name` is the device the driver serves (Win32_PnPSignedDriver has no driver module name;
InfName "oemNN.inf" is numbered per host, so it cannot be compared across a fleet).
DriverDate is a date at midnight UTC; it is kept as YYYY-MM-DD of that UTC instant, so a
host west of Greenwich does not report the day before. IsSigned null (unknown) is signed.

https://learn.microsoft.com/previous-versions/windows/desktop/cimwin32a/win32-pnpsigneddriver
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import DriverInfo


def parse(text: str) -> Parsed[tuple[DriverInfo, ...]]:
    warnings = Warnings()
    found: list[DriverInfo] = []
    for i, item in enumerate(ps.load_list(text, "win_signed_drivers")):
        if not isinstance(item, dict):
            warnings.add(f"driver {i}: expected an object, got {item!r:.60}")
            continue
        try:
            driver = _driver(item)
        except ParseError as exc:
            warnings.add(f"driver {i}: {exc}")
            continue
        if driver is not None:
            found.append(driver)
    return Parsed.of(tuple(found), warnings)


def _driver(item: ps.JsonObject) -> DriverInfo | None:
    version = ps.text(item, "DriverVersion")
    if not version:
        return None
    date_ms = ps.time_ms(item, "DriverDate")
    return DriverInfo(
        name=ps.text(item, "DeviceName") or ps.text(item, "DeviceID"),
        version=version,
        provider=ps.text(item, "DriverProviderName"),
        signed=ps.flag(item, "IsSigned", True),
        date=ps.iso_utc(date_ms)[:10] if date_ms else "",
        device=ps.text(item, "DeviceID"),
    )
