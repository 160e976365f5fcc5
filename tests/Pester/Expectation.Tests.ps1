#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    The expectation table with a real FTP control connection: a client and a server namespace (ctt-*) joined by a
    veth pair, the kernel's FTP helper assigned with an nft 'ct helper' rule in the server's namespace, and the tiny
    FTP server and client of ftp-lab.py, both inside the test namespaces. Compared with 'conntrack -L expect' in the
    same namespace. Needs root.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Not root, or a program missing: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command conntrack, nft, python3
    $script:ftpLab = Join-Path $PSScriptRoot 'ftp-lab.py'

    function Start-InNamespace {
        # Starts python3 ftp-lab.py inside a namespace with stdin/stdout redirected; returns the process.
        param([string] $Namespace, [string[]] $Arguments)
        $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
        foreach ($a in @('netns', 'exec', $Namespace, '/usr/bin/python3', $ftpLab) + $Arguments) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardInput = $true
        [System.Diagnostics.Process]::Start($psi)
    }

    function Get-ExpectText {
        # 'conntrack -L expect' of a namespace, both families (conntrack lists IPv4 only unless told -f ipv6).
        param([string] $Namespace)
        @(& ip netns exec $Namespace conntrack -L expect 2>$null) + @(& ip netns exec $Namespace conntrack -L expect -f ipv6 2>$null)
    }

    function ConvertFrom-ExpectLine {
        # One 'conntrack -L expect' line: timeout proto=6 src= dst= sport= dport= mask-src= mask-dst= sport= dport=
        # master-src= master-dst= sport= dport= [flags] class= helper=
        param([string] $Line)
        $t = $Line -split '\s+'
        $kv = [ordered]@{}
        $section = 'expected'
        foreach ($x in $t[1..($t.Count - 1)]) {
            if ($x -notmatch '^([a-z-]+)=(.*)$') { continue }
            $k = $Matches[1]; $v = $Matches[2]
            if ($k -eq 'mask-src') { $section = 'mask' }
            if ($k -eq 'master-src') { $section = 'master' }
            $kv["$section.$k"] = $v
        }
        $kv['timeout'] = [int]$t[0]
        [pscustomobject]$kv
    }
}

Describe 'Expectations of the FTP helper' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:client = New-TestNamespace 'xe-c'
        $script:server = New-TestNamespace 'xe-s'
        $script:procs = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()
        $suffix = $client.Substring($client.Length - 6)
        Invoke-Checked ip link add "ec$suffix" netns $client type veth peer name "es$suffix" netns $server | Out-Null
        Invoke-Checked ip -n $client addr add 10.79.0.1/24 dev "ec$suffix" | Out-Null
        Invoke-Checked ip -n $client addr add fd00:79::1/64 dev "ec$suffix" nodad | Out-Null
        Invoke-Checked ip -n $server addr add 10.79.0.2/24 dev "es$suffix" | Out-Null
        Invoke-Checked ip -n $server addr add fd00:79::2/64 dev "es$suffix" nodad | Out-Null
        Invoke-Checked ip -n $client link set "ec$suffix" up | Out-Null
        Invoke-Checked ip -n $server link set "es$suffix" up | Out-Null
        Invoke-InNamespace $server nft 'add table inet ctt; add ct helper inet ctt ftp-std { type "ftp" protocol tcp; }; add chain inet ctt pre { type filter hook prerouting priority 0; }; add rule inet ctt pre tcp dport 21 ct helper set "ftp-std"' | Out-Null
        foreach ($addr in '10.79.0.2', 'fd00:79::2') {
            $p = Start-InNamespace $server @('server', $addr, '21')
            $procs.Add($p)
            $p.StandardOutput.ReadLine() | Should -Be 'listening'
        }
        # Control connections that announce data ports 50123 (227, IPv4) and 50124 (229, IPv6), and stay open.
        $script:ftp = @{}
        foreach ($c in @(@('10.79.0.2', 50123), @('fd00:79::2', 50124))) {
            $p = Start-InNamespace $client @('client', $c[0], '21', "$($c[1])")
            $procs.Add($p)
            $reply, $localAddress, $localPort = $p.StandardOutput.ReadLine() -split "`t"
            $ftp[$c[1]] = [pscustomobject]@{ Reply = $reply; LocalPort = [int]$localPort }
        }
        Wait-Until { @(Get-ExpectText $server).Count -ge 2 } -Because 'the FTP helper creates two expectations'
    }

    AfterAll {
        if ($script:SkipReason) { return }
        foreach ($p in $procs) { if (-not $p.HasExited) { $p.Kill(); $p.WaitForExit(2000) | Out-Null }; $p.Dispose() }
        Remove-TestNamespace $client, $server
    }

    It 'shows the expectation the FTP helper created after "<Reply>"' -ForEach @(
        @{ Port = 50123; Family = 'IPv4'; ClientAddress = '10.79.0.1'; ServerAddress = '10.79.0.2'; Ones = '255.255.255.255'; Reply = '227' }
        @{ Port = 50124; Family = 'IPv6'; ClientAddress = 'fd00:79::1'; ServerAddress = 'fd00:79::2'; Ones = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'; Reply = '229' }
    ) {
        $ftp[$Port].Reply | Should -Match "^$Reply "
        $x = @(Get-ConntrackExpectation -NetworkNamespace $server -Helper ftp | Where-Object DestinationPort -EQ $Port)
        $x.Count | Should -Be 1
        $x = $x[0]
        $x | Should -BeOfType ConntrackTools.ConntrackExpectation
        $x.AddressFamily | Should -Be $Family
        $x.Protocol | Should -Be 'tcp'
        $x.Helper | Should -Be 'ftp'
        $x.Expected.SourceAddress | Should -Be $ClientAddress
        $x.Expected.DestinationAddress | Should -Be $ServerAddress
        $x.SourcePort | Should -BeNullOrEmpty -Because 'any source port matches'
        $x.Mask.SourceAddress | Should -Be $Ones
        $x.Mask.DestinationPort | Should -Be 65535
        $x.Master.SourceAddress | Should -Be $ClientAddress
        $x.Master.SourcePort | Should -Be $ftp[$Port].LocalPort
        $x.Master.DestinationPort | Should -Be 21
        $x.NetworkNamespace | Should -Be $server
        # conntrack -L expect in the same namespace sees the same expectation.
        $line = @(Get-ExpectText $server | Where-Object { $_ -match "dport=$Port " })
        $line.Count | Should -Be 1
        $ref = ConvertFrom-ExpectLine $line[0]
        $ref.'expected.proto' | Should -Be '6'
        $ref.'expected.src' | Should -Be $x.Expected.SourceAddress
        $ref.'expected.dst' | Should -Be $x.Expected.DestinationAddress
        $ref.'expected.sport' | Should -Be "$($x.Expected.SourcePort)"
        $ref.'mask.mask-src' | Should -Be $x.Mask.SourceAddress
        $ref.'mask.dport' | Should -Be "$($x.Mask.DestinationPort)"
        $ref.'master.master-src' | Should -Be $x.Master.SourceAddress
        $ref.'master.sport' | Should -Be "$($x.Master.SourcePort)"
        $ref.'master.helper' | Should -Be 'ftp'
        $ref.'master.class' | Should -Be "$($x.Class)"
        [math]::Abs($ref.timeout - $x.Timeout.TotalSeconds) | Should -BeLessOrEqual 2
    }

    It 'filters by helper, protocol and family in user space, and says so' {
        @(Get-ConntrackExpectation -NetworkNamespace $server -AddressFamily IPv6).DestinationPort | Should -Be 50124
        @(Get-ConntrackExpectation -NetworkNamespace $server -Protocol udp).Count | Should -Be 0
        @(Get-ConntrackExpectation -NetworkNamespace $server -Helper sip).Count | Should -Be 0
        $verbose = Get-ConntrackExpectation -NetworkNamespace $server -Helper ftp -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        "$verbose" | Should -Match 'user space'
    }

    It 'creates an expectation by hand, seen by conntrack -L expect, and removes it' {
        $master = @(Get-Conntrack -NetworkNamespace $server -Protocol tcp -DestinationPort 21 -AddressFamily IPv4)
        $master.Count | Should -Be 1
        $master[0].Helper | Should -Be 'ftp'
        $made = @($master | New-ConntrackExpectation -NetworkNamespace $server -Protocol udp -DestinationPort 5004 -Timeout 120 -Flags Permanent -PassThru)
        $made.Count | Should -Be 1
        $made[0].Protocol | Should -Be 'udp'
        $made[0].Flags | Should -Be 'Permanent'
        $made[0].Master.SourcePort | Should -Be $master[0].SourcePort
        $line = @(Get-ExpectText $server | Where-Object { $_ -match 'proto=17 .*dport=5004 ' })
        $line.Count | Should -Be 1
        $line[0] | Should -Match 'PERMANENT'
        $line[0] | Should -Match "master-src=10.79.0.1 master-dst=10.79.0.2 sport=$($master[0].SourcePort) dport=21"
        # The FTP helper allows one expectation per master: the hand-made one replaced the helper's.
        @(Get-ConntrackExpectation -NetworkNamespace $server -AddressFamily IPv4).Count | Should -Be 1

        Get-ConntrackExpectation -NetworkNamespace $server -Protocol udp | Remove-ConntrackExpectation -NetworkNamespace $server -Confirm:$false
        @(Get-ExpectText $server | Where-Object { $_ -match 'dport=5004 ' }).Count | Should -Be 0
    }

    It '-WhatIf creates and removes nothing' {
        $strip = { param($lines) @($lines | ForEach-Object { $_ -replace '^\d+ ', '' }) }  # the timeout ticks
        $before = & $strip (Get-ExpectText $server)
        Get-Conntrack -NetworkNamespace $server -Protocol tcp -DestinationPort 21 -AddressFamily IPv6 |
            New-ConntrackExpectation -NetworkNamespace $server -DestinationPort 40000 -Timeout 60 -WhatIf
        Get-ConntrackExpectation -NetworkNamespace $server | Remove-ConntrackExpectation -NetworkNamespace $server -WhatIf
        Remove-ConntrackExpectation -NetworkNamespace $server -All -WhatIf
        & $strip (Get-ExpectText $server) | Should -Be $before
    }

    It 'gives the usual errors' {
        $withHelper = Get-Conntrack -NetworkNamespace $server -Protocol tcp -DestinationPort 21 -AddressFamily IPv6
        { $withHelper | New-ConntrackExpectation -NetworkNamespace $server -DestinationPort 70000 -Timeout 60 } |
            Should -Throw -ErrorId 'InvalidPort,ConntrackTools.Commands.NewConntrackExpectationCommand'
        { $withHelper | New-ConntrackExpectation -NetworkNamespace $server -DestinationPort 4000 -DestinationAddress 10.0.0.1 -Timeout 60 } |
            Should -Throw -ErrorId 'InvalidAddress,ConntrackTools.Commands.NewConntrackExpectationCommand'
        { $withHelper | New-ConntrackExpectation -NetworkNamespace $server -DestinationPort 4000 -Timeout 0 } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.NewConntrackExpectationCommand'
        # A master without a helper, and one that does not exist (another namespace's entry).
        $plain = New-Conntrack -NetworkNamespace $server -Protocol tcp -SourceAddress 10.79.9.1 -DestinationAddress 10.79.9.2 -SourcePort 1000 -DestinationPort 21 -Timeout 60 -PassThru
        { $plain | New-ConntrackExpectation -NetworkNamespace $server -DestinationPort 4000 -Timeout 60 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.NewConntrackExpectationCommand'
        { $plain | New-ConntrackExpectation -NetworkNamespace $client -DestinationPort 4000 -Timeout 60 -ErrorAction Stop } |
            Should -Throw -ErrorId 'EntryNotFound,ConntrackTools.Commands.NewConntrackExpectationCommand'
        $gone = Get-ConntrackExpectation -NetworkNamespace $server -AddressFamily IPv6
        $gone | Remove-ConntrackExpectation -NetworkNamespace $server -Confirm:$false
        { $gone | Remove-ConntrackExpectation -NetworkNamespace $server -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'EntryNotFound,ConntrackTools.Commands.RemoveConntrackExpectationCommand'
        { Get-ConntrackExpectation -NetworkNamespace 'ctt-does-not-exist' } |
            Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.GetConntrackExpectationCommand'
    }

    It 'removes every expectation of a helper in one request' {
        $master = Get-Conntrack -NetworkNamespace $server -Protocol tcp -DestinationPort 21 -AddressFamily IPv6
        $master | New-ConntrackExpectation -NetworkNamespace $server -DestinationPort 40001 -Timeout 60
        @(Get-ConntrackExpectation -NetworkNamespace $server -Helper ftp).Count | Should -BeGreaterThan 0
        Remove-ConntrackExpectation -NetworkNamespace $server -Helper ftp -Confirm:$false
        @(Get-ExpectText $server).Count | Should -Be 0
    }
}
