#Requires -Version 7.4
<#
.SYNOPSIS
    Soak: Watch-Conntrack and Watch-AddressChange -IncludeConntrackImpact for minutes under heavy churn, sampling
    each watcher's memory, descriptors and threads.
.DESCRIPTION
    In a private namespace (ctt-soak-*, nf_conntrack_events=1): two watchers, each in a pwsh process of its own,
        Watch-Conntrack -Duration D -LostEventVariable lost | Measure-Object
        Watch-AddressChange -IncludeConntrackImpact -Duration D | Measure-Object
    while a churn loop made with conntrack itself runs: 'conntrack -R' of 2,000 new entries, then 'conntrack -F',
    again and again (thousands of entries created and destroyed per second), and every 2 s an address added to and
    deleted from a veth device (each removal makes the impact watcher re-check the table). Every -SampleSeconds the
    watchers' VmRSS, Threads (/proc/PID/status) and open descriptors (/proc/PID/fd) are recorded.

    Checked at the end: Watch-Conntrack received exactly one New and one Destroy event per entry the churn made (so
    nothing was lost), its -LostEventVariable is 0, and Watch-AddressChange saw every address change without a loss
    warning. The figures go to -OutFile as markdown with a text chart of RSS; docs/performance.md quotes them.

    Needs root, iproute2 and conntrack, and the built module. Removes its namespace and processes, also on failure.
.EXAMPLE
    dotnet pwsh bench/Soak.ps1 -Minutes 10
#>
[CmdletBinding()]
param(
    [double] $Minutes = 10,
    [int] $SampleSeconds = 30,
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ConntrackTools/ConntrackTools.psd1'),
    [string] $OutFile = (Join-Path $PSScriptRoot 'results/soak.md')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

if ((& id -u) -ne '0') { throw 'Run as root: the soak creates a network namespace and listens to conntrack events.' }
foreach ($tool in 'ip', 'conntrack') { if (-not (Get-Command $tool -ErrorAction Ignore)) { throw "$tool is missing (apt-get install iproute2 conntrack)." } }
$ModulePath = (Resolve-Path $ModulePath).Path
$scratch = Join-Path ([IO.Path]::GetTempPath()) ("soak-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $scratch | Out-Null
$ns = 'ctt-soak-' + [guid]::NewGuid().ToString('N').Substring(0, 6)
$duration = [timespan]::FromMinutes($Minutes)

function Invoke-Native {
    $file, $rest = $args
    $out = & $file @rest 2>&1
    if ($LASTEXITCODE -ne 0) { throw "'$file $($rest -join ' ')' failed: $($out -join ' ')" }
    $out
}

function Start-Watcher([string] $Name, [string] $Body) {
    # The pwsh that runs this script, started directly (not through the dotnet tool shim), so the PID is the watcher's.
    $script = Join-Path $scratch "$Name.ps1"
    Set-Content -Path $script -Value "Import-Module '$ModulePath'; `$ErrorActionPreference = 'Stop'`n$Body"
    $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
    $self = [Environment]::GetCommandLineArgs()[0]
    if ($self -like '*.dll') { $psi.ArgumentList.Add($self) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-File', $script) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true
    $p = [Diagnostics.Process]::Start($psi)
    $null = $p.StandardError.ReadToEndAsync()
    $p
}

function Get-Usage([Diagnostics.Process] $Process) {
    $status = Get-Content "/proc/$($Process.Id)/status"
    [pscustomobject]@{
        RssMiB  = [math]::Round([double](($status -match '^VmRSS:')[0] -replace '\D', '') / 1024, 1)
        Threads = [int](($status -match '^Threads:')[0] -replace '\D', '')
        Fds     = @(Get-ChildItem "/proc/$($Process.Id)/fd").Count
    }
}

function Wait-Subscribed([string] $Namespace, [int] $Sockets) {
    # Ready when the watchers' sockets have joined ctnetlink groups (/proc/net/netlink inside the namespace).
    $deadline = [datetime]::UtcNow.AddSeconds(60)
    while ([datetime]::UtcNow -lt $deadline) {
        $joined = @(& ip netns exec $Namespace cat /proc/net/netlink | Select-Object -Skip 1 |
                Where-Object { $f = -split $_; $f[1] -eq '12' -and $f[3] -ne '00000000' })
        if ($joined.Count -ge $Sockets) { return }
        Start-Sleep -Milliseconds 100
    }
    throw 'The watchers did not subscribe within 60 s.'
}

$watchers = @()
try {
    Invoke-Native ip netns add $ns | Out-Null
    Invoke-Native ip netns exec $ns sysctl -qw net.netfilter.nf_conntrack_events=1 | Out-Null
    Invoke-Native ip -n $ns link add soak0 type veth peer name soak1 | Out-Null   # no dummy driver on every kernel
    Invoke-Native ip -n $ns link set soak0 up | Out-Null
    Invoke-Native ip -n $ns addr add 192.168.77.1/24 dev soak0 | Out-Null
    # 2,000 distinct UDP entries a round (udp: no state needed; long timeouts: nothing expires during a round).
    $entries = Join-Path $scratch 'entries.txt'
    $lines = foreach ($i in 0..1999) {
        '-I -p udp -s 10.77.{0}.{1} -d 10.96.0.{2} --sport {3} --dport 53 -t 600' -f ($i -shr 8), ($i -band 255), (1 + $i % 200), (1024 + $i)
    }
    Set-Content -Path $entries -Value $lines

    $seconds = [int]$duration.TotalSeconds + 30   # the watchers outlive the churn
    $watchers = @(
        Start-Watcher 'conntrack' "`$m = Watch-Conntrack -NetworkNamespace '$ns' -Duration $seconds -LostEventVariable lost | Measure-Object
            @{ Events = `$m.Count; Lost = `$lost } | ConvertTo-Json | Set-Content '$scratch/conntrack.json'"
        Start-Watcher 'address' "`$m = Watch-AddressChange -NetworkNamespace '$ns' -IncludeConntrackImpact -Duration $seconds -WarningVariable w -WarningAction SilentlyContinue | Measure-Object
            @{ Events = `$m.Count; Warnings = @(`$w | ForEach-Object { `"`$_`" }) } | ConvertTo-Json | Set-Content '$scratch/address.json'"
    )
    # Watch-Conntrack's event socket and the impact watcher's own conntrack socket.
    Wait-Subscribed $ns 2
    Start-Sleep -Seconds 2   # the impact watcher's snapshot of the (empty) table

    $samples = [Collections.Generic.List[object]]::new()
    function Add-Sample([double] $At) {
        $c = Get-Usage $watchers[0]; $a = Get-Usage $watchers[1]
        $samples.Add([pscustomobject]@{
                Seconds = [int]$At; ConntrackRss = $c.RssMiB; ConntrackFds = $c.Fds; ConntrackThreads = $c.Threads
                AddressRss = $a.RssMiB; AddressFds = $a.Fds; AddressThreads = $a.Threads
            })
    }
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $created = 0; $rounds = 0; $addressChanges = 0
    $nextSample = 0.0; $nextAddress = 2.0
    while ($clock.Elapsed -lt $duration) {
        if ($clock.Elapsed.TotalSeconds -ge $nextSample) { Add-Sample $clock.Elapsed.TotalSeconds; $nextSample += $SampleSeconds }
        Invoke-Native ip netns exec $ns conntrack -R $entries | Out-Null
        Invoke-Native ip netns exec $ns conntrack -F | Out-Null
        $created += 2000; $rounds++
        if ($clock.Elapsed.TotalSeconds -ge $nextAddress) {
            Invoke-Native ip -n $ns addr add 192.168.77.100/32 dev soak0 | Out-Null
            Invoke-Native ip -n $ns addr del 192.168.77.100/32 dev soak0 | Out-Null
            $addressChanges += 2; $nextAddress += 2
        }
    }
    $churnSeconds = $clock.Elapsed.TotalSeconds
    Add-Sample $churnSeconds
    foreach ($w in $watchers) { if (-not $w.WaitForExit(120000)) { throw 'a watcher did not end after its -Duration' } }
    $ct = Get-Content "$scratch/conntrack.json" -Raw | ConvertFrom-Json
    $ad = Get-Content "$scratch/address.json" -Raw | ConvertFrom-Json

    $first = $samples[1]; $last = $samples[-1]   # sample 0 is before the churn's first round
    $rssMax = ($samples | Measure-Object ConntrackRss, AddressRss -Maximum | Measure-Object Maximum -Maximum).Maximum
    $chart = foreach ($s in $samples) {
        $bar = { param($v) ('#' * [math]::Max(1, [int]([double]$v / $rssMax * 40))).PadRight(40) }
        '{0,5} s  Watch-Conntrack {1} {2,6:0.0} MiB   Watch-AddressChange {3} {4,6:0.0} MiB' -f $s.Seconds, (& $bar $s.ConntrackRss), $s.ConntrackRss, (& $bar $s.AddressRss), $s.AddressRss
    }
    $kernel = (& uname -r)
    $md = @(
        "# Soak: $([math]::Round($churnSeconds / 60, 1)) minutes of churn ($(Get-Date -AsUTC -Format 'yyyy-MM-dd HH:mm') UTC, kernel $kernel, $([Environment]::ProcessorCount) cores)"
        ''
        "Churn: $rounds rounds of 2,000 entries created (conntrack -R) and flushed (conntrack -F): $created entries, " +
        "$([math]::Round($created / $churnSeconds)) created and as many destroyed per second; $addressChanges address changes on soak0."
        ''
        '| watcher | events received | expected | lost (reported) |'
        '|---|---|---|---|'
        "| Watch-Conntrack | $($ct.Events) | $(2 * $created) (a New and a Destroy per entry) | $($ct.Lost) |"
        "| Watch-AddressChange -IncludeConntrackImpact | $($ad.Events) | $addressChanges | $(@($ad.Warnings).Count) loss warnings |"
        ''
        '| s | Watch-Conntrack RSS MiB | fds | threads | Watch-AddressChange RSS MiB | fds | threads |'
        '|---|---|---|---|---|---|---|'
        ($samples | ForEach-Object { "| $($_.Seconds) | $($_.ConntrackRss) | $($_.ConntrackFds) | $($_.ConntrackThreads) | $($_.AddressRss) | $($_.AddressFds) | $($_.AddressThreads) |" })
        ''
        'RSS over time:'
        ''
        '```'
        $chart
        '```'
        ''
        "From the first sample under churn to the last: Watch-Conntrack RSS $($first.ConntrackRss) -> $($last.ConntrackRss) MiB, fds $($first.ConntrackFds) -> $($last.ConntrackFds), threads $($first.ConntrackThreads) -> $($last.ConntrackThreads); " +
        "Watch-AddressChange RSS $($first.AddressRss) -> $($last.AddressRss) MiB, fds $($first.AddressFds) -> $($last.AddressFds), threads $($first.AddressThreads) -> $($last.AddressThreads)."
    )
    New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
    Set-Content -Path $OutFile -Value $md
    $md
    if ($ct.Events -ne 2 * $created -or $ct.Lost -ne 0) { Write-Warning "Watch-Conntrack received $($ct.Events) events of $(2 * $created) ($($ct.Lost) reported lost)." }
    if ($ad.Events -ne $addressChanges -or @($ad.Warnings).Count) { Write-Warning "Watch-AddressChange saw $($ad.Events) of $addressChanges changes; warnings: $($ad.Warnings -join ' | ')" }
}
finally {
    foreach ($w in $watchers) { if ($w -and -not $w.HasExited) { $w.Kill(); $w.WaitForExit() } }
    & ip netns del $ns 2>$null
    Remove-Item -Recurse -Force $scratch -ErrorAction Ignore
}
