#Requires -Version 7.4
<#
.SYNOPSIS
    Packs a built module folder into <Name>.<version>.nupkg in the PowerShell Gallery's module format.
.DESCRIPTION
    Compress-PSResource (Microsoft.PowerShell.PSResourceGet, shipped with PowerShell 7.6) writes the same package
    Publish-PSResource uploads to a gallery: the module folder as content, a .nuspec made from the manifest (version,
    description, authors, tags, license, project and release-notes fields). No repository is registered or changed.
    Called by build.ps1 -Task Package and by tests/Pester/Package.Tests.ps1. Writes the package's path.
#>
[CmdletBinding()]
param(
    # The built module folder (out/ConntrackTools), holding the manifest.
    [Parameter(Mandatory)] [string] $ModuleFolder,
    # Where the .nupkg goes.
    [Parameter(Mandatory)] [string] $DestinationPath
)
$ErrorActionPreference = 'Stop'
Import-Module Microsoft.PowerShell.PSResourceGet -MinimumVersion 1.1.0
$manifest = Get-ChildItem -Path $ModuleFolder -Filter '*.psd1' | Select-Object -First 1
if (-not $manifest) { throw "No module manifest in $ModuleFolder." }
$data = Import-PowerShellDataFile -Path $manifest.FullName
$name = [IO.Path]::GetFileNameWithoutExtension($manifest.Name)
$package = Join-Path $DestinationPath "$name.$($data.ModuleVersion).nupkg"
$null = New-Item -ItemType Directory -Path $DestinationPath -Force
if (Test-Path $package) { Remove-Item -Path $package }
Compress-PSResource -Path $ModuleFolder -DestinationPath $DestinationPath
if (-not (Test-Path $package)) { throw "Compress-PSResource did not write $package." }
$package
