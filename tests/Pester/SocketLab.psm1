<#
    The incident's topology for the socket tests (New-NatLab -Router: a client node that masquerades out of its
    uplink, a router node, and a server pod). tools/traffic.py stands in for nc and the pod's server; the client
    renames itself 'nc' (prctl PR_SET_NAME) so its process name can be checked. Every packet stays inside the
    namespaces.
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')

function New-SocketLab {
    <# The router lab of tools/NamespaceLab.psm1 (New-NatLab -Router), with conntrack events on in the client node. #>
    param([string] $Tag = 'sk')
    $lab = New-NatLab -Tag $Tag -Router
    $lab | Add-Member -NotePropertyName Processes -NotePropertyValue ([System.Collections.Generic.List[System.Diagnostics.Process]]::new())
    try { Invoke-InNamespace $lab.Client sysctl -qw net.netfilter.nf_conntrack_events=1 | Out-Null }
    catch { Remove-SocketLab $lab; throw }
    $lab
}

function Start-LabServer {
    <# The pod, one process: TCP 8899 on both families (accepts and holds every connection), UDP 5353 echo. #>
    param($Lab)
    $p = Start-Traffic $Lab.Server @('serve', '10.232.3.28,fd00:232::28', '8899', '--mode', 'hold', '--udp-echo', '5353') -Ready
    $Lab.Processes.Add($p)
    $p
}

function Start-LabClient {
    <#
        The incident's client, named 'nc': one IPv4 and one IPv6 connection to the pod's 8899 that stay open, one
        IPv4 connection it closes first (TIME_WAIT on the client), and a connected UDP socket that has talked to 5353.
    #>
    param($Lab)
    $p = Start-Traffic $Lab.Client @('client', '10.232.3.28', '8899', '--name', 'nc')
    $Lab.Processes.Add($p)
    foreach ($command in 'open 1', 'open 1 fd00:232::28', 'open 1', 'close 2', 'udp 10.232.3.28 5353') {
        $p.StandardInput.WriteLine($command)
        $p.StandardInput.Flush()
        $answer = $p.StandardOutput.ReadLine()
        if ($answer -notmatch '^(\d+|closed|answered)$') { throw "the lab client's '$command' failed: $answer" }
    }
    $p
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

Export-ModuleMember -Function New-SocketLab, Start-LabServer, Start-LabClient, Remove-SocketLab, Get-SsSocket
