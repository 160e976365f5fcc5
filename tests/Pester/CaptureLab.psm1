<#
.SYNOPSIS
    The incident's topology in private ctt-* network namespaces for the packet tests: a client node that masquerades
    (--random-fully) towards a pod network, a router, and a server; a TCP server and a scriptable TCP client in them.
    Builds on TestLab.psm1; removes everything it made even when a test fails.
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')

$Python = '/usr/bin/python3'

# Accepts connections and reads whatever comes until the peer closes; prints 'ready' once listening.
$ServerScript = @'
import socket, sys, threading
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print('ready', flush=True)
def drain(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
'@

# Reads commands on stdin and answers each with one line:
#   open N   -> opens N connections, answers their local ports
#   send I   -> sends one byte on connection I, answers 'sent' or the error
#   state I  -> answers 'reset' once the peer has reset connection I (ECONNRESET), 'open' otherwise
$ClientScript = @'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
conns, reset = [], set()
for line in sys.stdin:
    cmd, *args = line.split()
    try:
        if cmd == 'open':
            for _ in range(int(args[0])):
                c = socket.create_connection((host, port), timeout=5)
                c.settimeout(None)
                conns.append(c)
            print(' '.join(str(c.getsockname()[1]) for c in conns), flush=True)
        elif cmd == 'send':
            conns[int(args[0])].send(b'x')
            print('sent', flush=True)
        elif cmd == 'state':
            i = int(args[0])
            if i not in reset:
                try:
                    conns[i].recv(1, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    reset.add(i)  # the kernel reports a reset once; remember it
            print('reset' if i in reset else 'open', flush=True)
    except OSError as e:
        print('error', type(e).__name__, flush=True)
'@

function New-IncidentLab {
    <#
    .SYNOPSIS
        Client node (masquerade fully-random on its uplink c-up) -- router (r-cli, r-srv) -- server (s-eth).
        Returns the namespaces, the addresses, and the router interface facing the client, where the translated
        traffic passes.
    #>
    param([Parameter(Mandatory)] [ValidateSet('IPv4', 'IPv6')] [string] $Family)
    $v6 = $Family -eq 'IPv6'
    $lab = [pscustomobject]@{
        Family           = $Family
        Client           = New-TestNamespace 'cli'
        Router           = New-TestNamespace 'rtr'
        Server           = New-TestNamespace 'srv'
        ClientAddress    = if ($v6) { 'fd00:11::7' } else { '192.168.11.7' }
        ServerAddress    = if ($v6) { 'fd00:232:3::28' } else { '10.232.3.28' }
        ServerPort       = 8899
        CaptureInterface = 'r-cli'
    }
    try {
        $c, $r, $s = $lab.Client, $lab.Router, $lab.Server
        $net = if ($v6) {
            @{ Len = 64; Router1 = 'fd00:11::8'; Router2 = 'fd00:232:3::1'; Pods = 'fd00:232:3::/64'; Ip = 'ip6'; Forward = 'net.ipv6.conf.all.forwarding=1' }
        } else {
            @{ Len = 24; Router1 = '192.168.11.8'; Router2 = '10.232.3.1'; Pods = '10.232.3.0/24'; Ip = 'ip'; Forward = 'net.ipv4.ip_forward=1' }
        }
        Invoke-Checked ip -n $c link add c-up type veth peer name r-cli netns $r | Out-Null
        Invoke-Checked ip -n $r link add r-srv type veth peer name s-eth netns $s | Out-Null
        foreach ($a in @(($c, 'c-up', $lab.ClientAddress), ($r, 'r-cli', $net.Router1), ($r, 'r-srv', $net.Router2), ($s, 's-eth', $lab.ServerAddress))) {
            Invoke-Checked ip -n $a[0] addr add "$($a[2])/$($net.Len)" dev $a[1] nodad | Out-Null
            Invoke-Checked ip -n $a[0] link set $a[1] up | Out-Null
        }
        Invoke-Checked ip -n $c route add $net.Pods via $net.Router1 | Out-Null
        Invoke-Checked ip -n $s route add default via $net.Router2 | Out-Null
        Invoke-Checked ip netns exec $r sysctl -qw $net.Forward | Out-Null
        # One command per object: nft 1.0.6 cannot parse 'fully-random' right before a closing brace.
        Invoke-Checked ip netns exec $c nft add table $net.Ip ctt | Out-Null
        Invoke-Checked ip netns exec $c nft "add chain $($net.Ip) ctt postrouting { type nat hook postrouting priority srcnat; }" | Out-Null
        Invoke-Checked ip netns exec $c nft add rule $net.Ip ctt postrouting $net.Ip daddr $net.Pods oifname c-up masquerade fully-random | Out-Null
    }
    catch {
        Remove-IncidentLab $lab
        throw
    }
    $lab
}

function Remove-IncidentLab {
    <# Removes the lab's namespaces with everything in them (rules, links, processes); never throws. #>
    param($Lab)
    if ($Lab) { Remove-TestNamespace $Lab.Client, $Lab.Router, $Lab.Server }
}

function Start-NamespaceProcess {
    <# Starts a python script inside a namespace with stdin and stdout redirected; it dies with its namespace. #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string] $Script, [string[]] $ArgumentList = @())
    $info = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Namespace, $Python, '-c', $Script) + $ArgumentList) { $info.ArgumentList.Add($a) }
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.UseShellExecute = $false
    [System.Diagnostics.Process]::Start($info)
}

function Read-ProcessLine {
    <# The next line the process writes, waiting at most -TimeoutSeconds. #>
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process, [int] $TimeoutSeconds = 10)
    $line = $Process.StandardOutput.ReadLineAsync()
    if (-not $line.Wait([timespan]::FromSeconds($TimeoutSeconds))) { throw "No answer from process $($Process.Id) within $TimeoutSeconds s." }
    $line.Result
}

function Start-LabServer {
    <# The TCP server on the lab's server address and port; returns once it listens. #>
    param([Parameter(Mandatory)] $Lab)
    $p = Start-NamespaceProcess $Lab.Server $ServerScript -ArgumentList $Lab.ServerAddress, $Lab.ServerPort
    if ((Read-ProcessLine $p) -ne 'ready') { throw 'The lab server did not start.' }
    $p
}

function Start-LabClient {
    <# The scriptable TCP client in the client node, connecting to the lab's server. #>
    param([Parameter(Mandatory)] $Lab)
    Start-NamespaceProcess $Lab.Client $ClientScript -ArgumentList $Lab.ServerAddress, $Lab.ServerPort
}

function Invoke-ProcessCommand {
    <# Writes one command line to a scripted process (the lab client: 'open 3', 'send 1', 'state 1') and returns its answer. #>
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process, [Parameter(Mandatory)] [string] $Command, [int] $TimeoutSeconds = 10)
    $Process.StandardInput.WriteLine($Command)
    $Process.StandardInput.Flush()
    Read-ProcessLine $Process $TimeoutSeconds
}

function Start-CaptureJob {
    <#
    .SYNOPSIS
        Runs a capture pipeline in a thread job, as an operator runs it in a console, and returns once Watch-Packet
        reports (-Verbose) that its device is open. The script block gets the module path first, then -ArgumentList.
        Stop-Job stops it the way Ctrl+C does.
    #>
    param([Parameter(Mandatory)] [scriptblock] $ScriptBlock, [object[]] $ArgumentList = @())
    $job = Start-ThreadJob -ScriptBlock $ScriptBlock -ArgumentList (@($env:CONNTRACKTOOLS_MODULE) + $ArgumentList)
    Wait-Until { @($job.Verbose | Where-Object Message -Like 'Capturing on*').Count -gt 0 -or $job.State -in 'Completed', 'Failed', 'Stopped' } 'the capture device to open'
    if ($job.State -ne 'Running') { throw "The capture did not start: $($job.Error)" }
    $job
}

function Get-PacketSocketCount {
    <# The packet (capture) sockets open in a namespace: /proc/net/packet has a header line, then one line each. #>
    param([Parameter(Mandatory)] [string] $Namespace)
    @(Invoke-Checked ip netns exec $Namespace cat /proc/net/packet).Count - 1
}

Export-ModuleMember -Function New-IncidentLab, Remove-IncidentLab, Start-NamespaceProcess, Read-ProcessLine, Start-LabServer, Start-LabClient,
    Invoke-ProcessCommand, Start-CaptureJob, Get-PacketSocketCount
