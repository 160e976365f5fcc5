#Requires -Version 7.4
<#
    Who destroyed the entries: ConntrackEvent initiators and Find-ConntrackFlush against the running kernel, as root,
    in private ctt-* namespaces. Watchers run in background runspaces (WatchLab.psm1); waits are for what they report.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SocketLab.psm1') -Force
    # Not root, or a program missing: the tests skip with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command python3, nft
    function Measure-WatcherEvent($Watcher, [string] $Type) {
        @(Get-WatcherOutput $Watcher | Where-Object { $_ -is [ConntrackTools.ConntrackEvent] -and "$($_.EventType)" -eq $Type }).Count
    }
}

Describe 'A kernel flush after an address removal' {
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:Lab = New-SocketLab -Tag fl
        $script:Ct = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $Lab.Client }
        $script:Addr = Start-Watcher Watch-AddressChange @{ NetworkNamespace = $Lab.Client }
        Wait-WatcherReady $Ct; Wait-WatcherReady $Addr
        # 80 UDP flows from the client node to the pod network, masqueraded to 192.168.11.7 on the uplink.
        Invoke-Traffic $Lab.Client send 10.232.3.28 20000 --count 80 --spread | Out-Null
        Wait-Watcher $Ct -What '80 New events' -Until { param($w) (Measure-WatcherEvent $w 'New') -ge 80 }
        $script:Masqueraded = @(Get-Conntrack -NetworkNamespace $Lab.Client -NatType Source).Count
        Invoke-Checked ip -n $Lab.Client addr del 192.168.11.7/24 dev $Lab.Uplink | Out-Null
        # The kernel's cleanup of entries masqueraded to the deleted address runs on a work queue: wait for it.
        Wait-Watcher $Ct -What 'the Destroy events' -Until { param($w) (Measure-WatcherEvent $w 'Destroy') -ge $script:Masqueraded }
        Stop-Watcher $Ct; Stop-Watcher $Addr
        $script:Seen = @(Get-WatcherOutput $Ct) + @(Get-WatcherOutput $Addr) | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] } | Sort-Object TimeReceived
        $script:Findings = @($Seen | Find-ConntrackFlush -MinimumEntries 50)
    }
    AfterAll {
        Remove-Watcher $script:Ct, $script:Addr
        if ($script:Lab) { Remove-SocketLab $script:Lab }
    }

    It 'is one finding, attributed to the kernel and to the removal' {
        Assert-Prerequisite -Reason $script:SkipReason
        $Masqueraded | Should -BeGreaterOrEqual 80
        $Findings.Count | Should -Be 1
        $f = $Findings[0]
        $f.Entries | Should -Be $Masqueraded
        $f.Initiator | Should -Be 'Kernel'
        $f.InitiatorProcessId | Should -BeNullOrEmpty
        $f.AddressChange.Change | Should -Be 'Removed'
        $f.AddressChange.Address | Should -Be '192.168.11.7'
        $f.Common.TranslatedSourceAddress | Should -Be '192.168.11.7'
        $f.Common.NatType | Should -Be 'Source'
        $f.Common.InterfaceName | Should -Be $Lab.Uplink
        $f.Common.Protocol | Should -Be 'udp'
        $f.Sample.Count | Should -Be 5
        # The removal and the Destroy events arrive on two sockets read by two threads, so their receive times can be
        # a fraction of a millisecond out of order; what the detector promises is that the change lies between one
        # -Window (1 s) before the burst and -Window after its end ($f.Window is the burst's own length).
        $f.AddressChange.TimeReceived | Should -BeGreaterOrEqual $f.Time.AddSeconds(-1)
        $f.AddressChange.TimeReceived | Should -BeLessOrEqual ($f.Time + $f.Window).AddSeconds(1)   # the burst's end, plus -Window
    }

    It 'carries port id 0 on every Destroy event (the kernel acted)' {
        Assert-Prerequisite -Reason $script:SkipReason
        $d = @($Seen | Where-Object { $_ -is [ConntrackTools.ConntrackEvent] -and "$($_.EventType)" -eq 'Destroy' })
        $d.Count | Should -Be $Masqueraded
        @($d | Where-Object InitiatorPortId -ne 0).Count | Should -Be 0
        @($d | Where-Object Initiator -ne 'Kernel').Count | Should -Be 0
    }
}

Describe 'Clear-Conntrack from another process' {
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:Ns = New-TestNamespace fc
        Invoke-Checked ip netns exec $Ns nft 'add table inet ctt; add chain inet ctt out { type filter hook output priority 0; }; add rule inet ctt out ct state new counter' | Out-Null
        Invoke-InNamespace $Ns sysctl -qw net.netfilter.nf_conntrack_events=1 | Out-Null
        $script:Ct = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $Ns; EventType = 'Destroy' }
        Wait-WatcherReady $Ct
        Invoke-Traffic $Ns send 127.0.0.1 10000 --count 2000 --spread | Out-Null
        (Get-Conntrack -NetworkNamespace $Ns | Measure-Object).Count | Should -Be 2000
        $script:PidFile = Join-Path ([IO.Path]::GetTempPath()) "ctt-flush-$PID.pid"
        $pwsh = @(Get-PwshCommand)
        $code = "`$PID | Set-Content '$PidFile'; Import-Module '$env:CONNTRACKTOOLS_MODULE'; Clear-Conntrack -NetworkNamespace $Ns -Confirm:`$false"
        & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -Command $code
        $script:ChildPid = [int](Get-Content $PidFile)
        Wait-Watcher $Ct -What '2000 Destroy events' -Until { param($w) (Measure-WatcherEvent $w 'Destroy') -ge 2000 }
        Stop-Watcher $Ct
        $script:Events = @(Get-WatcherOutput $Ct | Where-Object { $_ -is [ConntrackTools.ConntrackEvent] })
        $script:Findings = @($Events | Find-ConntrackFlush -MinimumEntries 100)
    }
    AfterAll {
        Remove-Watcher $script:Ct
        if ($script:Ns) { Remove-TestNamespace $script:Ns }
        if ($script:PidFile) { Remove-Item $script:PidFile -ErrorAction Ignore }
    }

    It 'is attributed to that process' {
        Assert-Prerequisite -Reason $script:SkipReason
        $Findings.Count | Should -Be 1
        $f = $Findings[0]
        $f.Entries | Should -Be 2000
        $f.Initiator | Should -Be 'Process'
        $f.InitiatorProcessId | Should -Be $ChildPid
        $f.InitiatorProcessName | Should -Be (Get-Content "/proc/$PID/comm")     # the same launcher as this pwsh
        $f.InitiatorPortId | Should -Not -Be 0
        $f.Common.Protocol | Should -Be 'udp'
        $f.AddressChange | Should -BeNullOrEmpty
    }

    It 'names the process on the events themselves, ready for Group-Object' {
        Assert-Prerequisite -Reason $script:SkipReason
        $g = @($Events | Group-Object Initiator, InitiatorProcessId)
        $g.Count | Should -Be 1
        $g[0].Name | Should -Be "Process, $ChildPid"
    }
}

Describe 'Entries that time out' {
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:Ns = New-TestNamespace ft
        $script:Ct = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $Ns }
        Wait-WatcherReady $Ct
        foreach ($i in 1..150) {
            New-Conntrack -NetworkNamespace $Ns -Protocol udp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.2 -SourcePort (30000 + $i) -DestinationPort 53 -Timeout 3
        }
        Wait-Watcher $Ct -What '150 New events' -Until { param($w) (Measure-WatcherEvent $w 'New') -ge 150 }
        Start-Sleep -Seconds 4   # let them expire (the timeout is the subject of the test, not a wait for an event)
        # A dump evicts the expired entries it walks; repeat until the kernel has reported every Destroy.
        Wait-Watcher $Ct -What '150 Destroy events' -GuardSeconds 90 -Until { param($w) $null = Get-Conntrack -NetworkNamespace $script:Ns; (Measure-WatcherEvent $w 'Destroy') -ge 150 }
        Stop-Watcher $Ct
        $script:Events = @(Get-WatcherOutput $Ct | Where-Object { $_ -is [ConntrackTools.ConntrackEvent] })
    }
    AfterAll {
        Remove-Watcher $script:Ct
        if ($script:Ns) { Remove-TestNamespace $script:Ns }
    }

    It 'are no flush, because their expiry was announced' {
        Assert-Prerequisite -Reason $script:SkipReason
        $out = $Events | Find-ConntrackFlush -MinimumEntries 50 -Verbose 4>&1
        @($out | Where-Object { $_ -is [ConntrackTools.ConntrackFlushFinding] }).Count | Should -Be 0
        ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Match '150 were timeouts'
        @($Events | Where-Object { "$($_.EventType)" -eq 'Destroy' -and "$($_.Initiator)" -ne 'Kernel' }).Count | Should -Be 0
    }

    It 'look like a flush when only the Destroy events are seen (so the test above can fail)' {
        Assert-Prerequisite -Reason $script:SkipReason
        $f = @($Events | Where-Object { "$($_.EventType)" -eq 'Destroy' } | Find-ConntrackFlush -MinimumEntries 50 -Window 10)
        $f.Count | Should -Be 1
        $f[0].Initiator | Should -Be 'Kernel'
    }
}
