#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    The table cmdlets' selectors, refusals and change semantics (issues 10 and 12): every bad or contradictory
    input is refused with its error id before the kernel is asked; lists, reply tuple, translation, ICMP fields and
    whole-tuple lookups select what Where-Object on the full table selects. Private namespaces; needs root.
#>

BeforeDiscovery {
    $refusals = @(
        @{ Name = 'Get: unknown state'; Command = 'Get-Conntrack'; Params = @{ State = 'BOGUS' }; Id = 'InvalidState' }
        @{ Name = 'Get: empty state'; Command = 'Get-Conntrack'; Params = @{ State = '' }; Id = 'InvalidState' }
        @{ Name = 'Get: wildcard state'; Command = 'Get-Conntrack'; Params = @{ State = 'EST*' }; Id = 'InvalidState' }
        @{ Name = 'Get: udp with a TCP state'; Command = 'Get-Conntrack'; Params = @{ Protocol = 'udp'; State = 'ESTABLISHED' }; Id = 'ContradictorySelection' }
        @{ Name = 'Get: IPv4 family with an IPv6 address'; Command = 'Get-Conntrack'; Params = @{ AddressFamily = 'IPv4'; SourceAddress = '::1' }; Id = 'ContradictorySelection' }
        @{ Name = 'Get: addresses of two families'; Command = 'Get-Conntrack'; Params = @{ SourceAddress = '2.2.2.2'; DestinationAddress = '::1' }; Id = 'ContradictorySelection' }
        @{ Name = 'Get: icmp with a port'; Command = 'Get-Conntrack'; Params = @{ Protocol = 'icmp'; DestinationPort = 80 }; Id = 'ContradictorySelection' }
        @{ Name = 'Get: ICMP id on tcp'; Command = 'Get-Conntrack'; Params = @{ Protocol = 'tcp'; IcmpId = 3 }; Id = 'ContradictorySelection' }
        @{ Name = 'Get: port 0'; Command = 'Get-Conntrack'; Params = @{ DestinationPort = 0 }; Id = 'InvalidPort' }
        @{ Name = 'Get: reply port out of range'; Command = 'Get-Conntrack'; Params = @{ ReplySourcePort = 65536 }; Id = 'InvalidPort' }
        @{ Name = 'Get: unknown protocol'; Command = 'Get-Conntrack'; Params = @{ Protocol = 'tcp', 'foo' }; Id = 'InvalidProtocol' }
        @{ Name = 'Get: unknown label name'; Command = 'Get-Conntrack'; Params = @{ Label = 'no-such-label' }; Id = 'InvalidLabel' }
        @{ Name = 'Watch: udp with a TCP state'; Command = 'Watch-Conntrack'; Params = @{ Protocol = 'udp'; State = 'SYN_SENT'; Duration = 1 }; Id = 'ContradictorySelection' }
        @{ Name = 'New: timeout -1'; Command = 'New-Conntrack'; Params = @{ Protocol = 'udp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; Timeout = -1 }; Id = 'InvalidTimeout' }
        @{ Name = 'New: timeout 0'; Command = 'New-Conntrack'; Params = @{ Protocol = 'udp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; Timeout = 0 }; Id = 'InvalidTimeout' }
        @{ Name = 'New: timeout 99999999999'; Command = 'New-Conntrack'; Params = @{ Protocol = 'udp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; Timeout = 99999999999 }; Id = 'InvalidTimeout' }
        @{ Name = 'New: port 0'; Command = 'New-Conntrack'; Params = @{ Protocol = 'udp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 0; DestinationPort = 2 }; Id = 'InvalidPort' }
        @{ Name = 'New: icmp with ports'; Command = 'New-Conntrack'; Params = @{ Protocol = 'icmp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2 }; Id = 'InvalidPort' }
        @{ Name = 'New: ICMP id on tcp'; Command = 'New-Conntrack'; Params = @{ Protocol = 'tcp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; IcmpId = 5 }; Id = 'InvalidArgument' }
        @{ Name = 'New: a status the kernel owns'; Command = 'New-Conntrack'; Params = @{ Protocol = 'udp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; Status = 'Dying' }; Id = 'InvalidStatus' }
        @{ Name = 'New: offload status'; Command = 'New-Conntrack'; Params = @{ Protocol = 'udp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; Status = 'Offload' }; Id = 'InvalidStatus' }
        @{ Name = 'New: a state of another protocol'; Command = 'New-Conntrack'; Params = @{ Protocol = 'tcp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; SourcePort = 1; DestinationPort = 2; State = 'COOKIE_WAIT' }; Id = 'InvalidState' }
        @{ Name = 'New: bracketed IPv6'; Command = 'New-Conntrack'; Params = @{ Protocol = 'tcp'; SourceAddress = '[2001:db8::1]'; DestinationAddress = '2001:db8::2'; SourcePort = 1; DestinationPort = 2 }; Id = 'InvalidAddress' }
        @{ Name = 'New: a NAT address of the other family'; Command = 'New-Conntrack'; Params = @{ Protocol = 'tcp'; SourceAddress = '10.0.0.1'; DestinationAddress = '10.0.0.2'; ReplyDestinationAddress = 'fd00::1'; SourcePort = 1; DestinationPort = 2 }; Id = 'InvalidAddress' }
        @{ Name = 'New: icmp with IPv6 addresses'; Command = 'New-Conntrack'; Params = @{ Protocol = 'icmp'; SourceAddress = 'fd00::1'; DestinationAddress = 'fd00::2' }; Id = 'InvalidProtocol' }
        @{ Name = 'Set: a status the kernel owns'; Command = 'Set-Conntrack'; Params = @{ DestinationPort = 9; Status = 'Dying' }; Id = 'InvalidStatus' }
        @{ Name = 'Set: timeout 0'; Command = 'Set-Conntrack'; Params = @{ DestinationPort = 9; Timeout = 0 }; Id = 'InvalidTimeout' }
        @{ Name = 'Set: nothing to change'; Command = 'Set-Conntrack'; Params = @{ DestinationPort = 9 }; Id = 'InvalidArgument' }
        @{ Name = 'Set: a mask without a mark'; Command = 'Set-Conntrack'; Params = @{ DestinationPort = 9; MarkMask = 3 }; Id = 'InvalidArgument' }
        @{ Name = 'Remove: a selection that can never match'; Command = 'Remove-Conntrack'; Params = @{ Protocol = 'icmp'; SourcePort = 1 }; Id = 'ContradictorySelection' }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Not root, or no conntrack: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command conntrack
    if ($script:SkipReason) { return }
    $script:ns = New-TestNamespace 'sel'
    $script:ns2 = New-TestNamespace 'sel2'
    function Reset-Table {
        foreach ($n in $ns, $ns2) { & ip netns exec $n conntrack -F 2>$null | Out-Null }
        $common = @{ NetworkNamespace = $ns; Timeout = 300 }
        New-Conntrack @common tcp -SourceAddress 192.168.11.7 -DestinationAddress 10.232.3.28 -SourcePort 33862 -DestinationPort 8899 -ReplyDestinationPort 31445 -State ESTABLISHED -Status SeenReply, Assured
        New-Conntrack @common tcp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.2 -SourcePort 1000 -DestinationPort 443 -State SYN_SENT
        New-Conntrack @common tcp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.3 -SourcePort 1001 -DestinationPort 80 -State SYN_RECV -Mark 0xffffffff
        New-Conntrack @common udp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.4 -SourcePort 1002 -DestinationPort 53 -ReplySourceAddress 10.99.0.53
        New-Conntrack @common icmp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.5 -IcmpId 77
        New-Conntrack @common icmpv6 -SourceAddress fd00::1 -DestinationAddress fd00::5 -IcmpId 78 -Zone 4
        New-Conntrack @common udp -SourceAddress fd00::1 -DestinationAddress fd00::6 -SourcePort 5 -DestinationPort 53 -ReplyDestinationAddress fd00::99
        New-Conntrack @common igmp -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22
    }
    function Get-Key { process { "$($_.Protocol) $($_.Original) | $($_.Reply) z$($_.Zone)" } }
}
AfterAll { if ($script:SkipReason) { return }; Remove-TestNamespace @($script:ns, $script:ns2) }

Describe 'Refusals before the kernel is asked' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }

    It '<Name> is <Id>' -ForEach $refusals {
        $p = $Params.Clone(); $p.NetworkNamespace = $ns
        { & $Command @p -ErrorAction Stop } | Should -Throw -ErrorId "$Id,ConntrackTools.Commands.$($Command -replace '-', '')Command"
    }

    It 'refuses piped entries together with selectors (Remove and Set), naming both' {
        Reset-Table
        { Get-Conntrack -NetworkNamespace $ns | Remove-Conntrack -NetworkNamespace $ns -Protocol tcp -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.RemoveConntrackCommand' -ExpectedMessage '*either entries from the pipeline or selectors*'
        { Get-Conntrack -NetworkNamespace $ns | Set-Conntrack -NetworkNamespace $ns -Protocol tcp -Mark 1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.SetConntrackCommand'
        @(Get-Conntrack -NetworkNamespace $ns).Count | Should -Be 8
    }
}

Describe 'Selections' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; Reset-Table; $script:all = @(Get-Conntrack -NetworkNamespace $ns) }

    It 'lists of values select any of them: <Label>' -ForEach @(
        @{ Label = 'protocols'; Params = @{ Protocol = 'tcp', 'udp' }; Where = { $_.Protocol -in 'tcp', 'udp' } }
        @{ Label = 'ports'; Params = @{ DestinationPort = 80, 443 }; Where = { $_.DestinationPort -in 80, 443 } }
        @{ Label = 'states'; Params = @{ State = 'SYN_SENT', 'SYN_RECV' }; Where = { $_.State -in 'SYN_SENT', 'SYN_RECV' } }
        @{ Label = 'NAT types'; Params = @{ NatType = 'Source', 'Destination' }; Where = { "$($_.NatType)" -in 'Source', 'Destination' } }
        @{ Label = 'reply source'; Params = @{ ReplySourceAddress = '10.99.0.53' }; Where = { $_.Reply.SourceAddress -eq '10.99.0.53' } }
        @{ Label = 'reply source, no kernel filter'; Params = @{ ReplySourceAddress = '10.99.0.53'; NoKernelFilter = $true }; Where = { $_.Reply.SourceAddress -eq '10.99.0.53' } }
        @{ Label = 'translated source port'; Params = @{ Protocol = 'tcp'; TranslatedSourcePort = 31445 }; Where = { $_.TranslatedSourcePort -eq 31445 } }
        @{ Label = 'translated IPv6 source'; Params = @{ TranslatedSourceAddress = 'fd00::99' }; Where = { $_.TranslatedSourceAddress -eq 'fd00::99' } }
        @{ Label = 'translated destination prefix'; Params = @{ TranslatedDestinationAddress = '10.99.0.0/16' }; Where = { $_.TranslatedDestinationAddress -like '10.99.*' } }
        @{ Label = 'ICMP id'; Params = @{ Protocol = 'icmp'; IcmpId = 77 }; Where = { $_.Original.IcmpId -eq 77 -and $_.Protocol -eq 'icmp' } }
        @{ Label = 'ICMP type without a protocol'; Params = @{ IcmpType = 128 }; Where = { $_.Original.IcmpType -eq 128 } }
        @{ Label = 'original zone'; Params = @{ OriginalZone = 4 }; Where = { $_.Zone -eq 4 } }
        @{ Label = 'protocol from /etc/protocols'; Params = @{ Protocol = 'igmp' }; Where = { $_.Original.ProtocolNumber -eq 2 } }
        @{ Label = 'mark 0xffffffff'; Params = @{ Mark = 0xffffffff }; Where = { $_.Mark -eq [uint32]::MaxValue } }
    ) {
        $expected = @($all | Where-Object $Where | Get-Key | Sort-Object)
        $expected.Count | Should -BeGreaterThan 0
        @(Get-Conntrack -NetworkNamespace $ns @Params | Get-Key | Sort-Object) | Should -Be $expected
    }

    It 'says in -Verbose that the reply tuple ran in the kernel and a prefix with host bits was read as the prefix' {
        $v = Get-Conntrack -NetworkNamespace $ns -Protocol udp -ReplySourceAddress 10.99.0.53 -SourceAddress 10.9.0.7/16 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        ($v -join "`n") | Should -Match 'Kernel filter: .*reply src 10\.99\.0\.53'
        ($v -join "`n") | Should -Match "'10\.9\.0\.7/16' has bits set after the prefix length; selecting 10\.9\.0\.0/16"
    }

    It 'answers a whole tuple with one lookup (CT_GET), in the zone given' {
        $v = Get-Conntrack -NetworkNamespace $ns -Protocol icmpv6 -SourceAddress fd00::1 -DestinationAddress fd00::5 -IcmpType 128 -IcmpCode 0 -IcmpId 78 -Zone 4 -Verbose 4>&1
        $entries = @($v | Where-Object { $_ -is [ConntrackTools.ConntrackEntry] })
        $entries.Count | Should -Be 1
        $entries[0].Zone | Should -Be 4
        ($v | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n" | Should -Match 'one CT_GET lookup, no dump'
        @(Get-Conntrack -NetworkNamespace $ns -Protocol icmpv6 -SourceAddress fd00::1 -DestinationAddress fd00::5 -IcmpType 128 -IcmpCode 0 -IcmpId 78).Count | Should -Be 0 -Because 'without -Zone the lookup is in zone 0, as conntrack -G'
        $byReply = @(Get-Conntrack -NetworkNamespace $ns -Protocol tcp -ReplySourceAddress 10.232.3.28 -ReplyDestinationAddress 192.168.11.7 -ReplySourcePort 8899 -ReplyDestinationPort 31445)
        $byReply.SourcePort | Should -Be 33862
    }

    It 'completes -Protocol with the names of /etc/protocols' {
        $line = 'Get-Conntrack -Protocol ig'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'igmp'
    }
}

Describe 'Changes' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason; Reset-Table }

    It 'Remove-Conntrack and Set-Conntrack write a non-terminating EntryNotFound when nothing matches' {
        Remove-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 9 -ErrorVariable err -ErrorAction SilentlyContinue
        $? | Should -BeFalse
        $err[0].FullyQualifiedErrorId | Should -Be 'EntryNotFound,ConntrackTools.Commands.RemoveConntrackCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Set-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 9 -Mark 1 -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -Be 'EntryNotFound,ConntrackTools.Commands.SetConntrackCommand'
        { Remove-Conntrack -NetworkNamespace $ns -Mark 12345 -ErrorAction Stop } | Should -Throw -ErrorId 'EntryNotFound,ConntrackTools.Commands.RemoveConntrackCommand'
    }

    It 'counts entries that vanished meanwhile in -Verbose instead of an error each' {
        $stale = @(Get-Conntrack -NetworkNamespace $ns -Protocol tcp)
        & ip netns exec $ns conntrack -D -p tcp --dport 443 2>$null | Out-Null
        $v = $stale | Remove-Conntrack -NetworkNamespace $ns -Verbose -ErrorVariable err 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        $err | Should -BeNullOrEmpty
        ($v -join "`n") | Should -Match "Removed $($stale.Count - 1) conntrack entries; 1 were already gone"
    }

    It 'Set-Conntrack changes mark bits under a mask, adds status, leaves piped objects alone and passes fresh ones' {
        $before = Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 80
        $after = $before | Set-Conntrack -NetworkNamespace $ns -Mark 0 -MarkMask 0xffff0000 -Status FixedTimeout -PassThru
        $before.Mark | Should -Be ([uint32]::MaxValue)
        $before.Status.HasFlag([ConntrackTools.ConntrackStatus]::FixedTimeout) | Should -BeFalse
        $after.Mark | Should -Be 0xffff
        $after.Status.HasFlag([ConntrackTools.ConntrackStatus]::FixedTimeout) | Should -BeTrue
        (& ip netns exec $ns conntrack -L -p tcp --dport 80 2>$null) -join '' | Should -Match 'mark=65535'
    }

    It 'New-Conntrack creates with a status (Confirmed is added for the kernel), -Force updates, -PassThru reads back' {
        $e = New-Conntrack -NetworkNamespace $ns tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -PassThru
        $e.State | Should -Be 'SYN_SENT2'
        $e.Status.HasFlag([ConntrackTools.ConntrackStatus]::SeenReply) | Should -BeTrue
        { New-Conntrack -NetworkNamespace $ns tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Timeout 50 -ErrorAction Stop } |
            Should -Throw -ErrorId 'EntryExists,ConntrackTools.Commands.NewConntrackCommand' -ExpectedMessage '*already exists*'
        $u = New-Conntrack -NetworkNamespace $ns tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Timeout 50 -Mark 5 -Force -PassThru
        $u.Mark | Should -Be 5
    }

    It 'New-Conntrack re-creates a whole table from Get-Conntrack in another namespace' {
        Get-Conntrack -NetworkNamespace $ns | New-Conntrack -NetworkNamespace $ns2
        $a = @(Get-Conntrack -NetworkNamespace $ns | ForEach-Object { "$($_ | Get-Key) m$($_.Mark) $($_.State)" } | Sort-Object)
        $b = @(Get-Conntrack -NetworkNamespace $ns2 | ForEach-Object { "$($_ | Get-Key) m$($_.Mark) $($_.State)" } | Sort-Object)
        $b | Should -Be $a
    }

    It 'Clear-Conntrack -AddressFamily IPv6 leaves the IPv4 entries' {
        Clear-Conntrack -NetworkNamespace $ns -AddressFamily IPv6 -Confirm:$false
        @(Get-Conntrack -NetworkNamespace $ns -AddressFamily IPv6).Count | Should -Be 0
        @(Get-Conntrack -NetworkNamespace $ns -AddressFamily IPv4).Count | Should -Be 6
    }
}
