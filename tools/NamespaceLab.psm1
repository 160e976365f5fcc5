<#
.SYNOPSIS
    Private network namespaces named ctt-*, and the incident's two-node NAT lab in them, built with the system's own
    tools (ip, nft, python3 for the connections) rather than with ConntrackTools: the demo (tools/Demo.ps1) and the
    Pester tests (through tests/Pester/TestLab.psm1) use it. Nothing here touches the host's own namespace, and the
    removal functions never throw.
#>
Set-StrictMode -Version 3.0

function Test-IsRoot { (& id -u) -eq '0' }

function Invoke-Checked {
    # Runs a native command; throws with its stderr when it fails.
    $file, $rest = $args
    $output = & $file @rest 2>&1
    if ($LASTEXITCODE -ne 0) { throw "'$file $($rest -join ' ')' failed ($LASTEXITCODE): $($output -join "`n")" }
    $output | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }
}

function New-TestNamespace {
    <# Creates a namespace ctt-<tag>-<random> with loopback up; returns its name. #>
    param([string] $Tag = 't')
    $name = 'ctt-{0}-{1}' -f $Tag, ([guid]::NewGuid().ToString('N').Substring(0, 6))
    Invoke-Checked ip netns add $name | Out-Null
    Invoke-Checked ip -n $name link set lo up | Out-Null
    $name
}

function Remove-TestNamespace {
    <# Flushes and deletes namespaces, and stops processes started in them; never throws. #>
    param([string[]] $Name)
    foreach ($n in $Name) {
        if (-not $n -or -not $n.StartsWith('ctt-')) { continue }
        if (-not (Test-Path "/var/run/netns/$n")) { continue }
        $pids = & ip netns pids $n 2>$null
        foreach ($p in $pids) { if ($p) { & kill -9 $p 2>$null } }
        & ip netns exec $n conntrack -F 2>$null | Out-Null
        & ip netns del $n 2>$null
    }
}

function Invoke-InNamespace {
    <# Runs a native command inside a namespace: Invoke-InNamespace <ns> <command> <args...>. Returns its output. #>
    # Not an advanced function on purpose: arguments such as -I or -c must reach the command untouched.
    $namespace, $command = $args
    Invoke-Checked ip netns exec $namespace @command
}

function New-NatLab {
    <#
        A client node and a server node joined by a veth pair, as in the incident: the client masquerades
        (nft 'masquerade fully-random', i.e. MASQUERADE --random-fully) toward 10.232.3.0/24, where the server
        answers on 10.232.3.28. IPv6 between fd00:11::7 and fd00:11::8. Accounting and timestamps are on in the
        client namespace so counters and start times appear. Returns the names; remove with Remove-NatLab.
    #>
    param([string] $Tag = 'lab')
    $client = New-TestNamespace "$Tag-c"
    $server = New-TestNamespace "$Tag-s"
    $suffix = $client.Substring($client.Length - 6)
    $up = "cu$suffix"; $down = "cd$suffix"
    try {
        Invoke-Checked ip link add $up netns $client type veth peer name $down netns $server | Out-Null
        Invoke-Checked ip -n $client addr add 192.168.11.7/24 dev $up | Out-Null
        Invoke-Checked ip -n $client addr add fd00:11::7/64 dev $up nodad | Out-Null
        Invoke-Checked ip -n $server addr add 192.168.11.8/24 dev $down | Out-Null
        Invoke-Checked ip -n $server addr add fd00:11::8/64 dev $down nodad | Out-Null
        Invoke-Checked ip -n $server addr add 10.232.3.28/32 dev lo | Out-Null
        Invoke-Checked ip -n $client link set $up up | Out-Null
        Invoke-Checked ip -n $server link set $down up | Out-Null
        Invoke-Checked ip -n $client route add 10.232.3.0/24 via 192.168.11.8 | Out-Null
        Invoke-InNamespace $client sysctl -qw net.netfilter.nf_conntrack_acct=1 | Out-Null
        Invoke-InNamespace $client sysctl -qw net.netfilter.nf_conntrack_timestamp=1 | Out-Null
        $rules = "add table ip ctt; add chain ip ctt post { type nat hook postrouting priority 100; }; " +
                 "add rule ip ctt post ip daddr 10.232.3.0/24 oifname $up masquerade fully-random; " +
                 "add table ip6 ctt6; add chain ip6 ctt6 post { type nat hook postrouting priority 100; }; " +
                 "add rule ip6 ctt6 post ip6 daddr fd00:232::/64 oifname $up masquerade fully-random"
        Invoke-InNamespace $client nft $rules | Out-Null
    }
    catch {
        Remove-TestNamespace $client, $server
        throw
    }
    [pscustomobject]@{ Client = $client; Server = $server; Uplink = $up; ServerAddress = '10.232.3.28'; ServerAddress6 = 'fd00:11::8' }
}

function Remove-NatLab {
    param($Lab)
    if ($Lab) { Remove-TestNamespace $Lab.Client, $Lab.Server }
}

function Start-LabConnection {
    <#
        Opens -Count long-lived TCP connections from the client node to the server (through the masquerade) and
        keeps them open until Stop-LabConnection. Returns a handle with the two processes.
    #>
    param([Parameter(Mandatory)] $Lab, [int] $Count = 3, [int] $Port = 8899)
    $serverCode = @"
import socket, threading, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$($Lab.ServerAddress)', $Port)); s.listen(64); print('ready', flush=True)
def echo(c):
    while True:
        d = c.recv(4096)
        if not d: return
        c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()
"@
    $clientCode = @"
import socket, sys
conns = []
for i in range($Count):
    c = socket.create_connection(('$($Lab.ServerAddress)', $Port), timeout=5); c.sendall(b'hello'); c.recv(100); conns.append(c)
print('ready', flush=True)
sys.stdin.read()
"@
    $procs = foreach ($side in @(@($Lab.Server, $serverCode), @($Lab.Client, $clientCode))) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
        foreach ($a in @('netns', 'exec', $side[0], '/usr/bin/python3', '-c', $side[1])) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardInput = $true
        $p = [System.Diagnostics.Process]::Start($psi)
        if ($p.StandardOutput.ReadLine() -ne 'ready') { $p.Kill(); throw 'lab connection process did not start' }
        $p
    }
    [pscustomobject]@{ Server = $procs[0]; Client = $procs[1] }
}

function Stop-LabConnection {
    param($Handle)
    foreach ($p in @($Handle.Client, $Handle.Server)) {
        if ($p -and -not $p.HasExited) { $p.Kill(); $p.WaitForExit(2000) | Out-Null }
        if ($p) { $p.Dispose() }
    }
}

Export-ModuleMember -Function *
