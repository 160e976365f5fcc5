#Requires -Version 7.4
<#
    Get-NetTCPConnection and Get-NetUDPEndpoint against the running kernel, as root, in the incident's topology
    (SocketLab.psm1: client node masquerading through a router to a server pod, all private ctt-* namespaces),
    compared with ss -tanpe / ss -uanp on the same namespace.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SocketLab.psm1') -Force
    # Not root, or a program missing: the tests that need them skip with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command python3, ss, nft
    $script:SsState = @{ 'ESTAB' = 'Established'; 'LISTEN' = 'Listen'; 'TIME-WAIT' = 'TimeWait'; 'UNCONN' = 'Closed'; 'SYN-SENT' = 'SynSent';
        'SYN-RECV' = 'SynReceived'; 'FIN-WAIT-1' = 'FinWait1'; 'FIN-WAIT-2' = 'FinWait2'; 'CLOSE-WAIT' = 'CloseWait'; 'LAST-ACK' = 'LastAck'; 'CLOSING' = 'Closing' }
    if (-not $script:SkipReason) {
        $script:Lab = New-SocketLab
        $script:ServerProcess = Start-LabServer $script:Lab
        $script:ClientProcess = Start-LabClient $script:Lab
    }
    function Key($Local, $LocalPort, $Remote, $RemotePort, $State) { "$Local|$LocalPort|$Remote|$RemotePort|$State" }
}

AfterAll {
    if ($script:Lab) { Remove-SocketLab $script:Lab }
}

Describe 'Get-NetTCPConnection' {
    It 'shows the client socket port and the port the server sees, as the incident needed ss for' {
        Assert-Prerequisite -Reason $script:SkipReason
        $c = @(Get-NetTCPConnection -NetworkNamespace $Lab.Client -RemoteAddress 10.232.3.28 -RemotePort 8899 -State Established -IncludeProcess)
        $c.Count | Should -Be 1
        $c[0].LocalAddress | Should -Be '192.168.11.7'
        $c[0].OwningProcessName | Should -Be 'nc'
        $c[0].OwningProcess | Should -Be $ClientProcess.Id
        $c[0].NetworkNamespace | Should -Be $Lab.Client
        $c[0].ConntrackEntry | Should -Not -BeNullOrEmpty
        $c[0].TranslatedLocalAddress | Should -Be '192.168.11.7'
        $c[0].TranslatedRemoteAddress | Should -Be '10.232.3.28'
        $c[0].TranslatedRemotePort | Should -Be 8899
        # The port on the wire is the one the server's socket has as its peer (masquerade fully-random rewrote it).
        $s = @(Get-NetTCPConnection -NetworkNamespace $Lab.Server -LocalPort 8899 -State Established -AddressFamily IPv4 |
            Where-Object RemotePort -eq $c[0].TranslatedLocalPort)
        $s.Count | Should -Be 1
        $s[0].RemoteAddress | Should -Be '192.168.11.7'
        # And it is what conntrack -L says the mapping is.
        $line = Get-ConntrackText -Namespace $Lab.Client -Options @('-p', 'tcp', '--sport', "$($c[0].LocalPort)", '--dport', '8899')
        $line | Should -Match "dport=$($c[0].TranslatedLocalPort)\b"
    }

    It 'joins IPv6 connections to their masqueraded entries too' {
        Assert-Prerequisite -Reason $script:SkipReason
        $c = @(Get-NetTCPConnection -NetworkNamespace $Lab.Client -RemoteAddress 'fd00:232::/64' -State Established -IncludeProcess)
        $c.Count | Should -Be 1
        $c[0].LocalAddress | Should -Be 'fd00:11::7'
        $c[0].AddressFamily | Should -Be 'IPv6'
        $c[0].OwningProcessName | Should -Be 'nc'
        $c[0].ConntrackEntry.AddressFamily | Should -Be 'IPv6'
        $c[0].TranslatedLocalAddress | Should -Be 'fd00:11::7'
        @(Get-NetTCPConnection -NetworkNamespace $Lab.Server -State Established -AddressFamily IPv6 | Where-Object RemotePort -eq $c[0].TranslatedLocalPort).Count | Should -Be 1
    }

    It 'has the same sockets, states and owners as ss -tanpe in <_>' -ForEach @('Client', 'Server') {
        Assert-Prerequisite -Reason $script:SkipReason
        $ns = $Lab.$_
        $ours = @(Get-NetTCPConnection -NetworkNamespace $ns -IncludeProcess -NoConntrack)
        $ss = @(Get-SsSocket -Namespace $ns -Protocol tcp)
        $ours.Count | Should -BeGreaterThan 1
        $ours.Count | Should -Be $ss.Count
        $a = $ours | ForEach-Object { Key $_.LocalAddress $_.LocalPort $_.RemoteAddress $_.RemotePort "$($_.State)|$($_.OwningProcessName)|$($_.OwningProcess)" } | Sort-Object
        $b = $ss | ForEach-Object { Key $_.Local $_.LocalPort $_.Peer $_.PeerPort "$($SsState[$_.State])|$($_.Process)|$($_.ProcessId)" } | Sort-Object
        $a | Should -Be $b
    }

    It 'lists the pod''s listeners with the process that holds them, from another namespace' {
        Assert-Prerequisite -Reason $script:SkipReason
        $l = @(Get-NetTCPConnection -NetworkNamespace $Lab.Server -State Listen -IncludeProcess)
        ($l | ForEach-Object { "$($_.LocalAddress):$($_.LocalPort)" } | Sort-Object) | Should -Be @('10.232.3.28:8899', 'fd00:232::28:8899')
        $l.OwningProcess | Sort-Object -Unique | Should -Be $ServerProcess.Id
        $l.OwningProcessName | Sort-Object -Unique | Should -Be 'python3'
        @($l | Where-Object ConntrackEntry) | Should -BeNullOrEmpty
        $l.RemoteAddress | Sort-Object | Should -Be (@('0.0.0.0', '::') | Sort-Object)
    }

    It 'shows the TIME_WAIT socket, which no process holds' {
        Assert-Prerequisite -Reason $script:SkipReason
        $tw = @(Get-NetTCPConnection -NetworkNamespace $Lab.Client -State TimeWait -IncludeProcess)
        $tw.Count | Should -Be 1
        $tw[0].OwningProcess | Should -BeNullOrEmpty
        $tw[0].Inode | Should -Be 0
        $tw[0].RemotePort | Should -Be 8899
        @(Get-SsSocket -Namespace $Lab.Client | Where-Object State -eq 'TIME-WAIT').Count | Should -Be 1
    }

    It 'gives the same answer with the kernel filter and without it: <Name>' -ForEach @(
        @{ Name = 'ports'; P = @{ LocalPort = 8899 } }
        @{ Name = 'states'; P = @{ State = 'Listen', 'TimeWait' } }
        @{ Name = 'IPv4 prefix'; P = @{ RemoteAddress = '10.232.0.0/16' } }
        @{ Name = 'IPv6 prefix and port'; P = @{ LocalAddress = 'fd00:232::/64'; LocalPort = 8899, 22 } }
        @{ Name = 'remote port and state'; P = @{ RemotePort = 8899; State = 'Established' } }
    ) {
        Assert-Prerequisite -Reason $script:SkipReason
        foreach ($ns in $Lab.Client, $Lab.Server) {
            $k = Get-NetTCPConnection -NetworkNamespace $ns @P -NoConntrack 4>&1
            $verbose = @($k | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }) -join ' '
            $kernel = @($k | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] } | ForEach-Object { $_.ToString() } | Sort-Object)
            $user = @(Get-NetTCPConnection -NetworkNamespace $ns @P -NoConntrack -NoKernelFilter | ForEach-Object { $_.ToString() } | Sort-Object)
            $kernel | Should -Be $user
            $verbose | Should -Not -Match 'refused'
        }
        # The filter selects something somewhere, so the comparison is not between two empty lists.
        (@(Get-NetTCPConnection -NetworkNamespace $Lab.Client @P) + @(Get-NetTCPConnection -NetworkNamespace $Lab.Server @P)).Count | Should -BeGreaterThan 0
    }

    It 'selects by owning process' {
        Assert-Prerequisite -Reason $script:SkipReason
        $mine = @(Get-NetTCPConnection -NetworkNamespace $Lab.Client -OwningProcess $ClientProcess.Id)
        $mine.Count | Should -Be 2
        $mine.OwningProcessName | Sort-Object -Unique | Should -Be 'nc'
        @(Get-NetTCPConnection -NetworkNamespace $Lab.Client -OwningProcess $ServerProcess.Id).Count | Should -Be 0
    }

    It 'pipes into Get-Conntrack by property name, and back' {
        Assert-Prerequisite -Reason $script:SkipReason
        $sock = Get-NetTCPConnection -NetworkNamespace $Lab.Client -RemotePort 8899 -State Established -AddressFamily IPv4
        $e = @($sock | Get-Conntrack -NetworkNamespace $Lab.Client)
        $e.Count | Should -Be 1
        $e[0].Protocol | Should -Be 'tcp'
        $e[0].SourcePort | Should -Be $sock.LocalPort
        $e[0].TranslatedSourcePort | Should -Be $sock.TranslatedLocalPort
        $back = @(Get-Conntrack -NetworkNamespace $Lab.Client -Protocol tcp -DestinationPort 8899 -State ESTABLISHED -AddressFamily IPv4 |
            Get-NetTCPConnection -NetworkNamespace $Lab.Client)
        $back.Count | Should -Be 1
        $back[0].LocalPort | Should -Be $sock.LocalPort
    }

    It 'survives ConvertTo-Json and Export-Clixml with text addresses' {
        Assert-Prerequisite -Reason $script:SkipReason
        $c = Get-NetTCPConnection -NetworkNamespace $Lab.Client -RemotePort 8899 -State Established -AddressFamily IPv4 -IncludeProcess
        $j = $c | ConvertTo-Json | ConvertFrom-Json
        $j.LocalAddress | Should -Be '192.168.11.7'
        $j.State | Should -Be 'Established'
        $j.TranslatedLocalPort | Should -Be $c.TranslatedLocalPort
        $file = Join-Path ([IO.Path]::GetTempPath()) "ctt-sock-$PID.xml"
        try {
            $c | Export-Clixml $file
            $d = Import-Clixml $file
            $d.RemoteAddress | Should -Be '10.232.3.28'
            $d.pstypenames | Should -Contain 'Deserialized.ConntrackTools.NetTCPConnection'
            ($d | Format-Table | Out-String) | Should -Match '10\.232\.3\.28'
        }
        finally { Remove-Item $file -ErrorAction Ignore }
    }

    It 'refuses a bad address with InvalidAddress' {
        { Get-NetTCPConnection -LocalAddress 'not-an-address' } | Should -Throw -ErrorId 'InvalidAddress,ConntrackTools.Commands.GetNetTCPConnectionCommand'
    }
}

Describe 'Get-NetUDPEndpoint' {
    It 'has the same sockets and owners as ss -uanp in <_>' -ForEach @('Client', 'Server') {
        Assert-Prerequisite -Reason $script:SkipReason
        $ns = $Lab.$_
        $ours = @(Get-NetUDPEndpoint -NetworkNamespace $ns -IncludeProcess -NoConntrack)
        $ss = @(Get-SsSocket -Namespace $ns -Protocol udp)
        $ours.Count | Should -BeGreaterThan 0
        $ours.Count | Should -Be $ss.Count
        $a = $ours | ForEach-Object { Key $_.LocalAddress $_.LocalPort $_.RemoteAddress $_.RemotePort "$($_.Connected)|$($_.OwningProcessName)|$($_.OwningProcess)" } | Sort-Object
        $b = $ss | ForEach-Object { Key $_.Local $_.LocalPort $_.Peer $_.PeerPort "$($_.State -eq 'ESTAB')|$($_.Process)|$($_.ProcessId)" } | Sort-Object
        $a | Should -Be $b
    }

    It 'joins the connected client socket to its masqueraded entry' {
        Assert-Prerequisite -Reason $script:SkipReason
        $u = @(Get-NetUDPEndpoint -NetworkNamespace $Lab.Client -RemotePort 5353 -IncludeProcess)
        $u.Count | Should -Be 1
        $u[0].Connected | Should -BeTrue
        $u[0].OwningProcessName | Should -Be 'nc'
        $u[0].ConntrackEntry.Protocol | Should -Be 'udp'
        $u[0].TranslatedLocalPort | Should -Be $u[0].ConntrackEntry.TranslatedSourcePort
        $srv = @(Get-NetUDPEndpoint -NetworkNamespace $Lab.Server -LocalPort 5353 -IncludeProcess)
        $srv.Count | Should -Be 1
        $srv[0].Connected | Should -BeFalse
        $srv[0].OwningProcess | Should -Be $ServerProcess.Id
        $srv[0].ConntrackEntry | Should -BeNullOrEmpty
    }
}
