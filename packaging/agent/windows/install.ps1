# Installs the rdiag agent as a Windows service (run as Administrator).
#   .\install.ps1 -Collector collector.corp.example:7443 [-Python C:\Python311\python.exe]
param(
    [Parameter(Mandatory = $true)][string]$Collector,
    [string]$Python = "python"
)
$ErrorActionPreference = "Stop"
$root = Join-Path $env:ProgramFiles "rdiag"
$state = Join-Path $env:ProgramData "rdiag"
New-Item -ItemType Directory -Force -Path $root, $state | Out-Null
& $Python -m venv (Join-Path $root "venv")
& (Join-Path $root "venv\Scripts\pip.exe") install --upgrade rdiag
$config = Join-Path $state "agent.toml"
if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $PSScriptRoot "..\agent.toml") $config
    (Get-Content $config) -replace '^address = .*', "address = `"$Collector`"" | Set-Content $config
}
& (Join-Path $root "venv\Scripts\rdiag-agent.exe") --config $config config check
Copy-Item (Join-Path $PSScriptRoot "rdiag-agent.xml") (Join-Path $root "rdiag-agent.xml")
Copy-Item (Join-Path $PSScriptRoot "rdiag-agent.exe") (Join-Path $root "rdiag-agent.exe")
& (Join-Path $root "rdiag-agent.exe") install
& (Join-Path $root "rdiag-agent.exe") start
