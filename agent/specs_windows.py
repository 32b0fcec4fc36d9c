"""What the agent reads on Windows, as data: PowerShell commands that print JSON, plus w32tm.

Every spec runs Windows PowerShell 5.1 (`powershell.exe`, present on every Windows 10/11;
no pywin32, no pwsh needed) with one short script that selects explicit properties and ends
in `ConvertTo-Json -Depth 4 -Compress`. Parsers live in agent/parsers/win_*.py, one per
spec format; agent/parsers/win_ps_json.py reads the JSON quirks common to all of them.

Rules the scripts keep (tests/agent/probes/test_windows_probes.py checks them):

* one line, no double quotes: `subprocess` on Windows re-quotes argv for the command line
  and PowerShell re-parses it; single-quoted strings survive that unchanged;
* `ConvertTo-Json -InputObject @(...)`, not `@(...) | ConvertTo-Json`: a pipeline unrolls
  the array, so one result would print as an object and none as nothing at all;
* `[Text.UTF8Encoding]::new($false)`: UTF-8 without the BOM `[Text.Encoding]::UTF8` can
  emit on redirected output (the parsers strip a BOM anyway);
* `$ProgressPreference = 'SilentlyContinue'`: storage and CIM cmdlets write progress records,
  which a redirected 5.1 host serialises as CLIXML onto stderr;
* `Remove-TypeData System.Array`: without it 5.1 may print arrays as {"value":[..],"Count":n};
* `$ErrorActionPreference = 'Stop'` for the main query (a failure exits 1 with the reason on
  stderr: "unavailable: why"), `-ErrorAction SilentlyContinue` for optional parts.

Event log window (`events(domain, since_ms)`): each domain has a list of filters (log,
provider, event ids), queried one `Get-WinEvent -FilterHashtable` per provider (a provider
missing on a host must not hide the others) with `-MaxEvents` as a cap per filter, newest
first. The start of the window is `since_ms` (UTC milliseconds, built into the argv as a
literal), or, for the static specs capture uses, a lookback of DEFAULT_LOOKBACK_H. The
boot domain always reads its lookback (BOOT_LOOKBACK_H): deciding whether the previous
shutdown was clean needs the last clean stop before the current boot, however old; the probe
then emits only events at or after `since_ms`. Every Event carries `log` and `record_id`
(EventRecordID, increasing per log) so a caller can drop what it already sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.specs import Command

POWERSHELL = (
    *("powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive"),
    *("-ExecutionPolicy", "Bypass", "-Command"),
)
_PREFIX = (
    "$ProgressPreference = 'SilentlyContinue'; $ErrorActionPreference = 'Stop'; "
    "[Console]::OutputEncoding = [Text.UTF8Encoding]::new($false); "
    "Remove-TypeData System.Array -ErrorAction SilentlyContinue"
)
_JSON = "ConvertTo-Json -Depth 4 -Compress -InputObject"


# Starting PowerShell costs a few hundred ms of CPU, so what changes rarely is reused on a
# live host (agent/sources.py CachingSource): hardware and drivers for an hour, disk health,
# problem devices and time sync for 10 minutes, the event logs for 2 (boot: 10). Volumes
# and network state are read every cycle.
MAX_AGE_S: dict[str, float] = {
    "win_inventory": 3600.0,
    "win_signed_drivers": 3600.0,
    "win_physical_disks": 600.0,
    "win_pnp_problem_devices": 600.0,
    "win_dns_client": 300.0,
    "win_w32tm": 600.0,
    "win_events_boot": 600.0,
    "win_events_disk": 120.0,
    "win_events_network": 120.0,
    "win_events_drivers": 120.0,
}


def powershell(name: str, script: str, timeout: float = 30.0) -> Command:
    argv = (*POWERSHELL, f"{_PREFIX}; {script}")
    return Command(name, argv, timeout, max_age=MAX_AGE_S.get(name, 0.0))


def _select(*props: str) -> str:
    return "Select-Object " + ", ".join(props)


def _object(**exprs: str) -> str:
    return "[pscustomobject]@{" + "; ".join(f"{k} = {v}" for k, v in exprs.items()) + "}"


# --- inventory: Win32_OperatingSystem, Win32_ComputerSystem, Win32_Processor ----------
# https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem (and
# win32-computersystem, win32-processor); DisplayVersion/UBR from the CurrentVersion key
# give the patch level (10.0.22631.4460, 23H2); MachineGuid is Windows' machine id.
INVENTORY = powershell(
    "win_inventory",
    "; ".join(
        (
            "$os = Get-CimInstance Win32_OperatingSystem | "
            + _select(
                *("Caption", "Version", "BuildNumber", "LastBootUpTime", "LocalDateTime"),
                "CSName",
            ),
            "$cs = Get-CimInstance Win32_ComputerSystem | "
            + _select(
                *("DNSHostName", "Domain", "Manufacturer", "Model", "SystemFamily"),
                "TotalPhysicalMemory",
            ),
            "$cpu = @(Get-CimInstance Win32_Processor | "
            + _select("Name", "Architecture", "NumberOfCores", "NumberOfLogicalProcessors")
            + ")",
            "$nt = Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' | "
            + _select("DisplayVersion", "ReleaseId", "UBR", "EditionID"),
            "$guid = (Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' "
            "-ErrorAction SilentlyContinue).MachineGuid",
            "$disks = @(Get-PhysicalDisk -ErrorAction SilentlyContinue | "
            + _select("DeviceId", "FriendlyName", "SerialNumber", "Size", "MediaType", "BusType")
            + ")",
            "$nics = @(Get-NetAdapter -Physical -ErrorAction SilentlyContinue | "
            + _select("Name", "MacAddress")
            + ")",
            f"{_JSON} ("
            + _object(
                OperatingSystem="$os",
                ComputerSystem="$cs",
                Processors="$cpu",
                CurrentVersion="$nt",
                MachineGuid="$guid",
                PhysicalDisks="$disks",
                NetAdapters="$nics",
            )
            + ")",
        )
    ),
)

# --- disk: Get-Volume (MSFT_Volume) ---------------------------------------------------
# https://learn.microsoft.com/powershell/module/storage/get-volume
VOLUMES = powershell(
    "win_volumes",
    f"{_JSON} @(Get-Volume | "
    + _select(
        *("DriveLetter", "FileSystemLabel", "FileSystem", "DriveType", "HealthStatus"),
        *("OperationalStatus", "Size", "SizeRemaining", "Path"),
    )
    + ")",
)

# --- smart: Get-PhysicalDisk (MSFT_PhysicalDisk) + Get-StorageReliabilityCounter ------
# https://learn.microsoft.com/windows-hardware/drivers/storage/msft-physicaldisk
# https://learn.microsoft.com/windows-hardware/drivers/storage/msft-storagereliabilitycounter
_RELIABILITY = _select(
    *("Temperature", "TemperatureMax", "Wear", "PowerOnHours", "ReadErrorsUncorrected"),
    *("ReadErrorsTotal", "WriteErrorsUncorrected", "WriteErrorsTotal", "ReadLatencyMax"),
    *("WriteLatencyMax", "FlushLatencyMax", "StartStopCycleCount"),
)
PHYSICAL_DISKS = powershell(
    "win_physical_disks",
    f"{_JSON} @(Get-PhysicalDisk | ForEach-Object {{ "
    "$r = $_ | Get-StorageReliabilityCounter -ErrorAction SilentlyContinue; "
    + _object(
        **{p: f"$_.{p}" for p in ("DeviceId", "FriendlyName", "Model", "SerialNumber")},
        **{p: f"$_.{p}" for p in ("FirmwareVersion", "MediaType", "BusType", "HealthStatus")},
        OperationalStatus="$_.OperationalStatus",
        Size="$_.Size",
        Reliability=f"($r | {_RELIABILITY})",
    )
    + " })",
    60.0,
)

# --- network: Get-NetAdapter (MSFT_NetAdapter) + Get-NetAdapterStatistics -------------
# https://learn.microsoft.com/previous-versions/windows/desktop/legacy/hh968170(v=vs.85)
# (MSFT_NetAdapter); msft-netadapterstatisticssettingdata for the counters.
_ADAPTER_PROPS = (
    *("Name", "InterfaceDescription", "ifIndex", "Status", "MacAddress", "ReceiveLinkSpeed"),
    *("TransmitLinkSpeed", "MediaConnectState", "InterfaceOperationalStatus"),
    *("InterfaceAdminStatus", "NdisPhysicalMedium", "MtuSize", "HardwareInterface", "Virtual"),
)
_STATISTICS = _select(
    *("ReceivedBytes", "SentBytes", "ReceivedUnicastPackets", "SentUnicastPackets"),
    *("ReceivedPacketErrors", "OutboundPacketErrors", "ReceivedDiscardedPackets"),
    "OutboundDiscardedPackets",
)
NET_ADAPTERS = powershell(
    "win_net_adapters",
    "$stats = @{}; Get-NetAdapterStatistics -ErrorAction SilentlyContinue | "
    "ForEach-Object { $stats[$_.Name] = $_ }; "
    f"{_JSON} @(Get-NetAdapter | ForEach-Object {{ $s = $stats[$_.Name]; "
    + _object(**{p: f"$_.{p}" for p in _ADAPTER_PROPS}, Statistics=f"($s | {_STATISTICS})")
    + " })",
)

# Get-NetIPAddress (MSFT_NetIPAddress): PrefixOrigin Dhcp / WellKnown (APIPA), AddressState.
# https://learn.microsoft.com/powershell/module/nettcpip/get-netipaddress
IP_ADDRESSES = powershell(
    "win_ip_addresses",
    f"{_JSON} @(Get-NetIPAddress | "
    + _select(
        *("InterfaceAlias", "InterfaceIndex", "IPAddress", "PrefixLength", "AddressFamily"),
        *("PrefixOrigin", "SuffixOrigin", "AddressState"),
    )
    + ")",
)

# Default routes of the active store only: Get-NetRoute also lists the persistent store,
# which repeats every static route. No default route is a finding, not a failure.
# https://learn.microsoft.com/powershell/module/nettcpip/get-netroute
ROUTES = powershell(
    "win_routes",
    f"{_JSON} @(Get-NetRoute -DestinationPrefix '0.0.0.0/0', '::/0' -PolicyStore ActiveStore "
    "-ErrorAction SilentlyContinue | "
    + _select(
        *("DestinationPrefix", "NextHop", "InterfaceAlias", "InterfaceIndex", "RouteMetric"),
        *("InterfaceMetric", "AddressFamily"),
    )
    + ")",
)

# Get-DnsClientServerAddress + the suffixes (Get-DnsClient, Get-DnsClientGlobalSetting).
# https://learn.microsoft.com/powershell/module/dnsclient/get-dnsclientserveraddress
DNS_CLIENT = powershell(
    "win_dns_client",
    "; ".join(
        (
            "$srv = @(Get-DnsClientServerAddress | "
            + _select("InterfaceAlias", "InterfaceIndex", "AddressFamily", "ServerAddresses")
            + ")",
            "$cli = @(Get-DnsClient | "
            + _select("InterfaceAlias", "InterfaceIndex", "ConnectionSpecificSuffix")
            + ")",
            "$glob = Get-DnsClientGlobalSetting | Select-Object SuffixSearchList",
            f"{_JSON} ("
            + _object(ServerAddresses="$srv", Clients="$cli", GlobalSetting="$glob")
            + ")",
        )
    ),
)

# w32tm prints localised text in the OEM code page; the parser reads values by position
# and shape, never by label (agent/parsers/win_w32tm.py says why this and not stripchart).
# https://learn.microsoft.com/windows-server/networking/windows-time-service/windows-time-service-tools-and-settings
W32TM_STATUS = Command(
    "win_w32tm",
    ("w32tm.exe", "/query", "/status", "/verbose"),
    15.0,
    max_age=MAX_AGE_S["win_w32tm"],
)

# --- drivers: Win32_PnPEntity with a problem code, Win32_PnPSignedDriver --------------
# https://learn.microsoft.com/windows/win32/cimwin32prov/win32-pnpentity
PNP_PROBLEM_DEVICES = powershell(
    "win_pnp_problem_devices",
    f"{_JSON} @(Get-CimInstance Win32_PnPEntity -Filter 'ConfigManagerErrorCode <> 0' | "
    + _select(
        *("Name", "PNPDeviceID", "PNPClass", "Manufacturer", "Service", "Status"),
        *("ConfigManagerErrorCode", "Present"),
    )
    + ")",
)
# https://learn.microsoft.com/previous-versions/windows/desktop/cimwin32a/win32-pnpsigneddriver
SIGNED_DRIVERS = powershell(
    "win_signed_drivers",
    f"{_JSON} @(Get-CimInstance Win32_PnPSignedDriver | Where-Object {{ $_.DriverVersion }} | "
    + _select(
        *("DeviceName", "DeviceID", "DeviceClass", "DriverVersion", "DriverProviderName"),
        *("DriverDate", "IsSigned", "Signer", "InfName"),
    )
    + ")",
    60.0,
)


# --- event log queries -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventFilter:
    """One Get-WinEvent -FilterHashtable: these event ids of this provider in this log."""

    provider: str
    ids: tuple[int, ...]
    log: str = "System"

    def hashtable(self) -> str:
        ids = ",".join(str(i) for i in self.ids)
        return f"@{{LogName='{self.log}'; ProviderName='{self.provider}'; Id={ids}}}"


_STORPORT_RESET = (129,)  # "Reset to device, \Device\RaidPortN, was issued." (miniports)
EVENT_FILTERS: dict[str, tuple[EventFilter, ...]] = {
    "disk": (
        EventFilter("disk", (7, 9, 11, 51, 52, 153, 154, 157)),
        *(EventFilter(p, _STORPORT_RESET) for p in ("storahci", "stornvme", "storport")),
        *(EventFilter(p, _STORPORT_RESET) for p in ("iaStorA", "iaStorAVC")),
        EventFilter("Ntfs", (55, 98, 137)),
        EventFilter("Microsoft-Windows-Ntfs", (55, 98, 137)),
    ),
    "network": (
        EventFilter("Microsoft-Windows-DNS-Client", (1014,)),
        EventFilter("Microsoft-Windows-Dhcp-Client", (1001, 1002)),
        # Newer builds log DHCP failures to the client's Admin channel instead of System.
        EventFilter(
            "Microsoft-Windows-Dhcp-Client", (1001, 1002), "Microsoft-Windows-Dhcp-Client/Admin"
        ),
        EventFilter("Tcpip", (4199,)),
        EventFilter("Microsoft-Windows-Time-Service", (36, 129, 134)),
    ),
    "drivers": (
        EventFilter("Display", (4101,)),
        EventFilter("Microsoft-Windows-Kernel-PnP", (219,)),
        EventFilter("Service Control Manager", (7026,)),
        EventFilter("Microsoft-Windows-WHEA-Logger", (17, 18, 19, 47)),
    ),
    "boot": (
        EventFilter("Microsoft-Windows-Kernel-Power", (41,)),
        EventFilter("EventLog", (6005, 6006, 6008)),
        EventFilter("Microsoft-Windows-WER-SystemErrorReporting", (1001,)),
        EventFilter("Service Control Manager", (7000, 7001, 7023, 7031, 7034)),
        EventFilter("Microsoft-Windows-WindowsUpdateClient", (20,)),
        EventFilter(
            "Microsoft-Windows-Diagnostics-Performance",
            (100,),
            "Microsoft-Windows-Diagnostics-Performance/Operational",
        ),
    ),
}
EVENT_DOMAINS = tuple(EVENT_FILTERS)
DEFAULT_LOOKBACK_H = 7 * 24  # what an engineer reads on a ticket; MaxEvents bounds it
BOOT_LOOKBACK_H = 30 * 24  # a month of boots: the last clean stop is rarely older
MAX_EVENTS_PER_FILTER = 100  # bounds output and time when one disk logs thousands of 153s

# Data fields by name (<Data Name="BugcheckCode">), or param1.. for classic events whose
# <Data> have no names (EventLog 6008, disk 7): never the translated Message text.
_EVENT_RECORD = (
    "$x = [xml]$_.ToXml(); $d = [ordered]@{}; $i = 0; "
    "foreach ($n in $x.Event.EventData.ChildNodes) { if ($n.LocalName -eq 'Data') { $i++; "
    "$k = $n.GetAttribute('Name'); if (-not $k) { $k = 'param' + $i }; $d[$k] = $n.InnerText } }; "
    "foreach ($n in $x.Event.UserData.FirstChild.ChildNodes) { "
    "if ($n.NodeType -eq 'Element') { $d[$n.LocalName] = $n.InnerText } }; "
    + _object(
        **{p: f"$_.{p}" for p in ("TimeCreated", "Id", "ProviderName", "Level", "RecordId")},
        LogName="$_.LogName",
        Data="$d",
    )
)


def events(domain: str, since_ms: int | None = None) -> Command:
    """The event query of one domain (see EVENT_FILTERS), named `win_events_<domain>`.

    `since_ms` starts the window (UTC ms since the epoch); None reads the default lookback.
    The name does not depend on the window, so a capture replays whatever window was used.
    """
    filters = EVENT_FILTERS[domain]
    if domain == "boot" or since_ms is None:
        hours = BOOT_LOOKBACK_H if domain == "boot" else DEFAULT_LOOKBACK_H
        start = f"(Get-Date).AddHours(-{hours})"
    else:
        start = f"[DateTimeOffset]::FromUnixTimeMilliseconds({int(since_ms)}).UtcDateTime"
    tables = ", ".join(f.hashtable() for f in filters)
    script = (
        f"$start = {start}; "
        f"$events = foreach ($f in @({tables})) {{ $f['StartTime'] = $start; "
        f"Get-WinEvent -FilterHashtable $f -MaxEvents {MAX_EVENTS_PER_FILTER} "
        "-ErrorAction SilentlyContinue }; "
        f"{_JSON} @($events | ForEach-Object {{ {_EVENT_RECORD} }})"
    )
    return powershell(f"win_events_{domain}", script, 60.0)


EVENTS = {domain: events(domain) for domain in EVENT_DOMAINS}
