<#
.SYNOPSIS
    Get-NetTCPConnection beside ss on the same namespace: 10,000 TCP sockets (5,000 loopback connections, both ends)
    in a private ctt- namespace, with and without owning processes. Medians of -Runs, same run, side by side.

.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Sockets.ps1 -ModulePath out/ConntrackTools/ConntrackTools.psd1
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Connections = 5000,
    [int] $Runs = 5
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$ns = 'ctt-bench-sock-' + [guid]::NewGuid().ToString('N').Substring(0, 6)
& ip netns add $ns; & ip -n $ns link set lo up
$holder = $null
try {
    $code = @"
import resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (3 * $Connections + 100, 3 * $Connections + 100))
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(('127.0.0.1', 8899)); srv.listen(4096)
held = []
for i in range($Connections):
    c = socket.create_connection(('127.0.0.1', 8899)); a, _ = srv.accept(); held += [c, a]
print('ready', flush=True); sys.stdin.read()
"@
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $ns, '/usr/bin/python3', '-c', $code)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true; $psi.RedirectStandardInput = $true
    $holder = [System.Diagnostics.Process]::Start($psi)
    if ($holder.StandardOutput.ReadLine() -ne 'ready') { throw 'socket holder did not start' }
    $count = @(Get-NetTCPConnection -NetworkNamespace $ns -NoConntrack).Count
    $ssCount = [int](& bash -c "ss -N $ns -tanH | wc -l")
    if ($count -ne $ssCount) { throw "Get-NetTCPConnection saw $count sockets, ss $ssCount" }

    function Median([scriptblock] $Work) {
        # Warm-up: .NET compiles hot methods again with full optimisation after about 30 calls (tiered compilation), so
        # the first dozen calls in a fresh pwsh take two to three times as long; the figures are for a warm session.
        foreach ($i in 1..25) { & $Work | Out-Null }
        $t = foreach ($i in 1..$Runs) { (Measure-Command { & $Work }).TotalMilliseconds }
        ($t | Sort-Object)[[int][math]::Floor($Runs / 2)]
    }
    $null = Median { Get-NetTCPConnection -NetworkNamespace $ns | Out-Null }   # warm the whole path once before measuring
    $rows = @(
        [pscustomobject]@{ Work = "ss -tan (no processes)"; Ours = (Median { Get-NetTCPConnection -NetworkNamespace $ns -NoConntrack | Out-Null }); Ss = (Median { & bash -c "ss -N $ns -tan > /dev/null" }) }
        [pscustomobject]@{ Work = "ss -tanp (with processes)"; Ours = (Median { Get-NetTCPConnection -NetworkNamespace $ns -NoConntrack -IncludeProcess | Out-Null }); Ss = (Median { & bash -c "ss -N $ns -tanp > /dev/null" }) }
        [pscustomobject]@{ Work = "ss -tan 'dport = :8899' (kernel filter)"; Ours = (Median { Get-NetTCPConnection -NetworkNamespace $ns -NoConntrack -RemotePort 8899 | Out-Null }); Ss = (Median { & bash -c "ss -N $ns -tan 'dport = :8899' > /dev/null" }) }
        [pscustomobject]@{ Work = "with the conntrack join (default)"; Ours = (Median { Get-NetTCPConnection -NetworkNamespace $ns | Out-Null }); Ss = $null }
    )
    "Sockets: $count (ss: $ssCount), kernel $((Get-Content /proc/sys/kernel/osrelease).Trim()), $Runs runs, medians in ms"
    $rows | ForEach-Object {
        [pscustomobject]@{ Work = $_.Work; 'Get-NetTCPConnection ms' = [math]::Round($_.Ours, 1); 'ss ms' = $(if ($_.Ss) { [math]::Round($_.Ss, 1) }); Ratio = $(if ($_.Ss) { '{0:0.00}x' -f ($_.Ours / $_.Ss) }) }
    } | Format-Table -AutoSize | Out-String -Width 200
}
finally {
    if ($holder) { try { $holder.StandardInput.Close(); if (-not $holder.WaitForExit(5000)) { $holder.Kill() } } catch { }; $holder.Dispose() }
    & ip netns del $ns 2>$null
}
