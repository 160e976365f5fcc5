<#
    The incident's topology for the socket tests, in three private ctt-* namespaces: a client node that masquerades
    (nft 'masquerade fully-random') out of its uplink, a router node, and a server pod. Long-running python
    processes stand in for nc and the pod's server; the client renames itself 'nc' (prctl PR_SET_NAME) so its
    process name can be checked. Every packet stays inside the namespaces.
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')

function New-SocketLab {
    param([string] $Tag = 'sk')
    $client = New-TestNamespace "$Tag-c"; $router = New-TestNamespace "$Tag-r"; $server = New-TestNamespace "$Tag-s"
    $sfx = $client.Substring($client.Length - 6)
    $lab = [pscustomobject]@{ Client = $client; Router = $router; Server = $server; Uplink = "cu$sfx"; Processes = [System.Collections.Generic.List[System.Diagnostics.Process]]::new() }
    try {
        Invoke-Checked ip link add $lab.Uplink netns $client type veth peer name "rd$sfx" netns $router | Out-Null
        Invoke-Checked ip link add "rp$sfx" netns $router type veth peer name "sp$sfx" netns $server | Out-Null
        Invoke-Checked ip -n $client addr add 192.168.11.7/24 dev $lab.Uplink | Out-Null
        Invoke-Checked ip -n $client addr add fd00:11::7/64 dev $lab.Uplink nodad | Out-Null
        Invoke-Checked ip -n $router addr add 192.168.11.8/24 dev "rd$sfx" | Out-Null
        Invoke-Checked ip -n $router addr add fd00:11::8/64 dev "rd$sfx" nodad | Out-Null
        Invoke-Checked ip -n $router addr add 10.232.3.1/24 dev "rp$sfx" | Out-Null
        Invoke-Checked ip -n $router addr add fd00:232::1/64 dev "rp$sfx" nodad | Out-Null
        Invoke-Checked ip -n $server addr add 10.232.3.28/24 dev "sp$sfx" | Out-Null
        Invoke-Checked ip -n $server addr add fd00:232::28/64 dev "sp$sfx" nodad | Out-Null
        foreach ($pair in @(@($client, $lab.Uplink), @($router, "rd$sfx"), @($router, "rp$sfx"), @($server, "sp$sfx"))) {
            Invoke-Checked ip -n $pair[0] link set $pair[1] up | Out-Null
        }
        Invoke-Checked ip -n $client route add 10.232.3.0/24 via 192.168.11.8 | Out-Null
        Invoke-Checked ip -n $client -6 route add fd00:232::/64 via fd00:11::8 | Out-Null
        Invoke-Checked ip -n $server route add default via 10.232.3.1 | Out-Null
        Invoke-Checked ip -n $server -6 route add default via fd00:232::1 | Out-Null
        Invoke-InNamespace $router sysctl -qw net.ipv4.ip_forward=1 | Out-Null
        Invoke-InNamespace $router sysctl -qw net.ipv6.conf.all.forwarding=1 | Out-Null
        Invoke-InNamespace $client sysctl -qw net.netfilter.nf_conntrack_events=1 | Out-Null
        $rules = "add table ip ctt; add chain ip ctt post { type nat hook postrouting priority 100; }; " +
                 "add rule ip ctt post ip daddr 10.232.3.0/24 oifname $($lab.Uplink) masquerade fully-random; " +
                 "add table ip6 ctt6; add chain ip6 ctt6 post { type nat hook postrouting priority 100; }; " +
                 "add rule ip6 ctt6 post ip6 daddr fd00:232::/64 oifname $($lab.Uplink) masquerade fully-random"
        Invoke-InNamespace $client nft $rules | Out-Null
    }
    catch { Remove-SocketLab $lab; throw }
    $lab
}

function Start-LabPython {
    <# Starts python3 -c <code> inside a namespace; waits for its first line 'ready'. The process is the python itself (ip netns exec execs it). #>
    param($Lab, [string] $Namespace, [string] $Code)
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Namespace, '/usr/bin/python3', '-u', '-c', $Code)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    $Lab.Processes.Add($p)
    $line = $p.StandardOutput.ReadLine()
    if ($line -ne 'ready') { throw "lab process in $Namespace did not start: $line" }
    $p
}

function Start-LabServer {
    <# The pod: TCP 8899 on both families (accepts and holds every connection), UDP 5353 echo. #>
    param($Lab)
    Start-LabPython $Lab $Lab.Server @'
import socket, threading
held = []
def tcp(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 8899)); s.listen(64)
    while True:
        c, _ = s.accept(); held.append(c)
        threading.Thread(target=drain, args=(c,), daemon=True).start()
def drain(c):
    # Hold the connection until the peer closes, then close too (the peer that closed first waits in TIME_WAIT).
    while c.recv(100): pass
    c.close()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.232.3.28', 5353))
    while True:
        d, a = u.recvfrom(100); u.sendto(d, a)
for t in (lambda: tcp(socket.AF_INET, '10.232.3.28'), lambda: tcp(socket.AF_INET6, 'fd00:232::28'), udp):
    threading.Thread(target=t, daemon=True).start()
import time; time.sleep(0.2); print('ready'); time.sleep(600)
'@
}

function Start-LabClient {
    <#
        The incident's client, named 'nc': one IPv4 and one IPv6 connection to the pod's 8899 that stay open, one
        IPv4 connection it closes first (TIME_WAIT on the client), and a connected UDP socket that has talked to 5353.
    #>
    param($Lab)
    Start-LabPython $Lab $Lab.Client @'
import ctypes, socket, time
ctypes.CDLL(None).prctl(15, b'nc', 0, 0, 0)          # PR_SET_NAME: /proc/PID/comm is now 'nc'
a = socket.create_connection(('10.232.3.28', 8899)); a.sendall(b'hello')
b = socket.create_connection(('fd00:232::28', 8899)); b.sendall(b'hello')
t = socket.create_connection(('10.232.3.28', 8899)); t.close(); time.sleep(0.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(('10.232.3.28', 5353)); u.send(b'q'); u.settimeout(5); u.recv(10)
time.sleep(0.3); print('ready'); time.sleep(600)
'@
}

function Remove-SocketLab {
    param($Lab)
    if (-not $Lab) { return }
    foreach ($p in $Lab.Processes) { try { if (-not $p.HasExited) { $p.Kill() }; $p.WaitForExit(2000) | Out-Null } catch { }; $p.Dispose() }
    Remove-TestNamespace $Lab.Client, $Lab.Router, $Lab.Server
}

function Get-SsSocket {
    <#
        ss's view of one namespace (the reference): ss -tanpe / -uanp parsed into State, Local, LocalPort, Peer, PeerPort,
        Process (name) and ProcessId. IPv6 addresses lose their brackets.
    #>
    param([Parameter(Mandatory)] [string] $Namespace, [ValidateSet('tcp', 'udp')] [string] $Protocol = 'tcp')
    $opt = if ($Protocol -eq 'tcp') { '-tanpeH' } else { '-uanpH' }
    foreach ($line in @(& ip netns exec $Namespace ss $opt)) {
        $f = $line -split '\s+'
        if ($f.Count -lt 5) { continue }
        $split = {
            param($s)
            $i = $s.LastIndexOf(':'); $addr = $s.Substring(0, $i).Trim('[', ']'); $port = $s.Substring($i + 1)
            if ($addr -eq '*') { $addr = '*' }
            [pscustomobject]@{ Address = ($addr -replace '%.*$', ''); Port = $(if ($port -eq '*') { 0 } else { [int]$port }) }
        }
        $l = & $split $f[3]; $p = & $split $f[4]
        $proc = $null; $procId = $null
        if ($line -match 'users:\(\("([^"]+)",pid=(\d+)') { $proc = $Matches[1]; $procId = [int]$Matches[2] }
        [pscustomobject]@{ State = $f[0]; Local = $l.Address; LocalPort = $l.Port; Peer = $p.Address; PeerPort = $p.Port; Process = $proc; ProcessId = $procId }
    }
}

Export-ModuleMember -Function New-SocketLab, Start-LabServer, Start-LabClient, Remove-SocketLab, Get-SsSocket, Start-LabPython
