<#
.SYNOPSIS
    Runs the Pester suite in this (child) pwsh against the built module; called by build.ps1 -Task Test.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $TestPath,
    [Parameter(Mandatory)] [string] $ResultPath,
    [Parameter(Mandatory)] [string] $SummaryPath,
    [string] $Filter,
    # Run only tests with one of these tags, or leave out tests with one of these (Privileged: needs root and
    # namespaces; Slow: minutes of sandboxes, fresh pwsh processes or captures).
    [string[]] $Tag,
    [string[]] $ExcludeTag
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$env:CONNTRACKTOOLS_MODULE = $ModulePath
$env:CONNTRACKTOOLS_PESTER = $PesterPath

$config = New-PesterConfiguration
$paths = Get-ChildItem $TestPath -Filter '*.Tests.ps1' | Where-Object { -not $Filter -or $_.Name -like "*$Filter*" }
$config.Run.Path = @($paths.FullName)
$config.Run.PassThru = $true
# From build.ps1 a list arrives as one comma-separated argument.
if ($Tag) { $config.Filter.Tag = @($Tag -split ',' | Where-Object { $_ }) }
if ($ExcludeTag) { $config.Filter.ExcludeTag = @($ExcludeTag -split ',' | Where-Object { $_ }) }
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = $ResultPath
$config.Should.ErrorAction = 'Continue'

$result = Invoke-Pester -Configuration $config
[pscustomobject]@{
    Passed  = $result.PassedCount
    Failed  = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    Skipped = $result.SkippedCount
} | ConvertTo-Json | Set-Content $SummaryPath
if ($result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount -gt 0) { exit 1 }
exit 0
