#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Test-VipMigration and Test-ConntrackHealth against the real kernel. Sandbox runs make their own ctt-vip-*
    namespaces; interface-mode and health tests use ctt-* namespaces made here. Needs root.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Not root, or a program missing: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command conntrack, nft

    function Get-SandboxNamespace { @(& ip netns list | ForEach-Object { ($_ -split ' ')[0] } | Where-Object { $_ -like 'ctt-vip-*' }) }

    function Start-InRunspace {
        # Runs a script in a background runspace with the module loaded; returns the PowerShell and its async handle.
        param([string] $Script)
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; $Script")
        [pscustomobject]@{ PowerShell = $ps; Handle = $ps.BeginInvoke() }
    }
}

Describe 'Test-VipMigration in the sandbox' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:fixed = Test-VipMigration
        $script:legacy = Test-VipMigration -EmulateLegacyKernel -Connections 4
    }

    It 'passes on this kernel: nothing lost, nothing reset' {
        $fixed.Passed | Should -BeTrue -Because $fixed.Verdict
        $fixed.Mode | Should -Be 'Sandbox'
        $fixed.Connections | Should -Be 8
        $fixed.EntriesBefore | Should -BeGreaterOrEqual 8
        $fixed.EntriesAfter | Should -Be $fixed.EntriesBefore
        $fixed.EntriesLost | Should -BeNullOrEmpty
        $fixed.ConnectionsReset | Should -Be 0
        $fixed.Remaps | Should -BeNullOrEmpty
        $removed = @($fixed.AddressChanges | Where-Object Change -EQ 'Removed')
        $removed.Count | Should -Be 1
        $removed[0].Address | Should -BeExactly '192.168.11.100'
        $removed[0].DestroyedEntries | Should -Be 0
        $fixed.Verdict | Should -Match '^Passed'
        $fixed.KernelVersion | Should -Be (Get-Content /proc/sys/kernel/osrelease)
    }

    It 'fails with the emulated unfixed kernel: every connection lost and reset, and the verdict names the fix' {
        $legacy.Passed | Should -BeFalse
        $legacy.EmulatedLegacyKernel | Should -BeTrue
        $legacy.Connections | Should -Be 4
        @($legacy.EntriesLost).Count | Should -Be 4
        $legacy.ConnectionsReset | Should -Be 4
        # The capture on the uplink saw each flow continue from a new source port, answered with RST.
        @($legacy.Remaps).Count | Should -Be 4
        $legacy.Remaps | ForEach-Object {
            $_.ResetSeen | Should -BeTrue
            $_.NewSourcePort | Should -Not -Be $_.OldSourcePort
            $_.ServerPort | Should -Be 8899
            $_.ClientAddress | Should -BeExactly '192.168.11.7'
        }
        # The removal carries the entries destroyed with it, none of which used the VIP.
        $removed = @($legacy.AddressChanges | Where-Object Change -EQ 'Removed')
        $removed.Count | Should -Be 1
        $removed[0].DestroyedEntries | Should -Be 4
        $removed[0].DestroyedUnrelated | Should -Be 4
        # The old ports on the wire are exactly the translated ports of the lost entries.
        ($legacy.Remaps.OldSourcePort | Sort-Object) | Should -Be ($legacy.EntriesLost.TranslatedSourcePort | Sort-Object)
        $legacy.Verdict | Should -Match "don't flush all conntracks if only one address deleted on device"
        $legacy.Verdict | Should -Match 'keep VIPs off the masquerading device'
        $legacy.EntriesLost | ForEach-Object { $_.NatType | Should -Be 'Source' }
    }

    It 'keeps a timeline of what it did and saw' {
        $actions = $legacy.Steps.Action
        $actions | Should -Contain 'Add VIP'
        $actions | Should -Contain 'Delete VIP'
        $actions | Should -Contain 'Emulate unfixed kernel'
        $actions | Should -Contain 'Push data'
        $actions | Should -Contain 'Capture'
        $actions | Should -Contain 'Address removed'
        $times = $legacy.Steps.Time
        ($times | Sort-Object) | Should -Be $times
    }

    It 'leaves no sandbox namespace behind' {
        Get-SandboxNamespace | Should -BeNullOrEmpty
    }

    It 'stops on Ctrl+C during the hold and removes the sandbox' {
        $run = Start-InRunspace 'Test-VipMigration -HoldTime 60'
        try {
            Wait-Until { (Get-SandboxNamespace).Count -eq 3 -and (& ip -n (Get-SandboxNamespace | Where-Object { $_ -like '*-client' }) addr 2>$null) -match '192\.168\.11\.100' } 'the sandbox to hold the VIP' -TimeoutSeconds 30
            $ps = $run.PowerShell
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            Get-SandboxNamespace | Should -BeNullOrEmpty
        }
        finally { $run.PowerShell.Dispose() }
    }

    It 'refuses a bad address with InvalidAddress (InvalidArgument)' {
        { Test-VipMigration -Address 'not-an-ip' } | Should -Throw -ErrorId 'InvalidAddress,ConntrackTools.Commands.TestVipMigrationCommand'
    }

    It 'refuses -NetworkNamespace without -InterfaceName' {
        { Test-VipMigration -NetworkNamespace ctt-x } | Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.TestVipMigrationCommand'
    }

    It 'reports PermissionDenied without CAP_NET_ADMIN' {
        $pwsh = Get-PwshCommand
        $script = "Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; try { Test-VipMigration } catch { `$_.FullyQualifiedErrorId }"
        $out = & setpriv --bounding-set '-net_admin,-sys_admin' -- @pwsh -NoProfile -NonInteractive -Command $script
        $out | Should -Be 'PermissionDenied,ConntrackTools.Commands.TestVipMigrationCommand'
        Get-SandboxNamespace | Should -BeNullOrEmpty
    }
}

Describe 'Test-VipMigration on an interface' {
    BeforeEach {
        Assert-Prerequisite -Reason $script:SkipReason
        # A veth pair kept inside one namespace stands in for a real uplink (the dummy link type is not available).
        $script:ns = New-TestNamespace 'if'
        Invoke-Checked ip -n $ns link add ctt-up type veth peer name ctt-peer | Out-Null
        Invoke-Checked ip -n $ns addr add 192.168.50.7/24 dev ctt-up | Out-Null
        Invoke-Checked ip -n $ns link set ctt-up up | Out-Null
        Invoke-Checked ip -n $ns link set ctt-peer up | Out-Null
        # Masqueraded entries on the device (reply addressed to the device's address) and one unrelated entry.
        Invoke-InNamespace $ns conntrack -I -p tcp -s 10.244.0.5 -d 10.232.3.28 --sport 40000 --dport 8899 -r 10.232.3.28 -q 192.168.50.7 --reply-port-src 8899 --reply-port-dst 31445 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 600 | Out-Null
        Invoke-InNamespace $ns conntrack -I -p udp -s 10.244.0.6 -d 10.232.3.29 --sport 5000 --dport 53 -r 10.232.3.29 -q 192.168.50.7 --reply-port-src 53 --reply-port-dst 31446 -t 600 | Out-Null
        Invoke-InNamespace $ns conntrack -I -p udp -s 10.1.0.1 -d 10.1.0.2 --sport 1 --dport 2 -t 600 | Out-Null
        function script:Get-UplinkAddress { (& ip -n $ns -o addr show dev ctt-up) -join "`n" }
    }
    AfterEach { if ($script:SkipReason) { return }; Remove-TestNamespace $script:ns }

    It 'adds and deletes the address and judges the entries masqueraded on the device' {
        $r = Test-VipMigration -NetworkNamespace $ns -InterfaceName ctt-up -Address 192.168.50.100/32 -HoldTime 0 -Confirm:$false
        $r.Mode | Should -Be 'Interface'
        $r.Passed | Should -BeTrue -Because $r.Verdict
        $r.Connections | Should -Be 2
        $r.EntriesBefore | Should -Be 3
        $r.InterfaceName | Should -Be 'ctt-up'
        $r.NetworkNamespace | Should -Be $ns
        ($r.Steps.Observation -join "`n") | Should -Match '192.168.50.100/32 added to ctt-up'
        Get-UplinkAddress | Should -Not -Match '192\.168\.50\.100'
    }

    It '-WhatIf changes nothing' {
        Test-VipMigration -NetworkNamespace $ns -InterfaceName ctt-up -Address 192.168.50.100/32 -WhatIf
        Get-UplinkAddress | Should -Not -Match '192\.168\.50\.100'
        @(Get-ConntrackText $ns).Count | Should -Be 3
    }

    It 'refuses an address that is already there, and leaves it' {
        Invoke-Checked ip -n $ns addr add 192.168.50.100/32 dev ctt-up | Out-Null
        { Test-VipMigration -NetworkNamespace $ns -InterfaceName ctt-up -Address 192.168.50.100/32 -Confirm:$false } |
            Should -Throw -ErrorId 'AddressExists,ConntrackTools.Commands.TestVipMigrationCommand'
        Get-UplinkAddress | Should -Match '192\.168\.50\.100'
    }

    It 'removes the address again when stopped in the middle' {
        $run = Start-InRunspace "Test-VipMigration -NetworkNamespace $ns -InterfaceName ctt-up -Address 192.168.50.100/32 -HoldTime 60 -Confirm:`$false"
        try {
            Wait-Until { (Get-UplinkAddress) -match '192\.168\.50\.100' } 'the VIP on the interface' -TimeoutSeconds 30
            $run.PowerShell.Stop()
            $run.PowerShell.InvocationStateInfo.State | Should -Be 'Stopped'
            Get-UplinkAddress | Should -Not -Match '192\.168\.50\.100'
        }
        finally { $run.PowerShell.Dispose() }
    }

    It 'reports an unknown interface as InterfaceNotFound' {
        { Test-VipMigration -NetworkNamespace $ns -InterfaceName nope0 -Address 192.168.50.100 -Confirm:$false } |
            Should -Throw -ErrorId 'InterfaceNotFound,ConntrackTools.Commands.TestVipMigrationCommand'
    }
}

Describe 'Test-ConntrackHealth' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:ns = New-TestNamespace 'hc'
        1..7 | ForEach-Object { Invoke-InNamespace $ns conntrack -I -p udp -s 10.1.0.$_ -d 10.2.0.1 --sport 1000 --dport 53 -t 600 | Out-Null }
        Invoke-InNamespace $ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 | Out-Null
        Invoke-InNamespace $ns nft 'add table ip t; add chain ip t p { type nat hook postrouting priority 100; }; add rule ip t p oifname lo masquerade; add rule ip t p oifname lo masquerade fully-random' | Out-Null
        $script:checks = @{}
        Test-ConntrackHealth -NetworkNamespace $ns | ForEach-Object { $checks[$_.Name] = $_ }
    }
    AfterAll { if ($script:SkipReason) { return }; Remove-TestNamespace $script:ns }

    It 'reports every check once' {
        $checks.Keys | Where-Object { $_ -notlike 'KernelAdvisory.*' } | Sort-Object | Should -Be @('Drop', 'EarlyDrop', 'HashBuckets', 'InsertFailed', 'MasqueradeRandomFully', 'TableFill', 'TcpLoose')
        # The kernel advisories (Health.Tests.ps1) are kernel-wide: no namespace.
        $checks.Values | Where-Object Name -notlike 'KernelAdvisory.*' | ForEach-Object { $_.Message | Should -Not -BeNullOrEmpty; $_.NetworkNamespace | Should -Be $ns }
    }

    It 'computes the fill ratio from conntrack -C and nf_conntrack_max' {
        $max = [double](Get-Content /proc/sys/net/netfilter/nf_conntrack_max)
        $count = [double](Invoke-InNamespace $ns conntrack -C)
        $checks.TableFill.Value | Should -Be ([math]::Round($count / $max, 4))
        $checks.TableFill.Threshold | Should -Be 0.8
        $checks.TableFill.Passed | Should -BeTrue
    }

    It 'fails TableFill when the threshold is below the fill ratio' {
        $tight = Test-ConntrackHealth -NetworkNamespace $ns -MaxFillRatio 0 | Where-Object Name -EQ 'TableFill'
        $tight.Passed | Should -BeFalse
        $tight.Message | Should -Match 'nf_conntrack_max'
    }

    It 'matches the counters of conntrack -S' {
        $lines = @(Invoke-InNamespace $ns conntrack -S)
        foreach ($pair in @(@('InsertFailed', 'insert_failed'), @('Drop', 'drop'), @('EarlyDrop', 'early_drop'))) {
            $sum = ($lines | ForEach-Object { if ($_ -match "\b$($pair[1])=(\d+)") { [uint64]$Matches[1] } } | Measure-Object -Sum).Sum
            $checks[$pair[0]].Value | Should -Be $sum
            $checks[$pair[0]].Passed | Should -Be ($sum -eq 0)
        }
    }

    It 'reads nf_conntrack_tcp_loose inside the namespace' {
        $checks.TcpLoose.Value | Should -Be 0
        $checks.TcpLoose.Passed | Should -BeFalse
        (Test-ConntrackHealth | Where-Object Name -EQ 'TcpLoose').Value | Should -Be ([int](Get-Content /proc/sys/net/netfilter/nf_conntrack_tcp_loose))
    }

    It 'compares nf_conntrack_max with the hash buckets' {
        $max = [double](Get-Content /proc/sys/net/netfilter/nf_conntrack_max)
        $buckets = [double](Get-Content /proc/sys/net/netfilter/nf_conntrack_buckets)
        $checks.HashBuckets.Value | Should -Be ([math]::Round($max / $buckets, 2))
    }

    It 'finds masquerade rules and the one without random-fully' {
        $checks.MasqueradeRandomFully.Value | Should -Be '2 masquerade rules, 1 with random-fully'
        $checks.MasqueradeRandomFully.Passed | Should -BeFalse
    }

    It 'includes the VIP migration verdict on request' {
        $vip = Test-ConntrackHealth -IncludeVipMigration | Where-Object Name -EQ 'VipMigration'
        $vip.Passed | Should -BeTrue -Because $vip.Message
        $vip.Message | Should -Match '^Passed'
        Get-SandboxNamespace | Should -BeNullOrEmpty
    }
}

Describe 'Cleanup' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }

    It 'leaves no ctt- namespace of this file behind' {
        @(& ip netns list | Where-Object { $_ -match '^ctt-(vip|if|hc)-' }) | Should -BeNullOrEmpty
    }
}
