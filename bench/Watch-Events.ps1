#Requires -Version 7.4
<#
.SYNOPSIS
    Destroy events during a flush: Watch-Conntrack side by side with 'conntrack -E'.
.DESCRIPTION
    For each size N, in a private namespace (bench-watch-*, with net.netfilter.nf_conntrack_events=1 so every
    entry reports its Destroy): load N entries with 'conntrack -R', start one listener, flush the table with
    'conntrack -F', and count what the listener received. Listeners, one run each per size:

      conntrack -E       conntrack -E -e DESTROY -o timestamp, default receive buffer (what people run)
      Watch-Conntrack    $e = Watch-Conntrack -EventType Destroy -Count N -LostEventVariable lost, in a child pwsh,
                         default -ReceiveBufferSize. The events are collected in a variable: a slow consumer
                         (Measure-Object -Property costs tens of microseconds an event) would measure itself, and the
                         bounded queue would make the reader wait for it, with the kernel's buffer absorbing the rest
      Watch-Conntrack, small buffer
                         the same with -ReceiveBufferSize 212992 (the usual net.core.rmem_default, what conntrack -E
                         gets): it loses events too, and shows that the loss it reports is the real number

    Reported per listener: received, lost, what the listener itself reported about the loss (ENOBUFS warnings
    of conntrack -E; the -LostEventVariable total of Watch-Conntrack), the flush's wall time, the span from
    the first to the last event received, and events per second over that span.

    Needs root, iproute2, conntrack, and the built module (build.ps1 -Task Build). Touches no global setting.
.EXAMPLE
    dotnet pwsh bench/Watch-Events.ps1 -Size 100000
#>
[CmdletBinding()]
param(
    [int[]] $Size = @(100000),
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ConntrackTools/ConntrackTools.psd1'),
    [string] $OutFile = (Join-Path $PSScriptRoot 'results/watch-events.md')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

if ((& id -u) -ne '0') { throw 'Run as root: the benchmark creates a network namespace and listens to conntrack events.' }
foreach ($tool in 'ip', 'conntrack') { if (-not (Get-Command $tool -ErrorAction Ignore)) { throw "$tool is missing (apt-get install iproute2 conntrack)." } }
$ModulePath = (Resolve-Path $ModulePath).Path
$scratch = Join-Path ([IO.Path]::GetTempPath()) ("watch-events-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $scratch | Out-Null

function Invoke-Native {
    $file, $rest = $args
    $out = & $file @rest 2>&1
    if ($LASTEXITCODE -ne 0) { throw "'$file $($rest -join ' ')' failed: $($out -join ' ')" }
}

function Wait-Subscriber([string] $Namespace) {
    # A listener is ready when its socket has joined a ctnetlink group (/proc/net/netlink inside the namespace).
    $deadline = [datetime]::UtcNow.AddSeconds(60)
    while ([datetime]::UtcNow -lt $deadline) {
        $joined = & ip netns exec $Namespace cat /proc/net/netlink | Select-Object -Skip 1 |
            Where-Object { $f = -split $_; $f[1] -eq '12' -and $f[3] -ne '00000000' }
        if ($joined) { return }
        Start-Sleep -Milliseconds 50
    }
    throw 'The listener did not subscribe within 60 s.'
}

function New-EntryFile([int] $N) {
    # Distinct TCP entries, ESTABLISHED and assured, long timeouts: nothing expires during the run.
    $path = Join-Path $scratch "entries-$N.txt"
    $lines = foreach ($i in 0..($N - 1)) {
        '-I -p tcp -s 10.{0}.{1}.{2} -d 10.96.0.{3} --sport {4} --dport 443 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 86400' -f `
            (100 + ($i -shr 16)), (($i -shr 8) -band 255), ($i -band 255), (1 + $i % 200), (1024 + $i % 60000)
    }
    Set-Content -Path $path -Value $lines
    $path
}

function Reset-Table([string] $Namespace, [string] $EntryFile, [int] $N) {
    Invoke-Native ip netns exec $Namespace conntrack -F
    Invoke-Native ip netns exec $Namespace conntrack -R $EntryFile
    $count = [int](& ip netns exec $Namespace conntrack -C)
    if ($count -ne $N) { throw "The table holds $count entries, expected $N." }
}

function Measure-Flush([string] $Namespace) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Invoke-Native ip netns exec $Namespace conntrack -F
    $sw.Elapsed.TotalSeconds
}

function Test-ConntrackE([string] $Namespace, [int] $N) {
    $out = Join-Path $scratch 'conntrack-E.out'
    $err = Join-Path $scratch 'conntrack-E.err'
    $p = Start-Process ip -ArgumentList 'netns', 'exec', $Namespace, 'conntrack', '-E', '-e', 'DESTROY', '-o', 'timestamp' `
        -RedirectStandardOutput $out -RedirectStandardError $err -PassThru
    try {
        Wait-Subscriber $Namespace
        $flush = Measure-Flush $Namespace
        # Drained when the output has stopped growing for a second and a half.
        $last = -1; $stable = 0
        while ($stable -lt 3) {
            Start-Sleep -Milliseconds 500
            $len = (Get-Item $out).Length
            if ($len -eq $last) { $stable++ } else { $stable = 0; $last = $len }
        }
    }
    finally {
        if (-not $p.HasExited) { $p.Kill($true) }   # the process started above, by its handle
        $p.WaitForExit()
    }
    $lines = @(Get-Content $out | Where-Object { $_ -match '\[DESTROY\]' })
    $stamp = { param($l) if ($l -match '^\[(\d+\.\d+)') { [double]$Matches[1] } }
    $span = if ($lines.Count -gt 1) { (& $stamp $lines[-1]) - (& $stamp $lines[0]) } else { 0 }
    $enobufs = @(Get-Content $err | Where-Object { $_ -match 'ENOBUFS' }).Count
    [pscustomobject]@{
        Listener = 'conntrack -E -e DESTROY (default buffer)'; Expected = $N; Received = $lines.Count; Lost = $N - $lines.Count
        Reported = "$enobufs ENOBUFS warnings, no count"; FlushSeconds = $flush; SpanSeconds = $span
    }
}

function Test-WatchConntrack([string] $Namespace, [int] $N, [int] $ReceiveBufferSize = 0) {
    $result = Join-Path $scratch 'watch.json'
    $script = @"
Import-Module '$ModulePath'
`$buffer = if ($ReceiveBufferSize) { @{ ReceiveBufferSize = $ReceiveBufferSize } } else { @{} }
`$e = @(Watch-Conntrack -NetworkNamespace '$Namespace' -EventType Destroy -Count $N -Duration 10 -LostEventVariable lost @buffer -WarningAction SilentlyContinue)
@{ Received = `$e.Count; Lost = `$lost; Span = if (`$e.Count) { (`$e[-1].TimeReceived - `$e[0].TimeReceived).TotalSeconds } else { 0 } } |
    ConvertTo-Json | Set-Content '$result'
"@
    $p = Start-Process dotnet -ArgumentList 'pwsh', '-NoProfile', '-NonInteractive', '-Command', $script -PassThru `
        -RedirectStandardError (Join-Path $scratch 'watch.err') -WorkingDirectory (Join-Path $PSScriptRoot '..')
    try {
        Wait-Subscriber $Namespace
        $flush = Measure-Flush $Namespace
        if (-not $p.WaitForExit(180000)) { throw 'Watch-Conntrack did not finish within 180 s.' }
    }
    finally {
        if (-not $p.HasExited) { $p.Kill($true) }
    }
    $r = Get-Content $result -Raw | ConvertFrom-Json
    [pscustomobject]@{
        Listener = "Watch-Conntrack -EventType Destroy ($(if ($ReceiveBufferSize) { "-ReceiveBufferSize $ReceiveBufferSize" } else { 'default -ReceiveBufferSize' }))"
        Expected = $N; Received = [int]$r.Received
        Lost = $N - [int]$r.Received; Reported = "-LostEventVariable: $($r.Lost)"; FlushSeconds = $flush; SpanSeconds = [double]$r.Span
    }
}

$rows = [System.Collections.Generic.List[object]]::new()
$ns = 'bench-watch-' + [guid]::NewGuid().ToString('N').Substring(0, 6)
try {
    Invoke-Native ip netns add $ns
    Invoke-Native ip -n $ns link set lo up
    Invoke-Native ip netns exec $ns sysctl -qw net.netfilter.nf_conntrack_events=1
    foreach ($n in $Size) {
        Write-Host "N = $n"
        $file = New-EntryFile $n
        foreach ($listener in { Test-ConntrackE $ns $n }, { Test-WatchConntrack $ns $n }, { Test-WatchConntrack $ns $n 212992 }) {
            Reset-Table $ns $file $n
            $row = & $listener
            $row | Add-Member Rate ([int]$(if ($row.SpanSeconds -gt 0) { $row.Received / $row.SpanSeconds } else { 0 }))
            $rows.Add($row)
            Write-Host ("  {0}: {1}/{2} received, {3} lost" -f $row.Listener, $row.Received, $n, $row.Lost)
        }
    }
}
finally {
    & ip netns exec $ns conntrack -F 2>$null | Out-Null
    & ip netns del $ns 2>$null
    Remove-Item $scratch -Recurse -Force -ErrorAction Ignore
}

$report = @(
    "# Destroy events during a flush ($(Get-Date -Format 'yyyy-MM-dd HH:mm'), Linux $(uname -r), $(nproc) CPUs)"
    ''
    '| listener | expected | received | lost | loss reported by the listener | flush wall s | event span s | events/s |'
    '|---|---|---|---|---|---|---|---|'
    $rows | ForEach-Object { '| {0} | {1} | {2} | {3} | {4} | {5:0.000} | {6:0.000} | {7} |' -f $_.Listener, $_.Expected, $_.Received, $_.Lost, $_.Reported, $_.FlushSeconds, $_.SpanSeconds, $_.Rate }
)
New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
$report | Set-Content $OutFile
$rows | ConvertTo-Json | Set-Content ([IO.Path]::ChangeExtension($OutFile, '.json'))   # for bench/Invoke-Benchmark.ps1
$report
