<#
.SYNOPSIS
    Get-Conntrack -AllNetworkNamespaces against the shell loop people write today, on many namespaces at once.

.DESCRIPTION
    Makes -Namespaces private namespaces (ctt-bench-alln-*) of -Entries entries each (bench/New-ConntrackLoad.py,
    through conntrack -R), then times, alternately, -Runs times:
      - the shell loop:  for ns in <our namespaces>; do ip netns exec $ns conntrack -L; done > /dev/null
      - Get-Conntrack -AllNetworkNamespaces | Measure-Object   (as many namespaces at once as cores)
      - the same with -ThrottleLimit 1 (one namespace at a time: what the parallelism buys)
    and prints the medians and ratios as JSON. The kernel keeps one table for all namespaces and a dump in one namespace
    walks all of it, so other namespaces on the machine (and their entries) count too: the script says how many
    entries the whole machine held. Everything it makes is removed; nf_conntrack_max is raised if needed and restored.
    Usage: dotnet pwsh bench/Measure-AllNamespaces.ps1 -ModulePath out/ConntrackTools/ConntrackTools.psd1
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Namespaces = 100,
    [int] $Entries = 10000,
    [int] $Runs = 1
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$maxFile = '/proc/sys/net/netfilter/nf_conntrack_max'
$originalMax = [int](Get-Content $maxFile)
$tag = 'ctt-bench-alln-' + [guid]::NewGuid().ToString('N').Substring(0, 4)
$names = 1..$Namespaces | ForEach-Object { '{0}-{1:D3}' -f $tag, $_ }
$data = Join-Path ([IO.Path]::GetTempPath()) "$tag.txt"
function Get-Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
function Note([string] $t) { Write-Host "[$(Get-Date -Format HH:mm:ss)] $t" }
try {
    $need = [int](($Namespaces * $Entries) * 1.2 + 2000000)
    if ($need -gt [int](Get-Content $maxFile)) { [IO.File]::WriteAllText($maxFile, "$need") }
    & python3 (Join-Path $PSScriptRoot 'New-ConntrackLoad.py') $Entries > $data
    Note "Filling $Namespaces namespaces with $Entries entries each"
    foreach ($n in $names) {
        & ip netns add $n
        & ip netns exec $n conntrack -R $data 2>$null | Out-Null
    }
    $total = (Get-ConntrackStatistics -AllNetworkNamespaces | Measure-Object Count -Sum).Sum
    Note "The machine holds $total entries in all namespaces"
    $loop = "for ns in $($names -join ' '); do ip netns exec `$ns conntrack -L; done > /dev/null 2>&1"
    $shell = @(); $ours = @(); $one = @()
    Get-Conntrack -AllNetworkNamespaces | Measure-Object | Out-Null   # warm-up (JIT)
    for ($i = 0; $i -lt $Runs; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew(); & bash -c $loop; $shell += $sw.Elapsed.TotalSeconds
        $sw.Restart(); $c = (Get-Conntrack -AllNetworkNamespaces | Measure-Object).Count; $ours += $sw.Elapsed.TotalSeconds
        $sw.Restart(); $c1 = (Get-Conntrack -AllNetworkNamespaces -ThrottleLimit 1 | Measure-Object).Count; $one += $sw.Elapsed.TotalSeconds
        Note ("run {0}: shell loop {1:N1} s, -AllNetworkNamespaces {2:N1} s ({3} entries), -ThrottleLimit 1 {4:N1} s ({5})" -f ($i + 1), $shell[-1], $ours[-1], $c, $one[-1], $c1)
    }
    [pscustomobject]@{
        Namespaces = $Namespaces; EntriesEach = $Entries; MachineEntries = $total; Cores = [Environment]::ProcessorCount; Runs = $Runs
        ShellLoop = Get-Median $shell; AllNetworkNamespaces = Get-Median $ours; ThrottleLimit1 = Get-Median $one
        SpeedupVsShell = (Get-Median $shell) / (Get-Median $ours); SpeedupVsOneAtATime = (Get-Median $one) / (Get-Median $ours)
    } | ConvertTo-Json
} finally {
    foreach ($n in $names) { & ip netns exec $n conntrack -F 2>$null | Out-Null; & ip netns del $n 2>$null }
    Remove-Item $data -ErrorAction Ignore
    [IO.File]::WriteAllText($maxFile, "$originalMax")
    Note "Removed $Namespaces namespaces; nf_conntrack_max restored to $originalMax"
}
