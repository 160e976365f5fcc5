<#
.SYNOPSIS
    Benchmarks ConntrackTools against conntrack-tools on the same table, in the same run, and writes
    docs/performance.md and docs/images/performance.png. Run it with: dotnet pwsh ./build.ps1 -Task Bench

.DESCRIPTION
    For each size, a private namespace (ctt-bench-*) is filled through `conntrack -R` with a table that looks like
    a busy Kubernetes node (bench/New-ConntrackLoad.py). Then each piece of work is timed for our cmdlet (inside
    this warm pwsh, module imported, after untimed warm-ups until one compiles less than -SettledJitMs of code,
    see Invoke-WarmUp; the kernel-floor row has its own, longer measurement, see Compare-Floor) and for the
    reference tool (conntrack-tools, through `ip netns exec`, output to /dev/null), alternately, -Runs times;
    medians are compared as ratios. Absolute times drift between machines; the ratios measured in one run are
    what the targets are about.

    Global state touched and restored: net.netfilter.nf_conntrack_max (raised for the large table).
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [string] $Size = '100000,1000000',
    [int] $Runs = 5,
    # The full dump against the kernel floor differs by a few percent while one run varies by about five: more runs.
    [int] $FloorRuns = 15,
    # Warm-ups of our side (Invoke-WarmUp): rounds until one compiles less than -SettledJitMs of code, at most
    # -MaxWarmRounds.
    [int] $MaxWarmRounds = 20,
    [double] $SettledJitMs = 20,
    [string] $EventSize = '100000',
    [int] $CapturePackets = 1000000,
    [string] $DocsPath = (Join-Path $PSScriptRoot '../docs')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
Import-Module $ModulePath -Force
$sizes = @($Size -split ',' | ForEach-Object { [int]$_ })
$python = '/usr/bin/python3'
$work = Join-Path ([IO.Path]::GetTempPath()) "ctt-bench-$PID"
New-Item -ItemType Directory -Force $work | Out-Null
$results = [System.Collections.Generic.List[object]]::new()
$eventsTable = @()
$maxFile = '/proc/sys/net/netfilter/nf_conntrack_max'
$originalMax = Get-Content $maxFile
# The kernel's floor for a dump: a C reader that only receives and counts messages on one socket (bench/floor-dump.c),
# built here so it runs at native speed; Python adds about 25% and is no floor.
$floor = Join-Path $work 'floor-dump'
& cc -O2 -o $floor (Join-Path $PSScriptRoot 'floor-dump.c')
if ($LASTEXITCODE -ne 0) { throw 'cc could not build bench/floor-dump.c (install gcc)' }
# The same dump layer by layer (our receiving alone, pipelined, decoding) against that floor: bench/Layers.
$layers = Join-Path $work 'layers'
& dotnet build (Join-Path $PSScriptRoot 'Layers/Layers.csproj') -c Release -o $layers -v quiet -nologo | Out-Null
if ($LASTEXITCODE -ne 0) { throw 'dotnet build bench/Layers failed' }
$layerRows = [System.Collections.Generic.List[string]]::new()
$threadRows = [System.Collections.Generic.List[string]]::new()
# Runs of the floor row and of the layers (both compare against the floor, whose runs vary by about five percent).
$floorCount = [math]::Max($Runs, $FloorRuns)
$exe, $rest = (Get-Process -Id $PID).Path, @()
if ([IO.Path]::GetFileName($exe) -eq 'dotnet') { $rest = @(Join-Path $PSHOME 'pwsh.dll') }

function Write-Note([string] $Text) { Write-Host "[$(Get-Date -Format HH:mm:ss)] $Text" }

function Get-Median([double[]] $Values) {
    $s = @($Values | Sort-Object)
    if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
}

function Measure-Shell([string] $Command) {
    # Wall time of a shell command line, output discarded by the shell itself.
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & bash -c $Command
    if ($LASTEXITCODE -ne 0) { throw "'$Command' failed with exit code $LASTEXITCODE" }
    $sw.Elapsed.TotalSeconds
}

function Measure-Block([scriptblock] $Block) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & $Block
    $sw.Elapsed.TotalSeconds
}

$measured = @{}   # command -> run times, so a side measured for one row is reused by the next (same table, same run)

function Compare-Work {
    <#
        Times ours and the reference alternately, run by run, and records the medians and their ratio. A side already
        measured in this run for the same table (the same conntrack -L for Out-Null and Measure-Object; the same
        Get-Conntrack against conntrack -L and against the raw dump) is reused instead of measured again.
    #>
    param([int] $N, [string] $Work, [scriptblock] $Ours, [string] $Reference, [string] $ReferenceLabel, [double] $Target, [string] $Goal)
    $oursKey = "$N|$Ours"; $refKey = "$N|$Reference"
    # Only our side is warmed up (JIT); a native tool runs the same on its first run.
    $warm = if (-not $measured[$oursKey]) { Invoke-WarmUp { & $Ours | Out-Null } 1 }
    $o = $measured[$oursKey]; $r = $measured[$refKey]
    $newO = -not $o; $newR = -not $r
    if ($newO) { $o = [System.Collections.Generic.List[double]]::new() }
    if ($newR) { $r = [System.Collections.Generic.List[double]]::new() }
    for ($i = 0; $i -lt $Runs; $i++) {
        if ($newO) { $o.Add((Measure-Block $Ours)) }
        if ($newR) { $r.Add((Measure-Shell $Reference)) }
    }
    $measured[$oursKey] = $o; $measured[$refKey] = $r
    $mo = Get-Median $o; $mr = Get-Median $r
    $row = [pscustomobject]@{
        Size = $N; Work = $Work; Ours = $mo; Reference = $mr; ReferenceLabel = $ReferenceLabel
        Ratio = $mo / $mr; Target = $Target; Goal = $Goal; Met = ($mo / $mr) -le $Target
    }
    $results.Add($row)
    $warmed = if ($warm) { '; ours after {0} warm-up(s), the last compiled {1:N1} ms' -f $warm.Rounds, $warm.LastJitMs } else { '' }
    Write-Note ("{0,-55} ours {1,7:N3} s  ref {2,7:N3} s  ratio {3,5:N2} (target {4}){5}" -f "$Work @ $N", $mo, $mr,
        $row.Ratio, $Goal, $warmed)
}

function Invoke-WarmUp([scriptblock] $Round, [int] $AtLeast) {
    <#
        Runs $Round untimed until one run of it compiles less than $SettledJitMs ms of code (System.Runtime.JitInfo),
        at least $AtLeast times and at most $MaxWarmRounds: while a pwsh is young, the runtime's tiering compiles hot
        PowerShell and .NET methods again on a background thread, a third busy thread beside the two a dump keeps busy
        on two cores (a kernel-filtered dump of 1,000,000 entries after eight full dumps in a new pwsh, each followed
        by conntrack -L: 381, 227, 88 and 108 ms of compilation in its first four runs, 24 to 37 ms from the fifth).
        Returns the rounds and the last one's compilation time.
    #>
    $rounds = 0
    do {
        $jit = [BenchThreads]::JitMs()
        & $Round
        $rounds++; $jit = [BenchThreads]::JitMs() - $jit
    } while ($rounds -lt $MaxWarmRounds -and ($rounds -lt $AtLeast -or $jit -ge $SettledJitMs))
    [pscustomobject]@{ Rounds = $rounds; LastJitMs = $jit }
}

$floorRows = [System.Collections.Generic.List[string]]::new()

# PowerShell's own cost for a stream of objects, with no conntrack in it: a cmdlet that writes one object N times.
# Timed beside the floor (Compare-Floor), it is the least the pipeline thread of `Get-Conntrack | Out-Null` spends on
# PowerShell alone, before any entry is decoded.
Add-Type -ReferencedAssemblies ([psobject].Assembly.Location) -TypeDefinition @'
using System.Management.Automation;
[Cmdlet("Write", "BenchObject")]
public sealed class WriteBenchObjectCommand : PSCmdlet
{
    private static readonly object Item = new object();
    [Parameter(Mandatory = true)] public int Count { get; set; }
    protected override void ProcessRecord() { for (int i = 0; i < Count; i++) WriteObject(Item); }
}

// Where the time of a timed dump went: CPU time of the calling (pipeline) thread, of the dump's receiving thread (read
// by that thread as it ends, through the engine's bench hook NetlinkConnection.ReceiverEnding), and of the children
// (the floor's process, with the bash and ip netns exec that start it).
public static class BenchThreads
{
    public static double ReceiverRun, ReceiverWait;
    // /proc/thread-self/schedstat: time on a CPU, time runnable but waiting for one, timeslices (nanoseconds).
    public static double SelfRun() => Schedstat(0);
    public static double SelfWait() => Schedstat(1);
    public static void OnReceiverEnding() { ReceiverRun = SelfRun(); ReceiverWait = SelfWait(); }
    private static double Schedstat(int field)
    {
        string[] fields = System.IO.File.ReadAllText("/proc/thread-self/schedstat").Split(' ');
        return long.Parse(fields[field], System.Globalization.CultureInfo.InvariantCulture) / 1e9;
    }
    // Time the runtime has spent compiling methods, on every thread (tiering compiles hot ones again in the background).
    public static double JitMs() => System.Runtime.JitInfo.GetCompilationTime(false).TotalMilliseconds;
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, long[] usage);
    public static double ChildrenCpu()
    {
        // struct rusage begins with ru_utime and ru_stime (struct timeval: seconds, microseconds); 18 longs in all.
        var u = new long[18];
        if (GetRUsage(-1 /* RUSAGE_CHILDREN */, u) != 0) throw new System.InvalidOperationException("getrusage failed");
        return u[0] + u[1] / 1e6 + u[2] + u[3] / 1e6;
    }
}
'@ -PassThru | Select-Object -First 1 | ForEach-Object { Import-Module -Assembly $_.Assembly }
# The engine's hook for a bench to read its receiving thread's accounting (internal, null outside a bench).
[ConntrackTools.Commands.GetConntrackCommand].Assembly.GetType('ConntrackTools.Netlink.NetlinkConnection', $true).
    GetField('ReceiverEnding', [Reflection.BindingFlags]'NonPublic, Static').SetValue($null, [Action][BenchThreads]::OnReceiverEnding)

function Measure-Ours([scriptblock] $Block) {
    # Wall time of a dump of ours, the CPU time of its pipeline thread (this one) and of its receiving thread, the time
    # that thread was runnable but waited for a CPU, and the runtime's compilation time during the dump.
    [BenchThreads]::ReceiverRun = [double]::NaN; [BenchThreads]::ReceiverWait = [double]::NaN
    $before = [BenchThreads]::SelfRun(); $jit = [BenchThreads]::JitMs()
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & $Block
    [pscustomobject]@{
        Wall = $sw.Elapsed.TotalSeconds; Pipeline = [BenchThreads]::SelfRun() - $before; Receiver = [BenchThreads]::ReceiverRun
        ReceiverWait = [BenchThreads]::ReceiverWait; JitMs = [BenchThreads]::JitMs() - $jit
    }
}

function Measure-Floor([string] $Command) {
    # Wall time of the floor, and the CPU time of the processes it ran in.
    $before = [BenchThreads]::ChildrenCpu()
    $wall = Measure-Shell $Command
    [pscustomobject]@{ Wall = $wall; Cpu = [BenchThreads]::ChildrenCpu() - $before }
}

function Compare-Floor {
    <#
        The full dump against the kernel's floor (bench/floor-dump.c). The two differ by a few percent and a single
        run of either varies by about five, so this row has a measurement of its own: never another row's times, at
        least -FloorRuns runs, after warm-ups of both. The warm-up is a round of everything a timed run does (ours,
        PowerShell alone, the floor), repeated as Invoke-WarmUp does, at least 3 rounds (measured on the fourth
        machine: 34 to 112 ms of compilation in each of dumps 3 to 11 of a new pwsh, still about 150 ms a round in
        rounds 8 to 11, 20 ms in the 14th). The compilation time during each timed dump is reported. Each run times
        three things in a rotating order: ours, the floor, and the floor once more as a control. The control against
        the floor (same program, same minutes) shows how far two medians of the same work lie apart on this machine,
        the resolution of the ratio. Reported: the ratio of the medians (the row),
        the median and range of the run-by-run ratios, and the control's ratio. A fourth, after each of ours: PowerShell
        alone writing N objects into Out-Null (Write-BenchObject), what the pipeline thread spends before decoding.
    #>
    param([int] $N, [scriptblock] $Ours, [string] $Reference, [double] $Target)
    $alone = { Write-BenchObject -Count $N | Out-Null }
    $warm = Invoke-WarmUp { Measure-Ours $Ours | Out-Null; Measure-Block $alone | Out-Null; Measure-Floor $Reference | Out-Null } 3
    Write-Note ("floor comparison: {0} warm-up rounds, the last compiled {1:N1} ms of code" -f $warm.Rounds, $warm.LastJitMs)
    $o = [System.Collections.Generic.List[double]]::new(); $r = [System.Collections.Generic.List[double]]::new()
    $c = [System.Collections.Generic.List[double]]::new(); $p = [System.Collections.Generic.List[double]]::new()
    # CPU time, run by run: our pipeline and receiving threads against the floor's processes (each ratio of the same run).
    $pipe = [System.Collections.Generic.List[double]]::new(); $recv = [System.Collections.Generic.List[double]]::new()
    $cpu = [System.Collections.Generic.List[double]]::new()
    $wait = [System.Collections.Generic.List[double]]::new(); $jits = [System.Collections.Generic.List[double]]::new()
    function Add-Ours {
        $m = Measure-Ours $Ours
        $o.Add($m.Wall); $pipe.Add($m.Pipeline); $recv.Add($m.Receiver); $wait.Add($m.ReceiverWait); $jits.Add($m.JitMs)
    }
    function Add-Floor { $m = Measure-Floor $Reference; $r.Add($m.Wall); $cpu.Add($m.Cpu) }
    for ($i = 0; $i -lt $floorCount; $i++) {
        # The order rotates, so no side always follows the same other one.
        switch ($i % 3) {
            0 { Add-Ours; $p.Add((Measure-Block $alone)); Add-Floor; $c.Add((Measure-Shell $Reference)) }
            1 { Add-Floor; $c.Add((Measure-Shell $Reference)); Add-Ours; $p.Add((Measure-Block $alone)) }
            2 { $c.Add((Measure-Shell $Reference)); Add-Ours; $p.Add((Measure-Block $alone)); Add-Floor }
        }
    }
    $mo = Get-Median $o; $mr = Get-Median $r; $mc = Get-Median $c; $mp = Get-Median $p
    $pipeRatio = Get-Median @(for ($i = 0; $i -lt $floorCount; $i++) { $pipe[$i] / $cpu[$i] })
    $recvRatio = Get-Median @(for ($i = 0; $i -lt $floorCount; $i++) { $recv[$i] / $cpu[$i] })
    $pairs = @(@(for ($i = 0; $i -lt $floorCount; $i++) { $o[$i] / $r[$i] }) | Sort-Object)
    $results.Add([pscustomobject]@{
        Size = $N; Work = 'Get-Conntrack | Out-Null vs kernel floor'; Ours = $mo; Reference = $mr; ReferenceLabel = 'kernel floor (C, receive and count only)'
        Ratio = $mo / $mr; Target = $Target; Goal = "<= $($Target)x"; Met = ($mo / $mr) -le $Target
    })
    $floorRows.Add(('| {0:N0} | {1} | {2:N3} s | {3:N3} s | {4:N3}x | {5:N3}x | {6:N3}x to {7:N3}x | {8} | {9:N3}x | {10:N3} s ({11:N2}x the floor) | {12:N3} s | {13:N3} s ({14:N3}x) | {15:N3} s ({16:N3}x) | {17:N0} ms (at most {18:N0}) | {19} rounds; {20:N1} ms (at most {21:N1}) |' -f $N, $floorCount, $mo, $mr, ($mo / $mr),
        (Get-Median $pairs), $pairs[0], $pairs[-1], (@($pairs | Where-Object { $_ -le $Target }).Count), ($mc / $mr), $mp, ($mp / $mr),
        (Get-Median $cpu), (Get-Median $pipe), $pipeRatio, (Get-Median $recv), $recvRatio,
        (1000 * (Get-Median $wait)), (1000 * ($wait | Measure-Object -Maximum).Maximum), $warm.Rounds, (Get-Median $jits), ($jits | Measure-Object -Maximum).Maximum))
    Write-Note ("{0,-55} ours {1,7:N3} s  floor {2,7:N3} s  ratio {3,5:N3}, run by run median {4:N3} ({5:N3}..{6:N3}), control {7:N3}x, {8} runs; on a CPU against the floor's: pipeline thread {9:N3}x, receiving thread {10:N3}x" -f "Get-Conntrack | Out-Null vs kernel floor @ $N", $mo, $mr, ($mo / $mr), (Get-Median $pairs), $pairs[0], $pairs[-1], ($mc / $mr), $floorCount, $pipeRatio, $recvRatio)
}

function Get-PeakRss([string] $Script) {
    # Peak RSS (KiB) of a fresh pwsh running the script, from GNU time.
    $out = & /usr/bin/time -f 'RSS %M' $exe @rest -NoProfile -NonInteractive -Command $Script 2>&1
    [double](($out | Where-Object { "$_" -match '^RSS (\d+)' } | Select-Object -Last 1) -replace '^RSS ', '')
}

try {
    foreach ($n in $sizes) {
        $ns = "ctt-bench-$n"
        & ip netns del $ns 2>$null
        Write-Note "Filling $ns with $n entries"
        $need = [int]($n * 1.2 + 10000)
        # Set-Content cannot write procfs files; WriteAllText can.
        if ($need -gt [int](Get-Content $maxFile)) { [IO.File]::WriteAllText($maxFile, "$need") }
        & ip netns add $ns
        & ip -n $ns link set lo up
        $data = Join-Path $work "entries-$n.txt"
        & $python (Join-Path $PSScriptRoot 'New-ConntrackLoad.py') $n > $data
        & ip netns exec $ns conntrack -R $data 2>$null | Out-Null
        $count = [int](& ip netns exec $ns conntrack -C)
        Write-Note "$ns holds $count entries"
        $x = "ip netns exec $ns"

        Compare-Work $n 'Get-Conntrack | Out-Null' { Get-Conntrack -NetworkNamespace $ns | Out-Null } "$x conntrack -L > /dev/null 2>&1" 'conntrack -L' 1.0 '<= 1.0x'
        Compare-Work $n 'Get-Conntrack | Select-Object -First 5' { Get-Conntrack -NetworkNamespace $ns | Select-Object -First 5 | Out-Null } "$x conntrack -L 2>/dev/null | head -5 > /dev/null" 'conntrack -L | head -5' 1.0 'returns at once (<= 1.0x)'
        Compare-Work $n 'Get-Conntrack | Measure-Object' { Get-Conntrack -NetworkNamespace $ns | Measure-Object | Out-Null } "$x conntrack -L > /dev/null 2>&1" 'conntrack -L' 1.3 '<= 1.3x'
        Compare-Floor $n { Get-Conntrack -NetworkNamespace $ns | Out-Null } "$x $floor > /dev/null" 1.05
        Compare-Work $n 'Get-Conntrack -Protocol tcp -DestinationPort 8899' { Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 | Out-Null } "$x conntrack -L -p tcp --dport 8899 > /dev/null 2>&1" 'conntrack -L -p tcp --dport 8899' 0.2 '>= 5x faster'
        Compare-Work $n 'Get-Conntrack -SourceAddress 10.244.0.0/16' { Get-Conntrack -NetworkNamespace $ns -SourceAddress 10.244.0.0/16 | Out-Null } "$x conntrack -L -s 10.244.0.0/16 > /dev/null 2>&1" 'conntrack -L -s 10.244.0.0/16' 0.2 '>= 5x faster'
        Compare-Work $n 'Get-Conntrack -Mark 7' { Get-Conntrack -NetworkNamespace $ns -Mark 7 | Out-Null } "$x conntrack -L --mark 7 > /dev/null 2>&1" 'conntrack -L --mark 7' 1.0 '<= 1.0x'

        if ($n -eq ($sizes | Measure-Object -Maximum).Maximum) {
            Write-Note "Layers: the dump received, pipelined and decoded without PowerShell, against the floor ($floorCount runs)"
            $rows = @(& ip netns exec $ns dotnet (Join-Path $layers 'Layers.dll') $floorCount $floor)
            if ($LASTEXITCODE -ne 0) { throw "bench/Layers failed: $rows" }
            # The layers' rows, an empty line, then where the receiving thread's time went.
            $rowsOf = $layerRows
            foreach ($l in $rows) {
                if (-not $l) { $rowsOf = $threadRows; continue }
                $rowsOf.Add($l); Write-Note $l
            }
            Write-Note 'Memory: peak RSS of a fresh pwsh piping the whole table to Measure-Object, over one that only imports the module'
            $idle = Get-Median @(1..2 | ForEach-Object { Get-PeakRss "Import-Module '$ModulePath'" })
            $busy = Get-Median @(1..2 | ForEach-Object { Get-PeakRss "Import-Module '$ModulePath'; Get-Conntrack -NetworkNamespace $ns | Measure-Object | Out-Null" })
            $results.Add([pscustomobject]@{
                Size = $n; Work = 'peak RSS increase, Get-Conntrack | Measure-Object (MB)'; Ours = ($busy - $idle) / 1024; Reference = 100
                ReferenceLabel = 'target 100 MB'; Ratio = (($busy - $idle) / 1024) / 100; Target = 1.0; Goal = '< 100 MB'; Met = (($busy - $idle) / 1024) -lt 100
            })
            Write-Note ("peak RSS: idle {0:N0} MB, dumping {1:N0} MB, increase {2:N0} MB" -f ($idle / 1024), ($busy / 1024), (($busy - $idle) / 1024))
        }
        & ip netns exec $ns conntrack -F 2>$null | Out-Null
        & ip netns del $ns
    }

    Write-Note "Events: Destroy events during a flush of $EventSize entries (bench/Watch-Events.ps1)"
    $eventsReport = Join-Path $work 'watch-events.md'
    & (Join-Path $PSScriptRoot 'Watch-Events.ps1') -Size @($EventSize -split ',' | ForEach-Object { [int]$_ }) -ModulePath $ModulePath -OutFile $eventsReport | Out-Null
    $eventRows = Get-Content ([IO.Path]::ChangeExtension($eventsReport, '.json')) -Raw | ConvertFrom-Json
    $eventsTable = @(Get-Content $eventsReport | Where-Object { $_ -match '^\|' })
    foreach ($n in ($eventRows.Expected | Sort-Object -Unique)) {
        $ours = $eventRows | Where-Object { $_.Expected -eq $n -and $_.Listener -like 'Watch-Conntrack*default*' } | Select-Object -First 1
        $ref = $eventRows | Where-Object { $_.Expected -eq $n -and $_.Listener -like 'conntrack -E*' } | Select-Object -First 1
        $results.Add([pscustomobject]@{
            Size = $n; Work = 'Destroy events lost during a flush (count)'; Ours = $ours.Lost; Reference = $ref.Lost; ReferenceLabel = 'conntrack -E -e DESTROY'
            Ratio = $(if ($ref.Lost) { $ours.Lost / $ref.Lost } else { 0 }); Target = 0.0; Goal = '0 lost'; Met = $ours.Lost -eq 0
        })
        Write-Note ("events @ {0}: Watch-Conntrack lost {1} ({2}/s), conntrack -E lost {3}" -f $n, $ours.Lost, $ours.Rate, $ref.Lost)
    }

    Write-Note "Capture: Read-PacketCapture and | Find-SnatRemap over $CapturePackets packets vs tcpdump -nn -r and tshark -n -r"
    $pcap = Join-Path $work 'capture.pcap'
    & $python (Join-Path $PSScriptRoot 'New-PacketCapture.py') $CapturePackets $pcap | Out-Null
    # tcpdump needs ~40 s and tshark ~20 s per million packets here: three runs.
    $saved = $Runs; $Runs = [math]::Min($Runs, 3)
    Compare-Work $CapturePackets 'Read-PacketCapture | Out-Null (packets)' { Read-PacketCapture -Path $pcap | Out-Null } "tcpdump -nn -r $pcap > /dev/null 2>&1" 'tcpdump -nn -r file' 2.0 '<= 2.0x'
    Compare-Work $CapturePackets 'Read-PacketCapture | Out-Null (packets)' { Read-PacketCapture -Path $pcap | Out-Null } "tshark -n -r $pcap > /dev/null 2>&1" 'tshark -n -r file' 2.0 '<= 2.0x'
    Compare-Work $CapturePackets 'Read-PacketCapture | Find-SnatRemap (packets)' { Read-PacketCapture -Path $pcap | Find-SnatRemap | Out-Null } "tcpdump -nn -r $pcap > /dev/null 2>&1" 'tcpdump -nn -r file' 2.0 '<= 2.0x'
    Compare-Work $CapturePackets 'Read-PacketCapture | Find-SnatRemap (packets)' { Read-PacketCapture -Path $pcap | Find-SnatRemap | Out-Null } "tshark -n -r $pcap > /dev/null 2>&1" 'tshark -n -r file' 2.0 '<= 2.0x'
    if ($env:CTT_CAPTURE_CORPUS) {
        # A replay of real captures (for example tcpdump's tests/), so the figure does not rest on one synthetic pattern.
        $mix = Join-Path $work 'mix.pcap'
        & $python (Join-Path $PSScriptRoot 'New-CaptureMix.py') ($env:CTT_CAPTURE_CORPUS -split ';')[0] $CapturePackets $mix | Out-Null
        Compare-Work $CapturePackets 'real capture mix: Read-PacketCapture | Find-SnatRemap (frames)' { Read-PacketCapture -Path $mix | Find-SnatRemap | Out-Null } "tcpdump -nn -r $mix > /dev/null 2>&1" 'tcpdump -nn -r file' 2.0 '<= 2.0x'
        Compare-Work $CapturePackets 'real capture mix: Read-PacketCapture | Find-SnatRemap (frames)' { Read-PacketCapture -Path $mix | Find-SnatRemap | Out-Null } "tshark -n -r $mix > /dev/null 2>&1" 'tshark -n -r file' 2.0 '<= 2.0x'
        Remove-Item $mix -ErrorAction Ignore
    }
    $Runs = $saved
    $idle = Get-PeakRss "Import-Module '$ModulePath'"
    $busy = Get-PeakRss "Import-Module '$ModulePath'; Read-PacketCapture -Path '$pcap' | Find-SnatRemap | Out-Null"
    Write-Note ("capture peak RSS: idle {0:N0} MB, reading {1:N0} MB" -f ($idle / 1024), ($busy / 1024))
    $results.Add([pscustomobject]@{
        Size = $CapturePackets; Work = 'peak RSS increase, Read-PacketCapture | Find-SnatRemap (MB)'; Ours = ($busy - $idle) / 1024; Reference = 100
        ReferenceLabel = 'target: flat (100 MB)'; Ratio = (($busy - $idle) / 1024) / 100; Target = 1.0; Goal = 'flat (< 100 MB)'; Met = (($busy - $idle) / 1024) -lt 100
    })
    Remove-Item $pcap -ErrorAction Ignore

    Write-Note 'Import-Module time over a bare pwsh start'
    $bare = [System.Collections.Generic.List[double]]::new(); $with = [System.Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Runs; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew(); & $exe @rest -NoProfile -NonInteractive -Command '0' | Out-Null; $bare.Add($sw.Elapsed.TotalSeconds)
        $sw.Restart(); & $exe @rest -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'" | Out-Null; $with.Add($sw.Elapsed.TotalSeconds)
    }
    $importMs = ((Get-Median $with) - (Get-Median $bare)) * 1000
    $results.Add([pscustomobject]@{ Size = 0; Work = 'Import-Module over bare pwsh start (ms)'; Ours = $importMs; Reference = 300; ReferenceLabel = 'target 300 ms'; Ratio = $importMs / 300; Target = 1.0; Goal = '< 300 ms'; Met = $importMs -lt 300 })
    Write-Note ("Import-Module: {0:N0} ms" -f $importMs)

    Write-Note 'Test-VipMigration (sandbox, 8 connections)'
    $vip = Get-Median @(1..3 | ForEach-Object { (Test-VipMigration).Duration.TotalSeconds })
    $results.Add([pscustomobject]@{ Size = 0; Work = 'Test-VipMigration, sandbox, 8 connections (s)'; Ours = $vip; Reference = 10; ReferenceLabel = 'target 10 s'; Ratio = $vip / 10; Target = 1.0; Goal = '< 10 s'; Met = $vip -lt 10 })
    Write-Note ("Test-VipMigration: {0:N2} s" -f $vip)
}
finally {
    foreach ($n in $sizes) { if (Test-Path "/var/run/netns/ctt-bench-$n") { & ip netns exec "ctt-bench-$n" conntrack -F 2>$null | Out-Null; & ip netns del "ctt-bench-$n" } }
    [IO.File]::WriteAllText($maxFile, "$originalMax")
    Remove-Item $work -Recurse -Force -ErrorAction Ignore
}

Write-Note 'Decoder micro-benchmarks (BenchmarkDotNet, short job)'
$bdnDir = Join-Path $work 'bdn'
& dotnet run --project (Join-Path $PSScriptRoot 'Decoders/Decoders.csproj') -c Release -- --job short --filter '*' --exporters github --artifacts $bdnDir | Out-Null
$bdnReport = Get-ChildItem (Join-Path $bdnDir 'results') -Filter '*-report-github.md' -ErrorAction Ignore | Select-Object -First 1

# ---- report ----
$results | ConvertTo-Json -Depth 3 | Set-Content (Join-Path $DocsPath 'performance.json')
$images = Join-Path $DocsPath 'images'
New-Item -ItemType Directory -Force $images | Out-Null
$chartRows = $results | ForEach-Object { [pscustomobject]@{ Label = $(if ($_.Size) { "$($_.Work) @ $('{0:N0}' -f $_.Size)" } else { $_.Work }); Ratio = [math]::Round($_.Ratio, 3); Target = $_.Target } }
$chartJson = Join-Path $work 'chart.json'
New-Item -ItemType Directory -Force $work | Out-Null
$chartRows | ConvertTo-Json | Set-Content $chartJson
& dotnet run --project (Join-Path $PSScriptRoot 'Chart/Chart.csproj') -c Release -- $chartJson (Join-Path $images 'performance.png')
$cpu = ((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', '')
$mem = '{0:N1} GiB' -f (([double]((Get-Content /proc/meminfo | Select-Object -First 1) -replace '\D', '')) / 1MB)
$conntrackVersion = (& conntrack --version 2>&1 | Select-Object -First 1)
$lines = [System.Collections.Generic.List[string]]::new()
$lines.Add('# Performance')
$lines.Add('')
$lines.Add("Measured $(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC by ``dotnet pwsh ./build.ps1 -Task Bench`` (sizes $($sizes -join ', '), $Runs runs per figure, medians).")
$lines.Add('Ratios compare our median with the reference tool''s median measured alternately in the same run; absolute times drift between machines, ratios much less.')
$lines.Add('')
$lines.Add('| machine | |')
$lines.Add('| --- | --- |')
$lines.Add("| kernel | $(Get-Content /proc/sys/kernel/osrelease) |")
$lines.Add("| CPU | $cpu, $([Environment]::ProcessorCount) cores |")
$lines.Add("| memory | $mem |")
$lines.Add("| PowerShell | $($PSVersionTable.PSVersion) |")
$lines.Add("| reference | $conntrackVersion |")
$lines.Add('')
$lines.Add('![ratios](images/performance.png)')
$lines.Add('')
$lines.Add('| work | entries | ours | reference | reference tool | ratio | target | met |')
$lines.Add('| --- | ---: | ---: | ---: | --- | ---: | --- | --- |')
foreach ($r in $results) {
    # Rows whose work names a unit (MB, ms, s, count) are not timings; pipes are escaped for the markdown table.
    $unit = if ($r.Work -match '\((MB|ms|s|count)\)$') { '' } else { ' s' }
    $format = if ($r.Work -match '\(count\)$') { '{0:N0}' } else { '{0:N3}' }
    $cells = @(
        ($r.Work -replace '\|', '\|'), $(if ($r.Size) { '{0:N0}' -f $r.Size } else { '' }),
        (($format -f $r.Ours) + $unit), (($format -f $r.Reference) + $unit), ($r.ReferenceLabel -replace '\|', '\|'),
        ('{0:N2}x' -f $r.Ratio), $r.Goal, $(if ($r.Met) { 'yes' } else { '**no**' })
    )
    $lines.Add('| ' + ($cells -join ' | ') + ' |')
}
if ($eventsTable) {
    $lines.Add('')
    $lines.Add('## Events during a flush')
    $lines.Add('')
    $lines.Add('`bench/Watch-Events.ps1`: a namespace with net.netfilter.nf_conntrack_events=1 is filled, one listener subscribes to Destroy events, the table is flushed with `conntrack -F`. Watch-Conntrack collects into a variable (a slow consumer would measure itself: the bounded queue makes the reader wait and the kernel buffer holds the rest).')
    $lines.Add('')
    foreach ($l in $eventsTable) { $lines.Add($l) }
}
if ($bdnReport) {
    $lines.Add('')
    $lines.Add('## Decoder micro-benchmarks')
    $lines.Add('')
    $lines.Add('BenchmarkDotNet over the golden dump recorded from the kernel (tests/ConntrackTools.Tests/Fixtures/dump-datagram.hex); every figure is per entry (`dotnet run --project bench/Decoders -c Release`).')
    $lines.Add('')
    foreach ($l in Get-Content $bdnReport.FullName) { if ($l -match '^\|') { $lines.Add($l) } }
}
# A table of measured rows, under an optional heading and a paragraph saying what was measured.
function Add-Table([string] $Heading, [string] $Intro, [string] $Header, [string] $Rule, $Rows) {
    $lines.Add('')
    if ($Heading) { $lines.Add("## $Heading"); $lines.Add('') }
    $lines.Add($Intro)
    $lines.Add('')
    $lines.Add($Header)
    $lines.Add($Rule)
    foreach ($l in $Rows) { $lines.Add($l) }
}
if ($floorRows.Count) {
    Add-Table 'The full dump against the kernel floor' "``Get-Conntrack | Out-Null`` and ``bench/floor-dump.c`` alternating run by run (its own measurement, after untimed warm-up rounds of everything a run times, repeated until one compiles less than $SettledJitMs ms of code; see ``Compare-Floor`` in bench/Invoke-Benchmark.ps1). The row above is the ratio of the medians; here also the run-by-run ratios, and a control: the floor timed a second time in the same runs, against the first (the same program, so any distance from 1.000x is the machine's noise: the resolution of the ratio). The column after the control times PowerShell alone in the same runs: a cmdlet writing one object as many times into ``Out-Null`` (``Write-BenchObject``, defined in the bench), the pipeline thread's share before anything is decoded. Then three columns of CPU time, medians: the floor's processes (with the bash and ``ip netns exec`` that start it), and the two threads of our dump (the pipeline thread, which decodes and writes, and the receiving thread, whose recv calls do the kernel's work), each also as the median of its run-by-run ratio to the floor's. A dump cannot be faster than the busier of the two. Then the time our receiving thread was runnable but waited for a CPU (schedstat: a third busy thread on two cores), the warm-up rounds, and the runtime's compilation time during each dump of ours (``System.Runtime.JitInfo``, all threads)." `
        '| entries | runs | ours (median) | floor (median) | ratio of medians | run-by-run ratio, median | range | runs at or under 1.05x | control: floor against floor | PowerShell alone: as many objects into Out-Null (median) | floor on a CPU | our pipeline thread on a CPU | our receiving thread on a CPU | our receiving thread runnable, waiting for a CPU (median) | warm-up; compilation during each dump of ours (median) |' `
        '| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |' $floorRows
}
if ($layerRows.Count) {
    Add-Table 'The dump layer by layer against the floor' '`bench/Layers` (a .NET program over the module''s engine, no PowerShell) times, in the same runs and in a rotating order: the C floor; the floor again (control); our Netlink layer receiving and counting on one thread (`NetlinkConnection.Dump`); the same pipelined, on a receiving thread of its own (`DumpPipelined`, what Get-Conntrack uses); and receiving with decoding into entries (`ConntrackClient.Dump`). What is left between the last row and `Get-Conntrack | Out-Null` above is PowerShell''s own per-object cost.' `
        '| layer | entries | runs | median | against the floor | range |' '| --- | ---: | ---: | ---: | ---: | --- |' $layerRows
    if ($threadRows.Count) {
        Add-Table '' 'Where the time went, means over the same runs: the floor''s whole process on a CPU (its CPU time), against the receiving thread of each pipelined layer, from its own accounting as it ends (`/proc/thread-self/schedstat` and `status`, read through `NetlinkConnection.ReceiverEnding`): on a CPU, runnable but waiting for one, and the rest of the dump: the thread asleep (in the hand-off, or back from recv into a garbage collection), the time the hypervisor takes from the CPU (steal, which the scheduler charges to no thread with CONFIG_PARAVIRT_TIME_ACCOUNTING), and the little outside the thread (the socket, the thread''s start, the last datagram''s handling). A voluntary context switch is a sleep; an involuntary one a preemption.' `
            '| layer | runs | dump (mean) | on a CPU | runnable, waiting | the rest | context switches, voluntary / involuntary |' `
            '| --- | ---: | ---: | ---: | ---: | ---: | ---: |' $threadRows
    }
}
$notes = Join-Path $PSScriptRoot 'performance-notes.md'
if (Test-Path $notes) { $lines.Add(''); foreach ($l in Get-Content $notes) { $lines.Add($l) } }
Remove-Item $work -Recurse -Force -ErrorAction Ignore
Set-Content (Join-Path $DocsPath 'performance.md') $lines
Write-Note "Wrote $(Join-Path $DocsPath 'performance.md')"
