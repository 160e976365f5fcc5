<#
.SYNOPSIS
    Helpers for privileged Pester tests: private network namespaces named ctt-*, traffic inside them,
    and cleanup that runs even when a test fails. Nothing here touches the host's own namespace.
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

function Get-ConntrackText {
    <# 'conntrack -L' of a namespace, as lines (the reference our cmdlets are compared with). #>
    param([Parameter(Mandatory)] [string] $Namespace, [string[]] $Options = @())
    @(& ip netns exec $Namespace conntrack -L @Options 2>$null | Where-Object { $_ -match '^\S+\s+\d+' })
}

function ConvertFrom-ConntrackLine {
    <# Parses one 'conntrack -L' line into the fields we compare: protocol, original and reply tuples, mark, zone. #>
    param([Parameter(Mandatory, ValueFromPipeline)] [string] $Line)
    process {
        $tokens = $Line -split '\s+'
        $kv = [ordered]@{}
        $orig = [ordered]@{}; $reply = [ordered]@{}; $current = $orig
        foreach ($t in $tokens) {
            if ($t -notmatch '^([a-z_-]+)=(.*)$') { continue }
            $k = $Matches[1]; $v = $Matches[2]
            if ($k -eq 'src' -and $current.Contains('src')) { $current = $reply }
            if ($k -in 'src', 'dst', 'sport', 'dport', 'type', 'code', 'id') { $current[$k] = $v } else { $kv[$k] = $v }
        }
        $o = { param($k) if ($orig.Contains($k)) { $orig[$k] } else { '' } }
        $r = { param($k) if ($reply.Contains($k)) { $reply[$k] } else { '' } }
        [pscustomobject]@{
            Protocol = $tokens[0]
            Key      = '{0} {1}:{2} -> {3}:{4} | {5}:{6} -> {7}:{8} | zone={9}' -f $tokens[0], (& $o src), (& $o sport), (& $o dst), (& $o dport),
                (& $r src), (& $r sport), (& $r dst), (& $r dport), ($(if ($kv.Contains('zone')) { $kv.zone } else { '0' }))
            Mark     = [uint32]$(if ($kv.Contains('mark')) { $kv.mark } else { 0 })
        }
    }
}

function Get-EntryKey {
    <# The same key for a ConntrackEntry, so both sides compare as strings. #>
    param([Parameter(Mandatory, ValueFromPipeline)] $Entry)
    process {
        $o = $Entry.Original; $r = $Entry.Reply
        '{0} {1}:{2} -> {3}:{4} | {5}:{6} -> {7}:{8} | zone={9}' -f $Entry.Protocol, $o.SourceAddress, $o.SourcePort, $o.DestinationAddress, $o.DestinationPort,
            $r.SourceAddress, $r.SourcePort, $r.DestinationAddress, $r.DestinationPort, $Entry.Zone
    }
}


function Wait-Until {
    <# Polls -Condition until it is true; throws with -Because after -TimeoutSeconds. For events, not for timing. #>
    param([Parameter(Mandatory)] [scriptblock] $Condition, [Parameter(Mandatory)] [string] $Because, [int] $TimeoutSeconds = 20)
    $deadline = [datetime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([datetime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting for: $Because" }
        Start-Sleep -Milliseconds 50
    }
}

function Get-PwshCommand {
    <# The command line that starts this same pwsh (a dotnet tool runs as 'dotnet pwsh.dll'). #>
    $self = (Get-Process -Id $PID).Path
    if ([IO.Path]::GetFileName($self) -eq 'dotnet') { @($self, (Join-Path $PSHOME 'pwsh.dll')) } else { @($self) }
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

function Invoke-LabTraffic {
    <#
        Makes real flows through the lab: for each port, a one-shot echo server in the server namespace and a
        client in the client namespace that sends one message and reads the answer. Both processes end by
        themselves; the conntrack entries stay (TIME_WAIT/CLOSE for tcp, UDP until timeout).
    #>
    param([Parameter(Mandatory)] $Lab, [ValidateSet('tcp', 'udp')] [string] $Protocol = 'tcp', [int[]] $Port = @(8899), [switch] $IPv6)
    $python = '/usr/bin/python3'
    $family = if ($IPv6) { 'AF_INET6' } else { 'AF_INET' }
    $target = if ($IPv6) { $Lab.ServerAddress6 } else { $Lab.ServerAddress }
    # Bind the service address itself: a UDP answer from another source address would not match the entry.
    $bind = $target
    $kind = if ($Protocol -eq 'tcp') { 'SOCK_STREAM' } else { 'SOCK_DGRAM' }
    $ports = ($Port -join ',')
    $serverCode = @"
import socket, threading
def serve(p):
    s = socket.socket(socket.$family, socket.$kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('$bind', p))
    s.settimeout(10)
    if socket.$kind == socket.SOCK_STREAM:
        s.listen(1); c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
    else:
        d, a = s.recvfrom(100); s.sendto(d, a)
ts = [threading.Thread(target=serve, args=(p,)) for p in ($ports,)]
[t.start() for t in ts]; print('ready', flush=True); [t.join() for t in ts]
"@
    $clientCode = @"
import socket
for p in ($ports,):
    s = socket.socket(socket.$family, socket.$kind); s.settimeout(5)
    if socket.$kind == socket.SOCK_STREAM:
        s.connect(('$target', p)); s.sendall(b'ping'); s.recv(100); s.close()
    else:
        s.sendto(b'ping', ('$target', p)); s.recv(100)
"@
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Lab.Server, $python, '-c', $serverCode)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $srv = [System.Diagnostics.Process]::Start($psi)
    try {
        if ($srv.StandardOutput.ReadLine() -ne 'ready') { throw 'lab echo server did not start' }
        Invoke-InNamespace $Lab.Client $python -c $clientCode | Out-Null
        if (-not $srv.WaitForExit(10000)) { throw 'lab echo server did not finish' }
    }
    finally {
        if (-not $srv.HasExited) { $srv.Kill() }
        $srv.Dispose()
    }
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
