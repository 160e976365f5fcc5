<#
.SYNOPSIS
    Get-Conntrack by a whole tuple (one CT_GET) against `conntrack -G`, on tables of two sizes: the time must not
    grow with the table. Run as root: dotnet pwsh bench/Get-ExactTuple.ps1 [-Sizes 100000,1000000] [-Runs 30]
.DESCRIPTION
    Fills a private namespace per size with bench/New-ConntrackLoad.py (conntrack -R), then times, alternately,
    one Get-Conntrack call in this warm pwsh (Measure-Command, module loaded once) and one `conntrack -G` process
    started with `nsenter --net=` (fork+exec included, as a shell user pays it; `ip netns exec`, which also
    remounts /sys, is measured too as a second reference), plus a full-dump selection of the same entry with -NoKernelFilter
    for scale. Medians of -Runs. nf_conntrack_max is raised only if needed and restored; namespaces are removed.
#>
param(
    [int[]] $Sizes = @(100000, 1000000),
    [int] $Runs = 30,
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ConntrackTools/ConntrackTools.psd1'),
    [string] $OutFile = (Join-Path $PSScriptRoot '../out/bench-exact-tuple.json')
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$maxFile = '/proc/sys/net/netfilter/nf_conntrack_max'
$oldMax = [int](Get-Content $maxFile)
$raised = $false
$python = (Get-Command python3).Source
$work = Join-Path ([IO.Path]::GetTempPath()) "ctt-bench-exact-$PID"
New-Item -ItemType Directory $work | Out-Null
function Get-Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
# Entry 5 of New-ConntrackLoad.py: tcp 10.244.0.5:1029 -> 10.96.0.6:8899 (masqueraded).
$tuple = @{ Protocol = 'tcp'; SourceAddress = '10.244.0.5'; DestinationAddress = '10.96.0.6'; SourcePort = 1029; DestinationPort = 8899 }
$ctArgs = @('-G', '-p', 'tcp', '-s', '10.244.0.5', '-d', '10.96.0.6', '--sport', '1029', '--dport', '8899')
$results = [System.Collections.Generic.List[object]]::new()
try {
    foreach ($n in $Sizes) {
        $ns = "ctt-bench-exact-$n-$PID"
        $need = [int]($n * 1.2 + 10000)
        if ($need -gt [int](Get-Content $maxFile)) { [IO.File]::WriteAllText($maxFile, "$need"); $raised = $true }
        & ip netns add $ns
        try {
            & ip -n $ns link set lo up
            $data = Join-Path $work "entries-$n.txt"
            & $python (Join-Path $PSScriptRoot 'New-ConntrackLoad.py') $n > $data
            & ip netns exec $ns conntrack -R $data 2>$null | Out-Null
            $count = [int](& ip netns exec $ns conntrack -C)
            Write-Host "$ns holds $count entries"
            $found = @(Get-Conntrack -NetworkNamespace $ns @tuple)
            if ($found.Count -ne 1) { throw "the benchmark tuple is not in the table ($($found.Count) found)" }
            $ref = @(& ip netns exec $ns conntrack @ctArgs 2>$null)
            if ($ref.Count -ne 1) { throw 'conntrack -G did not find the benchmark tuple' }
            $ours = [System.Collections.Generic.List[double]]::new(); $theirs = [System.Collections.Generic.List[double]]::new()
            $ipExec = [System.Collections.Generic.List[double]]::new()
            for ($i = 0; $i -lt $Runs; $i++) {
                $ours.Add((Measure-Command { Get-Conntrack -NetworkNamespace $ns @tuple | Out-Null }).TotalMilliseconds)
                $sw = [Diagnostics.Stopwatch]::StartNew()
                & nsenter "--net=/var/run/netns/$ns" conntrack @ctArgs > $null 2>&1
                $theirs.Add($sw.Elapsed.TotalMilliseconds)
                if ($LASTEXITCODE -ne 0) { throw 'conntrack -G failed under nsenter' }
                $sw.Restart()
                & ip netns exec $ns conntrack @ctArgs > $null 2>&1
                $ipExec.Add($sw.Elapsed.TotalMilliseconds)
            }
            $dump = Get-Median @(1..3 | ForEach-Object { (Measure-Command { Get-Conntrack -NetworkNamespace $ns @tuple -NoKernelFilter | Out-Null }).TotalMilliseconds })
            $r = [pscustomobject]@{
                Size = $count; OursMs = [math]::Round((Get-Median $ours), 2); ConntrackGMs = [math]::Round((Get-Median $theirs), 2)
                Ratio = [math]::Round((Get-Median $ours) / (Get-Median $theirs), 2); IpNetnsExecConntrackGMs = [math]::Round((Get-Median $ipExec), 2)
                SameSelectionByDumpMs = [math]::Round($dump, 1)
            }
            $results.Add($r)
            $r | Format-List | Out-Host
        }
        finally {
            & ip netns exec $ns conntrack -F 2>$null | Out-Null
            & ip netns del $ns 2>$null
        }
    }
}
finally {
    if ($raised) { [IO.File]::WriteAllText($maxFile, "$oldMax") }
    Remove-Item -Recurse -Force $work -ErrorAction Ignore
}
$results | ConvertTo-Json | Set-Content $OutFile
$results | Format-Table -AutoSize
