<#
.SYNOPSIS
    The packet benchmark on its own: Read-PacketCapture and Read-PacketCapture | Find-SnatRemap beside both reference
    tools (tcpdump -nn -r, tshark -n -r, output to /dev/null) on the same file, alternately, medians of -Runs, on the
    generated 1,000,000-packet pcap (New-PacketCapture.py) and, with -MixFolder, on a replay of real captures
    (New-CaptureMix.py over, for example, a local copy of tcpdump's tests/). Prints a markdown table; the full bench
    (Invoke-Benchmark.ps1) measures the same rows for docs/performance.md.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Packets = 1000000,
    [int] $Runs = 3,
    [string] $MixFolder
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
$work = Join-Path ([IO.Path]::GetTempPath()) "ctt-capbench-$PID"
New-Item -ItemType Directory -Force $work | Out-Null

function Measure-Shell([string] $Command) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & bash -c $Command
    $sw.Elapsed.TotalSeconds
}
function Measure-Block([scriptblock] $Block) {
    $sw = [Diagnostics.Stopwatch]::StartNew(); & $Block; $sw.Elapsed.TotalSeconds
}
function Get-Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }

function Measure-File([string] $Label, [string] $Pcap) {
    $count = (Read-PacketCapture -LiteralPath $Pcap | Measure-Object).Count   # warm-up, and the packet count
    $t = @{ read = @(); find = @(); tcpdump = @(); tshark = @() }
    for ($i = 0; $i -lt $Runs; $i++) {
        $t.read += Measure-Block { Read-PacketCapture -LiteralPath $Pcap | Out-Null }
        $t.find += Measure-Block { Read-PacketCapture -LiteralPath $Pcap | Find-SnatRemap | Out-Null }
        $t.tcpdump += Measure-Shell "tcpdump -nn -r '$Pcap' > /dev/null 2>&1"
        $t.tshark += Measure-Shell "tshark -n -r '$Pcap' > /dev/null 2>&1"
    }
    $m = @{}; foreach ($k in $t.Keys) { $m[$k] = Get-Median $t[$k] }
    [pscustomobject]@{
        File = $Label; IPPackets = $count
        ReadPacketCapture = $m.read; FindSnatRemap = $m.find; TcpdumpNn = $m.tcpdump; TsharkN = $m.tshark
        ReadVsTcpdump = $m.read / $m.tcpdump; ReadVsTshark = $m.read / $m.tshark
        FindVsTcpdump = $m.find / $m.tcpdump; FindVsTshark = $m.find / $m.tshark
    }
}

try {
    $rows = @()
    $synthetic = Join-Path $work 'generated.pcap'
    & /usr/bin/python3 (Join-Path $PSScriptRoot 'New-PacketCapture.py') $Packets $synthetic | Out-Null
    $rows += Measure-File "generated, $Packets packets" $synthetic
    Remove-Item $synthetic
    if ($MixFolder) {
        $mix = Join-Path $work 'mix.pcap'
        $distinct = & /usr/bin/python3 (Join-Path $PSScriptRoot 'New-CaptureMix.py') $MixFolder $Packets $mix
        $rows += Measure-File "real mix ($distinct), $Packets frames" $mix
        Remove-Item $mix
    }
    '| capture | IP packets | Read-PacketCapture \| Out-Null | \| Find-SnatRemap | tcpdump -nn -r | tshark -n -r | read vs tcpdump / tshark | find vs tcpdump / tshark |'
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
    foreach ($r in $rows) {
        '| {0} | {1:N0} | {2:N2} s | {3:N2} s | {4:N2} s | {5:N2} s | {6:N2}x / {7:N2}x | {8:N2}x / {9:N2}x |' -f $r.File, $r.IPPackets,
            $r.ReadPacketCapture, $r.FindSnatRemap, $r.TcpdumpNn, $r.TsharkN, $r.ReadVsTcpdump, $r.ReadVsTshark, $r.FindVsTcpdump, $r.FindVsTshark
    }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction Ignore
}
