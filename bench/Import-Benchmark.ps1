<#
.SYNOPSIS
    Import-Conntrack versus `conntrack -R` on the same file, in the same run.

.DESCRIPTION
    A private namespace (ctt-bench-imp-src-*) is filled with -Entries entries that look like a busy Kubernetes node
    (bench/New-ConntrackLoad.py: a third UDP, one in five masqueraded, one in five DNATed, one in ten IPv6), and
    `conntrack -L -o save` of it is the file both sides read. Then, alternately and -Runs times, each side creates
    the whole file in an empty namespace of its own: `ip netns exec NS conntrack -R FILE` (process start included,
    a few milliseconds) and Import-Conntrack in this warm pwsh (module imported, one warm-up import of 1,000 lines
    first). Each run is checked to have created every entry; the namespace is flushed afterwards. Medians and
    their ratio are printed and written as JSON to -ResultPath.

    Run as root:  dotnet pwsh bench/Import-Benchmark.ps1 -ModulePath ./out/ConntrackTools/ConntrackTools.psd1
    CPU time (user and system) of both sides is recorded as well: on a shared machine wall time mostly measures the
    scheduler. Global state: none (nf_conntrack_max is only checked, not changed). Everything created is removed.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Entries = 100000,
    [int] $Runs = 3,
    [string] $ResultPath = (Join-Path ([IO.Path]::GetTempPath()) 'ctt-import-bench.json')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
Import-Module $ModulePath -Force

function Write-Note([string] $Text) { Write-Host "[$(Get-Date -Format HH:mm:ss)] $Text" }
function Get-Median([double[]] $Values) {
    $s = @($Values | Sort-Object)
    if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
}
function Get-Count([string] $Namespace) { (Get-ConntrackStatistics -NetworkNamespace $Namespace).Count }
function Clear-Namespace([string] $Namespace) { & ip netns exec $Namespace conntrack -F 2>$null | Out-Null }

$max = [int](Get-Content /proc/sys/net/netfilter/nf_conntrack_max)
$used = [int](Get-Content /proc/sys/net/netfilter/nf_conntrack_count)
if ($max -lt 3 * $Entries + $used) { throw "net.netfilter.nf_conntrack_max ($max) is too small for 3 x $Entries entries; raise it first." }

$tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
$src = "ctt-bench-imp-src-$tag"; $viaConntrack = "ctt-bench-imp-ct-$tag"; $viaUs = "ctt-bench-imp-us-$tag"
$work = Join-Path ([IO.Path]::GetTempPath()) "ctt-bench-imp-$tag"
New-Item -ItemType Directory -Force $work | Out-Null
$namespaces = @($src, $viaConntrack, $viaUs)
try {
    foreach ($ns in $namespaces) { & ip netns add $ns; if ($LASTEXITCODE) { throw "ip netns add $ns failed" } }
    $load = Join-Path $work 'load.txt'
    & /usr/bin/python3 (Join-Path $PSScriptRoot 'New-ConntrackLoad.py') $Entries > $load
    & ip netns exec $src conntrack -R $load 2>$null
    $file = Join-Path $work 'table.save'
    & bash -c "ip netns exec $src conntrack -L -o save > '$file' 2>/dev/null"
    $lines = @(Get-Content $file).Count
    if ($lines -ne $Entries) { throw "the source table has $lines entries, not $Entries" }
    Write-Note "file: $lines lines written by conntrack -L -o save ($([math]::Round((Get-Item $file).Length / 1MB, 1)) MiB)"

    $warm = Join-Path $work 'warm.save'
    Get-Content $file -TotalCount 1000 | Set-Content $warm
    Import-Conntrack -Path $warm -NetworkNamespace $viaUs
    Clear-Namespace $viaUs

    $ours = [System.Collections.Generic.List[double]]::new()
    $theirs = [System.Collections.Generic.List[double]]::new()
    $oursUser = [System.Collections.Generic.List[double]]::new(); $oursSys = [System.Collections.Generic.List[double]]::new()
    $theirsUser = [System.Collections.Generic.List[double]]::new(); $theirsSys = [System.Collections.Generic.List[double]]::new()
    $self = [Diagnostics.Process]::GetCurrentProcess()
    for ($r = 1; $r -le $Runs; $r++) {
        # CPU time too: on a shared machine the wall time mostly says how much CPU the scheduler gave us.
        $cpuFile = Join-Path $work 'cpu.txt'
        $sw = [Diagnostics.Stopwatch]::StartNew()
        & /usr/bin/time -o $cpuFile -f '%U %S' ip netns exec $viaConntrack conntrack -R $file 2>$null
        $sw.Stop()
        $n = Get-Count $viaConntrack
        if ($n -ne $Entries) { throw "conntrack -R created $n of $Entries entries" }
        $theirs.Add($sw.Elapsed.TotalSeconds)
        $u, $k = (Get-Content $cpuFile | Select-Object -Last 1) -split ' '
        $theirsUser.Add([double]$u); $theirsSys.Add([double]$k)
        Clear-Namespace $viaConntrack

        $self.Refresh(); $u0 = $self.UserProcessorTime.TotalSeconds; $k0 = $self.PrivilegedProcessorTime.TotalSeconds
        $sw = [Diagnostics.Stopwatch]::StartNew()
        Import-Conntrack -Path $file -NetworkNamespace $viaUs -ErrorVariable refused -ErrorAction SilentlyContinue
        $sw.Stop()
        $self.Refresh()
        $oursUser.Add($self.UserProcessorTime.TotalSeconds - $u0); $oursSys.Add($self.PrivilegedProcessorTime.TotalSeconds - $k0)
        $n = Get-Count $viaUs
        if ($refused.Count -or $n -ne $Entries) { throw "Import-Conntrack created $n of $Entries entries ($($refused.Count) refused)" }
        $ours.Add($sw.Elapsed.TotalSeconds)
        Clear-Namespace $viaUs
        Write-Note ("run {0}: conntrack -R {1:N2} s (cpu user {2:N2} + sys {3:N2}), Import-Conntrack {4:N2} s (cpu user {5:N2} + sys {6:N2}); load {7}" -f $r,
            $theirs[-1], $theirsUser[-1], $theirsSys[-1], $ours[-1], $oursUser[-1], $oursSys[-1], ((Get-Content /proc/loadavg) -split ' ')[0])
    }
    $result = [ordered]@{
        Entries = $Entries; Runs = $Runs; Kernel = (& uname -r); ConntrackTools = (& conntrack --version 2>&1) -join ''
        ConntrackRSeconds = Get-Median $theirs; ImportConntrackSeconds = Get-Median $ours
        ConntrackRRuns = $theirs; ImportConntrackRuns = $ours
        ConntrackRUserCpu = Get-Median $theirsUser; ConntrackRSysCpu = Get-Median $theirsSys
        ImportConntrackUserCpu = Get-Median $oursUser; ImportConntrackSysCpu = Get-Median $oursSys
        LoadAverage = (Get-Content /proc/loadavg)
    }
    $result.Speedup = [math]::Round($result.ConntrackRSeconds / $result.ImportConntrackSeconds, 1)
    $result | ConvertTo-Json | Set-Content $ResultPath
    $result.CpuSpeedup = [math]::Round(($result.ConntrackRUserCpu + $result.ConntrackRSysCpu) / ($result.ImportConntrackUserCpu + $result.ImportConntrackSysCpu), 2)
    Write-Note ("median of {0}: conntrack -R {1:N2} s, Import-Conntrack {2:N2} s: wall ratio {3}x, CPU ratio {4}x (target >= 5x faster)" -f $Runs, $result.ConntrackRSeconds, $result.ImportConntrackSeconds, $result.Speedup, $result.CpuSpeedup)
    [pscustomobject]$result
}
finally {
    foreach ($ns in $namespaces) {
        if (Test-Path "/var/run/netns/$ns") { Clear-Namespace $ns; & ip netns del $ns }
    }
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
