#Requires -Version 7.4
<#
.SYNOPSIS
    The one entry point for building, testing and demonstrating ConntrackTools.
.DESCRIPTION
    -Task Build    compiles the module into out/ConntrackTools (dll, manifest, format file, help).
    -Task UnitTest runs the xunit engine tests: no root, no namespaces, no system packages (a contributor's laptop).
    -Task Lint     builds every project with the .NET analyzers (findings are errors) and checks the repository's
                   PowerShell scripts with tools/Test-ScriptStyle.ps1 (parse errors, aliases, positional
                   parameters, unapproved verbs).
    -Task Test     Lint, UnitTest, then the Pester cmdlet tests (as root, in private network namespaces);
                   NUnit/TRX results land in out/. Exits non-zero on any failure.
    -Task Demo     builds and replays the problem ConntrackTools solves in throw-away namespaces.
    -Task Package  builds and packs the module into out/ConntrackTools.<version>.nupkg (PowerShell Gallery format).
    -Task HealthCheck  builds, restores Pester 5.7.1 and runs examples/NodeHealth.Tests.ps1 (docs/NodeHealthChecks.md).
    -Task Bench    builds and runs the benchmarks in bench/ (see docs/performance.md).
    -Task Fuzz     runs the decoders' property tests (CsCheck) for -Minutes on every core; inputs that break a
                   property are kept in tests/ConntrackTools.Tests/Fixtures/fuzz/ and replayed by every test run.
    Missing system packages (libpcap, iproute2, nftables, conntrack) are installed with apt-get when running
    as root; otherwise the build stops with one line saying what to install.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'UnitTest', 'Lint', 'Test', 'Demo', 'Package', 'Bench', 'Fuzz', 'HealthCheck')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Test: run only Pester files whose name matches (e.g. 'Get-Conntrack').
    [string] $PesterFilter,

    # Test: only Pester tests with one of these tags / without any of these (Privileged, Slow).
    [string[]] $Tag,
    [string[]] $ExcludeTag,

    # Test: skip one of the suites.
    [switch] $SkipLint,
    [switch] $SkipUnit,
    [switch] $SkipPester,

    # Bench: table sizes.
    [int[]] $BenchSize,

    # Bench: repetitions per figure (medians are reported).
    [int] $BenchRuns = 5,

    # Fuzz: total minutes, shared among the property tests.
    [ValidateRange(1, 10080)]
    [int] $Minutes = 10,

    # HealthCheck: check this network namespace (name, path or PID) instead of the node's own.
    [string] $NetworkNamespace,

    # HealthCheck: use the module already in out/ instead of building it first.
    [switch] $SkipBuild
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleOut = Join-Path $Out 'ConntrackTools'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

function Write-Step([string] $Text) {
    Write-Host "==> $Text" -ForegroundColor Cyan
}

function Invoke-Native {
    # Runs a native command (first argument) with the remaining arguments; stops the build when it fails.
    # Deliberately not an advanced function, so arguments such as -c or -o reach the command untouched.
    $file, $rest = $args
    & $file @rest
    if ($LASTEXITCODE -ne 0) { throw "'$file $($rest -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Get-MissingPackage {
    param([string[]] $Need)
    $checks = [ordered]@{
        'libpcap0.8' = { [bool](Get-ChildItem /usr/lib/*/libpcap.so.0.8, /usr/lib/libpcap.so.0.8 -ErrorAction Ignore) }
        'iproute2'   = { [bool](Get-Command ip -ErrorAction Ignore) }
        'nftables'   = { [bool](Get-Command nft -ErrorAction Ignore) }
        'iptables'   = { [bool](Get-Command iptables -ErrorAction Ignore) }
        'conntrack'  = { [bool](Get-Command conntrack -ErrorAction Ignore) }
        'tcpdump'    = { [bool](Get-Command tcpdump -ErrorAction Ignore) }
        'python3'    = { Test-Path /usr/bin/python3 }
        'time'       = { Test-Path /usr/bin/time }
        'openssh-server' = { Test-Path /usr/sbin/sshd }
        'tshark'     = { [bool](Get-Command tshark -ErrorAction Ignore) }
        'gcc'        = { [bool](Get-Command cc -ErrorAction Ignore) }
        'libc6-dev'  = { Test-Path /usr/include/stdio.h }
        'linux-libc-dev' = { Test-Path /usr/include/linux/netfilter/nfnetlink_conntrack.h }
    }
    foreach ($p in $Need) { if (-not (& $checks[$p])) { $p } }
}

function Assert-SystemPackage {
    # Installs what is missing through apt when root, or stops with one clear line.
    param([string[]] $Need)
    $missing = @(Get-MissingPackage $Need)
    if ($missing.Count -eq 0) { return }
    $isRoot = (& id -u) -eq '0'
    if ($isRoot -and (Get-Command apt-get -ErrorAction Ignore)) {
        Write-Step "Installing system packages: $($missing -join ' ')"
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native apt-get -qq update
        Invoke-Native apt-get install -y -qq --no-install-recommends @missing
        $still = @(Get-MissingPackage $Need)
        if ($still.Count) { throw "Still missing after apt-get install: $($still -join ' ')." }
        return
    }
    throw "Missing system packages: $($missing -join ' '). Install them with: sudo apt-get install $($missing -join ' ')"
}

function Invoke-ModuleBuild {
    Write-Step "Building the module ($Configuration)"
    if (Test-Path $ModuleOut) { Remove-Item $ModuleOut -Recurse -Force }
    Invoke-Native dotnet publish (Join-Path $Root 'src/ConntrackTools/ConntrackTools.csproj') -c $Configuration -o $ModuleOut --nologo -v quiet
    Copy-Item (Join-Path $Root 'ConntrackTools.psd1') $ModuleOut
    Copy-Item (Join-Path $Root 'src/ConntrackTools/*.Format.ps1xml') $ModuleOut
    Copy-Item (Join-Path $Root 'src/ConntrackTools/*.Types.ps1xml') $ModuleOut
    # Keep only what the module needs at run time.
    Get-ChildItem $ModuleOut -Filter '*.pdb' | Where-Object Name -NotLike 'ConntrackTools*' | Remove-Item
    Get-ChildItem $ModuleOut -Filter '*.deps.json' | Remove-Item
    Write-Step 'Building help from docs/'
    Invoke-Native dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'tools/Build-Help.ps1') -ModulePath (Join-Path $ModuleOut 'ConntrackTools.psd1') -DocsPath (Join-Path $Root 'docs') -OutputPath (Join-Path $ModuleOut 'en-US')
    Write-Host "Module ready: $ModuleOut"
}

function Get-PesterModulePath {
    Invoke-Native dotnet restore (Join-Path $Root 'tests/Pester/Pester.Restore.csproj') --nologo -v quiet
    $globalPackages = (& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    $psd1 = Join-Path $globalPackages.Trim() 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $psd1)) { throw "Pester 5.7.1 was restored but $psd1 is missing." }
    $psd1
}

function Invoke-UnitTest {
    # The engine tests need neither root nor a kernel feature: decoders run on recorded bytes, dumps on a scripted transport.
    Write-Step 'xunit: engine tests'
    $trx = Join-Path $Out 'test-results'
    & dotnet test (Join-Path $Root 'tests/ConntrackTools.Tests/ConntrackTools.Tests.csproj') -c $Configuration --nologo `
        --results-directory $trx --logger 'trx;LogFileName=xunit.trx' --logger 'console;verbosity=minimal' | Out-Host
    $unitExit = $LASTEXITCODE
    $r = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0 }
    $trxFile = Join-Path $trx 'xunit.trx'
    if (Test-Path $trxFile) {
        [xml] $x = Get-Content $trxFile -Raw
        $c = $x.TestRun.ResultSummary.Counters
        $r.Passed = [int]$c.passed; $r.Failed = [int]$c.failed + [int]$c.error; $r.Skipped = [int]$c.notExecuted
    }
    if ($unitExit -ne 0 -and $r.Failed -eq 0) { $r.Failed = 1 }
    $r
}

function Invoke-Lint {
    # Returns $true when clean. The analyzers run in every build (Directory.Build.props); here every project is built.
    Write-Step 'Lint: .NET analyzers on every project'
    & dotnet build (Join-Path $Root 'ConntrackTools.slnx') -c $Configuration --nologo -v quiet | Out-Host
    $ok = $LASTEXITCODE -eq 0
    Write-Step 'Lint: PowerShell scripts'
    & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'tools/Test-ScriptStyle.ps1') -Path $Root | Out-Host
    $ok -and $LASTEXITCODE -eq 0
}

function Invoke-Test {
    Assert-SystemPackage 'libpcap0.8', 'iproute2', 'nftables', 'conntrack', 'tcpdump', 'python3'
    Assert-SystemPackage 'tshark'   # the capture differential test compares Read-PacketCapture with it
    Assert-SystemPackage 'openssh-server'   # tests/Pester/Fleet.Tests.ps1 starts its own sshd per node namespace
    Invoke-ModuleBuild
    $failed = 0; $passed = 0; $skipped = 0
    if (-not $SkipLint) {
        if (-not (Invoke-Lint)) { $failed++ }
    }
    if (-not $SkipUnit) {
        $u = Invoke-UnitTest
        $passed += $u.Passed; $failed += $u.Failed; $skipped += $u.Skipped
    }
    if (-not $SkipPester) {
        Write-Step 'Pester: cmdlet tests'
        $pester = Get-PesterModulePath
        $result = Join-Path $Out 'pester-results.xml'
        $summary = Join-Path $Out 'pester-summary.json'
        # A -File child takes a list as one comma-separated argument; an absent one must not be passed at all.
        $tags = @()
        if ($Tag) { $tags += '-Tag', ($Tag -join ',') }
        if ($ExcludeTag) { $tags += '-ExcludeTag', ($ExcludeTag -join ',') }
        & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'tests/Pester/Invoke-PesterSuite.ps1') `
            -PesterPath $pester -ModulePath (Join-Path $ModuleOut 'ConntrackTools.psd1') -TestPath (Join-Path $Root 'tests/Pester') `
            -ResultPath $result -SummaryPath $summary -Filter $PesterFilter @tags
        $pesterExit = $LASTEXITCODE
        if (Test-Path $summary) {
            $s = Get-Content $summary -Raw | ConvertFrom-Json
            $passed += $s.Passed; $failed += $s.Failed; $skipped += $s.Skipped
        }
        if ($pesterExit -ne 0 -and -not (Test-Path $summary)) { $failed++ }
    }
    Write-Host ''
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-Demo {
    Assert-SystemPackage 'libpcap0.8', 'iproute2', 'nftables', 'python3'
    Invoke-ModuleBuild
    Write-Step 'Demo'
    & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'tools/Demo.ps1') -ModulePath (Join-Path $ModuleOut 'ConntrackTools.psd1')
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Package {
    Invoke-ModuleBuild
    Write-Step 'Packing out/ConntrackTools.<version>.nupkg (PowerShell Gallery module format)'
    $package = & (Join-Path $Root 'tools/New-ModulePackage.ps1') -ModuleFolder $ModuleOut -DestinationPath $Out
    Write-Host "Package: $package"
}

function Invoke-HealthCheck {
    # examples/NodeHealth.Tests.ps1 exactly as docs/NodeHealthChecks.md says, with the Pester this repository pins.
    Assert-SystemPackage 'libpcap0.8', 'iproute2', 'nftables'
    if (-not $SkipBuild) { Invoke-ModuleBuild }
    $pester = Get-PesterModulePath
    Write-Step "Node health checks (Pester $((Import-PowerShellDataFile $pester).ModuleVersion))"
    $env:CONNTRACKTOOLS_MODULE = Join-Path $ModuleOut 'ConntrackTools.psd1'
    if ($NetworkNamespace) { $env:CONNTRACK_HEALTH_NETNS = $NetworkNamespace }
    $suite = Join-Path $Root 'examples/NodeHealth.Tests.ps1'
    & dotnet pwsh -NoProfile -NonInteractive -Command "Import-Module '$pester'; `$r = Invoke-Pester -Path '$suite' -Output Detailed -PassThru; exit `$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount"
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Bench {
    Assert-SystemPackage 'libpcap0.8', 'iproute2', 'conntrack', 'python3', 'tcpdump', 'time', 'gcc', 'libc6-dev', 'linux-libc-dev'
    Assert-SystemPackage 'tshark'   # the packet bench's second reference
    Invoke-ModuleBuild
    $benchArgs = @('-ModulePath', (Join-Path $ModuleOut 'ConntrackTools.psd1'), '-Runs', $BenchRuns)
    if ($BenchSize) { $benchArgs += @('-Size', ($BenchSize -join ',')) }
    & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'bench/Invoke-Benchmark.ps1') @benchArgs
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Fuzz {
    # Each property of DecoderPropertyTests runs for its share of the time instead of a fixed number of iterations.
    $project = Join-Path $Root 'tests/ConntrackTools.Tests/ConntrackTools.Tests.csproj'
    # The properties are the calls of Check( in the test class (its own definition aside).
    $source = Get-Content (Join-Path $Root 'tests/ConntrackTools.Tests/DecoderPropertyTests.cs')
    $properties = @($source | Where-Object { $_ -match '\bCheck\(' -and $_ -notmatch 'private static void Check' }).Count
    $env:CTT_FUZZ_SECONDS = [string][Math]::Max(1, [int]($Minutes * 60 / $properties))
    try {
        Write-Step "Fuzz: $properties decoder properties, $($env:CTT_FUZZ_SECONDS) s each"
        & dotnet test $project -c $Configuration --nologo --filter 'FullyQualifiedName~DecoderPropertyTests' --logger 'console;verbosity=normal'
        if ($LASTEXITCODE -ne 0) { throw "A property failed; the input is kept in tests/ConntrackTools.Tests/Fixtures/fuzz/ (commit it as a regression fixture)." }
    }
    finally { Remove-Item Env:CTT_FUZZ_SECONDS -ErrorAction Ignore }
}

switch ($Task) {
    'Build' { Invoke-ModuleBuild }
    'UnitTest' {
        $u = Invoke-UnitTest
        Write-Host "$($u.Passed) passed, $($u.Failed) failed, $($u.Skipped) skipped"
        if ($u.Failed -gt 0) { exit 1 }
    }
    'Lint' { if (-not (Invoke-Lint)) { exit 1 } }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Package' { Invoke-Package }
    'Bench' { Invoke-Bench }
    'Fuzz' { Invoke-Fuzz }
    'HealthCheck' { Invoke-HealthCheck }
}
