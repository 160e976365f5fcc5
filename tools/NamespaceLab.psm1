<#
.SYNOPSIS
    Private network namespaces named ctt-*, the incident's NAT lab in them (New-NatLab, two or three nodes) and the
    traffic through it (tools/traffic.py, the one traffic generator), built with the system's own tools (ip, nft,
    python3) rather than with ConntrackTools: the demo (tools/Demo.ps1) and the Pester tests (through
    tests/Pester/TestLab.psm1) use it. Nothing here touches the host's own namespace, and the
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
        The incident's NAT lab, the one lab builder of the demo and the tests, built with ip and nft: a client node
        that masquerades (nft 'masquerade fully-random', i.e. MASQUERADE --random-fully) out of its uplink toward the
        pod network 10.232.3.0/24 and fd00:232::/64, and a server answering there. Two nodes joined by a veth pair
        (the server's service address 10.232.3.28 on its loopback), or with -Router three, client -- router -- server
        (the server on the pod network itself), so the translated traffic can be watched between them
        (CaptureInterface). Both families are always set up; -Family says which one ClientAddress and ServerAddress
        are. -MasqueradePorts restricts the IPv4 TCP masquerade to a port pool (port pressure). Accounting and
        timestamps are on in the client namespace. Returns the names and addresses; remove with Remove-NatLab.
    #>
    param([string] $Tag = 'lab', [switch] $Router, [ValidateSet('IPv4', 'IPv6')] [string] $Family = 'IPv4', [string] $MasqueradePorts)
    $client = New-TestNamespace "$Tag-c"
    $server = New-TestNamespace "$Tag-s"
    $middle = if ($Router) { New-TestNamespace "$Tag-r" }
    $suffix = $client.Substring($client.Length - 6)
    $up = if ($Router) { 'c-up' } else { "cu$suffix" }
    $down = if ($Router) { 's-eth' } else { "cd$suffix" }
    $v6 = $Family -eq 'IPv6'
    try {
        if ($Router) {
            Invoke-Checked ip -n $client link add $up type veth peer name r-cli netns $middle | Out-Null
            Invoke-Checked ip -n $middle link add r-srv type veth peer name $down netns $server | Out-Null
            $addresses = @(
                @($client, $up, '192.168.11.7/24'), @($client, $up, 'fd00:11::7/64'),
                @($middle, 'r-cli', '192.168.11.8/24'), @($middle, 'r-cli', 'fd00:11::8/64'),
                @($middle, 'r-srv', '10.232.3.1/24'), @($middle, 'r-srv', 'fd00:232::1/64'),
                @($server, $down, '10.232.3.28/24'), @($server, $down, 'fd00:232::28/64'))
        }
        else {
            Invoke-Checked ip link add $up netns $client type veth peer name $down netns $server | Out-Null
            $addresses = @(
                @($client, $up, '192.168.11.7/24'), @($client, $up, 'fd00:11::7/64'),
                @($server, $down, '192.168.11.8/24'), @($server, $down, 'fd00:11::8/64'),
                @($server, 'lo', '10.232.3.28/32'), @($server, 'lo', 'fd00:232::28/128'))
        }
        foreach ($a in $addresses) {
            $dad = @(if ($a[2] -like '*:*') { 'nodad' })
            Invoke-Checked ip -n $a[0] addr add $a[2] dev $a[1] @dad | Out-Null
        }
        $links = [System.Collections.Generic.List[object]]::new()
        $links.Add(@($client, $up)); $links.Add(@($server, $down))
        if ($Router) { $links.Add(@($middle, 'r-cli')); $links.Add(@($middle, 'r-srv')) }
        foreach ($l in $links) { Invoke-Checked ip -n $l[0] link set $l[1] up | Out-Null }
        Invoke-Checked ip -n $client route add 10.232.3.0/24 via 192.168.11.8 | Out-Null
        Invoke-Checked ip -n $client -6 route add fd00:232::/64 via fd00:11::8 | Out-Null
        if ($Router) {
            Invoke-Checked ip -n $server route add default via 10.232.3.1 | Out-Null
            Invoke-Checked ip -n $server -6 route add default via fd00:232::1 | Out-Null
            Invoke-InNamespace $middle sysctl -qw net.ipv4.ip_forward=1 | Out-Null
            Invoke-InNamespace $middle sysctl -qw net.ipv6.conf.all.forwarding=1 | Out-Null
        }
        Invoke-InNamespace $client sysctl -qw net.netfilter.nf_conntrack_acct=1 | Out-Null
        Invoke-InNamespace $client sysctl -qw net.netfilter.nf_conntrack_timestamp=1 | Out-Null
        # One nft command per object: nft 1.0.6 cannot parse 'fully-random' right before a closing brace.
        $v4Masquerade = if ($MasqueradePorts) { "meta l4proto tcp masquerade to :$MasqueradePorts fully-random" } else { 'masquerade fully-random' }
        foreach ($rule in @(
                @('add', 'table', 'ip', 'ctt'),
                @('add', 'chain', 'ip', 'ctt', 'post', '{ type nat hook postrouting priority 100; }'),
                @('add', 'rule', 'ip', 'ctt', 'post', "ip daddr 10.232.3.0/24 oifname $up $v4Masquerade"),
                @('add', 'table', 'ip6', 'ctt6'),
                @('add', 'chain', 'ip6', 'ctt6', 'post', '{ type nat hook postrouting priority 100; }'),
                @('add', 'rule', 'ip6', 'ctt6', 'post', "ip6 daddr fd00:232::/64 oifname $up masquerade fully-random"))) {
            Invoke-InNamespace $client nft ($rule -join ' ') | Out-Null
        }
    }
    catch {
        Remove-TestNamespace $client, $middle, $server
        throw
    }
    [pscustomobject]@{
        Family           = $Family
        Client           = $client
        Router           = $middle
        Server           = $server
        Uplink           = $up
        ServerDevice     = $down
        ClientAddress    = if ($v6) { 'fd00:11::7' } else { '192.168.11.7' }
        ServerAddress    = if ($v6) { 'fd00:232::28' } else { '10.232.3.28' }
        # The server's other address of the two-node lab: reached directly on the link, not through the masquerade.
        ServerAddress6   = if ($Router) { 'fd00:232::28' } else { 'fd00:11::8' }
        ServerPort       = 8899
        # Where the translated traffic passes: the router's side facing the client, or the server's end of the link.
        CaptureInterface = if ($Router) { 'r-cli' } else { $down }
    }
}

function Remove-NatLab {
    <# Removes the lab's namespaces with everything in them (rules, links, processes); never throws. #>
    param($Lab)
    if ($Lab) { Remove-TestNamespace $Lab.Client, $Lab.Router, $Lab.Server }
}

function Start-Traffic {
    <#
        Starts tools/traffic.py (the one traffic generator) inside a namespace, stdin and stdout redirected; returns
        the process (ip netns exec executes python itself, so it is the generator's PID). With -Ready, waits for its
        'ready' line.
    #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string[]] $ArgumentList, [switch] $Ready)
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Namespace, '/usr/bin/python3', '-u', (Join-Path $PSScriptRoot 'traffic.py')) + $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    if ($Ready) {
        $line = $p.StandardOutput.ReadLineAsync()
        if (-not $line.Wait(15000) -or $line.Result -ne 'ready') {
            if (-not $p.HasExited) { $p.Kill() }
            throw "traffic.py $($ArgumentList -join ' ') did not start in $Namespace"
        }
    }
    $p
}

function Invoke-Traffic {
    <# Runs tools/traffic.py inside a namespace to its end (ping, send, exchange); throws when it fails. #>
    $namespace, $rest = $args
    Invoke-Checked ip netns exec $namespace /usr/bin/python3 (Join-Path $PSScriptRoot 'traffic.py') @rest
}

function Start-LabConnection {
    <#
        Opens -Count long-lived TCP connections from the client node to the server (through the masquerade), each
        with one echoed 'hello', and keeps them open until Stop-LabConnection. Returns a handle with the two processes
        and the client's local ports.
    #>
    param([Parameter(Mandatory)] $Lab, [int] $Count = 3, [int] $Port = 8899)
    $srv = Start-Traffic $Lab.Server @('serve', $Lab.ServerAddress, "$Port", '--mode', 'echo') -Ready
    $cli = Start-Traffic $Lab.Client @('client', $Lab.ServerAddress, "$Port", '--hello')
    $cli.StandardInput.WriteLine("open $Count")
    $cli.StandardInput.Flush()
    $ports = $cli.StandardOutput.ReadLine()
    if ($ports -notmatch '^\d+( \d+)*$') {
        foreach ($p in $cli, $srv) { if (-not $p.HasExited) { $p.Kill() } }
        throw "lab connections did not open: $ports"
    }
    [pscustomobject]@{ Server = $srv; Client = $cli; Ports = @($ports -split ' ' | ForEach-Object { [int]$_ }) }
}

function Stop-LabConnection {
    param($Handle)
    if (-not $Handle) { return }
    foreach ($p in @($Handle.Client, $Handle.Server)) {
        if ($p -and -not $p.HasExited) { $p.Kill(); $p.WaitForExit(2000) | Out-Null }
        if ($p) { $p.Dispose() }
    }
}

Export-ModuleMember -Function *
