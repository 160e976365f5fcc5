#Requires -Version 7.4
<#
    Watch-Conntrack and Watch-AddressChange against the running kernel, as root, in private ctt-* namespaces.
    Watchers run in background runspaces (WatchLab.psm1) while the tests act; every wait is for something the
    watcher reports, with a guard limit only against a hung suite.
#>

BeforeDiscovery {
    $script:AddressCases = @(
        @{ Family = 'IPv4'; Cidr = '192.168.77.100/32'; Address = '192.168.77.100'; Prefix = 32; Extra = @('label', 'ctt-wa0:vip'); Label = 'ctt-wa0:vip' }
        @{ Family = 'IPv6'; Cidr = 'fd00:77::100/64'; Address = 'fd00:77::100'; Prefix = 64; Extra = @('nodad'); Label = 'ctt-wa0' }
    )
    # net.netfilter.nf_conntrack_events: 1 (every entry reports) and 2 (the kernel default: entries created while
    # no listener existed never report Destroy).
    $script:EventSettings = @(@{ Setting = 1 }, @{ Setting = 2 })
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    # Not root, or no conntrack: the tests that need them skip with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Because 'the watchers need namespaces and CAP_NET_ADMIN' `
        -Command conntrack -CommandBecause 'to fill and empty tables'

    # A TCP exchange over loopback inside a namespace: connect, send, receive, close. Real packets, real conntrack states.
    function Invoke-TcpExchange([string] $Namespace, [int] $Port) {
        Invoke-Traffic $Namespace exchange 127.0.0.1 $Port | Out-Null
    }

    # A number from the watcher's verbose summary, e.g. 'Received (\d+) events'.
    function Get-VerboseNumber($Watcher, [string] $Pattern) {
        $line = @($Watcher.PowerShell.Streams.Verbose.Message) -match $Pattern | Select-Object -Last 1
        if (-not $line -or $line -notmatch $Pattern) { throw "no verbose line matches '$Pattern'" }
        [int64]$Matches[1]
    }
}

Describe 'Watch-AddressChange' -Tag 'Privileged' {
    BeforeAll {
        $script:ns = $null
        if (-not $script:SkipReason) {
            $script:ns = New-TestNamespace -Tag 'wa'
            Add-VethPair -Namespace $script:ns -Name 'ctt-wa0' -Peer 'ctt-wa1'
        }
    }
    AfterAll { Remove-TestNamespace $script:ns }
    AfterEach { Remove-Watcher $script:w; $script:w = $null }

    It 'sees an <Family> address added and removed, with the right fields' -ForEach $AddressCases {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-AddressChange @{ NetworkNamespace = $ns; InterfaceName = 'ctt-wa0'; AddressFamily = $Family; Count = 2 }
        Wait-WatcherReady $w
        Invoke-Checked ip -n $ns address add $Cidr dev ctt-wa0 @Extra | Out-Null
        Invoke-Checked ip -n $ns address del $Cidr dev ctt-wa0 | Out-Null
        $events = Complete-Watcher $w
        $index = (Invoke-Checked ip -n $ns -j link show ctt-wa0 | ConvertFrom-Json).ifindex

        $events.Change | Should -Be @('Added', 'Removed')
        foreach ($e in $events) {
            $e | Should -BeOfType ConntrackTools.AddressChangeEvent
            $e.InterfaceName | Should -Be 'ctt-wa0'
            $e.InterfaceIndex | Should -Be $index
            $e.Address | Should -BeExactly ([ipaddress]$Address).ToString()
            $e.PrefixLength | Should -Be $Prefix
            "$($e.AddressFamily)" | Should -Be $Family
            "$($e.Scope)" | Should -Be 'Global'
            $e.Flags.HasFlag([ConntrackTools.AddressFlags]::Permanent) | Should -BeTrue
            $e.Label | Should -Be $Label
            $e.NetworkNamespace | Should -Be $ns
            $e.Existing | Should -BeFalse
            $e.DestroyedEntries | Should -BeNullOrEmpty
        }
    }

    It 'reports only the interfaces asked for' {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-AddressChange @{ NetworkNamespace = $ns; InterfaceName = 'ctt-wa1'; Count = 1 }
        Wait-WatcherReady $w
        Invoke-Checked ip -n $ns address add 192.168.78.1/32 dev ctt-wa0 | Out-Null   # first, on the other interface
        Invoke-Checked ip -n $ns address add 192.168.78.2/32 dev ctt-wa1 | Out-Null
        $events = Complete-Watcher $w
        $events.Count | Should -Be 1
        $events[0].InterfaceName | Should -Be 'ctt-wa1'
        $events[0].Address | Should -BeExactly '192.168.78.2'
    }

    It '-IncludeExisting lists exactly the addresses present, then stops after -Duration' {
        Assert-Prerequisite -Reason $script:SkipReason
        Invoke-Checked ip -n $ns address add 192.168.79.1/24 dev ctt-wa0 label ctt-wa0:lab | Out-Null
        $present = (Invoke-Checked ip -n $ns -j address show | ConvertFrom-Json) |
            ForEach-Object { foreach ($a in $_.addr_info) { "$($_.ifname) $($a.local)/$($a.prefixlen)" } } | Sort-Object
        $script:w = Start-Watcher Watch-AddressChange @{ NetworkNamespace = $ns; IncludeExisting = $true; Duration = 1 }
        $events = Complete-Watcher $w
        $existing = $events | Where-Object Existing
        ($existing | ForEach-Object { "$($_.InterfaceName) $($_.Address)/$($_.PrefixLength)" } | Sort-Object) | Should -Be $present
        ($existing | Where-Object Address -CEQ '192.168.79.1').Label | Should -Be 'ctt-wa0:lab'
        $existing.Change | Select-Object -Unique | Should -Be 'Added'
    }

    It 'stops on Ctrl+C with -IncludeConntrackImpact and closes both sockets' {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-AddressChange @{ NetworkNamespace = $ns; IncludeConntrackImpact = $true }
        Wait-WatcherReady $w -Pattern 'snapshot'
        @(Get-NetlinkSubscriber -Namespace $ns -Protocol 0) | Should -HaveCount 1     # rtnetlink: address and link groups
        @(Get-NetlinkSubscriber -Namespace $ns -Protocol 12) | Should -HaveCount 1    # ctnetlink: New and Destroy
        Stop-Watcher $w
        $w.PowerShell.InvocationStateInfo.State | Should -Be 'Stopped'
        @(Get-NetlinkSubscriber -Namespace $ns -Protocol 0) | Should -HaveCount 0
        @(Get-NetlinkSubscriber -Namespace $ns -Protocol 12) | Should -HaveCount 0
    }

    It 'fails with NetworkNamespaceNotFound for a namespace that does not exist' {
        { Watch-AddressChange -NetworkNamespace 'ctt-no-such-ns' -Count 1 } |
            Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.WatchAddressChangeCommand'
    }

    It 'refuses a non-positive -ImpactWindow' {
        { Watch-AddressChange -IncludeConntrackImpact -ImpactWindow 0 -Count 1 } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.WatchAddressChangeCommand'
    }
}

Describe 'Watch-AddressChange -IncludeConntrackImpact with nf_conntrack_events=<Setting>' -Tag 'Privileged' -ForEach $EventSettings {
    BeforeAll {
        $script:ns = $null
        if (-not $script:SkipReason) {
            $script:ns = New-TestNamespace -Tag 'wi'
            Add-VethPair -Namespace $script:ns -Name 'ctt-wi0' -Peer 'ctt-wi1'
            Set-ConntrackEventSetting -Namespace $script:ns -Value $Setting
            Invoke-Checked ip -n $script:ns address add 192.168.80.7/24 dev ctt-wi0 | Out-Null
            Invoke-Checked ip -n $script:ns address add 192.168.80.100/32 dev ctt-wi0 | Out-Null
            # Entries made before any listener exists: with setting 2 they will never report their Destroy.
            # Masqueraded entries: the peer sees them from the VIP (related) or from the node address (unrelated).
            function Entry([int] $i, [string] $natAddress, [string] $op = '-I') {
                $tuple = "-p tcp -s 10.244.0.$i -d 10.232.3.28 --sport $(40000 + $i) --dport 8899"
                if ($op -eq '-D') { return "-D $tuple" }
                "-I $tuple -r 10.232.3.28 -q $natAddress --reply-port-src 8899 --reply-port-dst $(30000 + $i) --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3600"
            }
            $script:Related = 1..3 | ForEach-Object { @{ Id = $_; Nat = '192.168.80.100' } }
            $script:Unrelated = 4..5 | ForEach-Object { @{ Id = $_; Nat = '192.168.80.7' } }
            $script:Late = 6..7 | ForEach-Object { @{ Id = $_; Nat = '192.168.80.100' } }
            $script:Kept = @{ Id = 8; Nat = '192.168.80.7' }
            $all = $script:Related + $script:Unrelated + $script:Late + $script:Kept
            Invoke-ConntrackBatch -Namespace $script:ns -Scratch $TestDrive -Line ($all | ForEach-Object { Entry $_.Id $_.Nat })
            $script:DeleteLines = { param($set) $set | ForEach-Object { Entry $_.Id $_.Nat '-D' } }
        }
    }
    AfterAll { Remove-TestNamespace $script:ns }
    AfterEach { Remove-Watcher $script:w; $script:w = $null }

    It 'counts the entries deleted right after the removal, not those deleted after the window' {
        Assert-Prerequisite -Reason $script:SkipReason
        $window = 2
        $script:w = Start-Watcher Watch-AddressChange @{ NetworkNamespace = $ns; InterfaceName = 'ctt-wi0'; AddressFamily = 'IPv4'; IncludeConntrackImpact = $true; ImpactWindow = $window; Count = 1 }
        Wait-WatcherReady $w -Pattern 'snapshot'
        Invoke-Checked ip -n $ns address del 192.168.80.100/32 dev ctt-wi0 | Out-Null
        Invoke-ConntrackBatch -Namespace $ns -Scratch $TestDrive -Line (& $DeleteLines ($Related + $Unrelated))
        Start-Sleep -Seconds ($window + 1.5)   # the scenario: these are deleted well after the window closed
        Invoke-ConntrackBatch -Namespace $ns -Scratch $TestDrive -Line (& $DeleteLines $Late)
        $removal = (Complete-Watcher $w)[0]

        $removal.Change | Should -Be 'Removed'
        $removal.Address | Should -BeExactly '192.168.80.100'
        $removal.DestroyedEntries | Should -Be ($Related.Count + $Unrelated.Count)
        $removal.DestroyedUnrelated | Should -Be $Unrelated.Count
        $sample = $removal.DestroyedSample
        $sample.Count | Should -Be ($Related.Count + $Unrelated.Count)
        # Unrelated ones first: their NAT address is the node's, not the removed one.
        ($sample | Select-Object -First $Unrelated.Count).TranslatedSourceAddress | Should -BeExactly (@('192.168.80.7') * $Unrelated.Count)
        (Get-Conntrack -NetworkNamespace $ns -SourcePort (40000 + $Kept.Id)) | Should -Not -BeNullOrEmpty
        # With setting 2 the entries never report Destroy: only the re-check of the table can have found them.
        $byRecheck = Get-VerboseNumber $w 'found by re-checking the table[^:]*: (\d+)'
        $byRecheck | Should -Be $(if ($Setting -eq 2) { $Related.Count + $Unrelated.Count } else { 0 })
    }
}

Describe 'Watch-Conntrack' -Tag 'Privileged' {
    BeforeAll {
        $script:ns = $null
        if (-not $script:SkipReason) {
            $script:ns = New-TestNamespace -Tag 'wc'
            Set-ConntrackEventSetting -Namespace $script:ns -Value 1
            # A new namespace tracks no packets until some rule needs conntrack: this one does, and accepts all.
            if (Get-Command nft -ErrorAction Ignore) {
                Invoke-Checked ip netns exec $script:ns nft 'add table ip ctt; add chain ip ctt out { type filter hook output priority 0; }; add rule ip ctt out ct state new accept' | Out-Null
            }
        }
    }
    AfterAll { Remove-TestNamespace $script:ns }
    AfterEach { Remove-Watcher $script:w, $script:w2; $script:w = $script:w2 = $null }

    It 'reports New, Update and Destroy of a real TCP flow' {
        Assert-Prerequisite -Reason $script:SkipReason
        Assert-Prerequisite -Command python3 -CommandBecause 'for the TCP exchange'
        Assert-Prerequisite -Command nft -CommandBecause 'to make the namespace track packets'
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns; Protocol = 'tcp'; DestinationPort = 8899 }
        Wait-WatcherReady $w
        Invoke-TcpExchange $ns 8898    # a decoy the filters must leave out
        Invoke-TcpExchange $ns 8899
        Invoke-Checked ip netns exec $ns conntrack -D -p tcp --dport 8899 | Out-Null
        Wait-Watcher $w -What 'the Destroy event' -Until { param($v) [bool](Get-WatcherOutput $v | Where-Object EventType -EQ 'Destroy') }
        Stop-Watcher $w
        $events = @(Get-WatcherOutput $w)

        $events | ForEach-Object { $_ | Should -BeOfType ConntrackTools.ConntrackEvent }
        $events[0].EventType | Should -Be 'New'
        $events[0].State | Should -Be 'SYN_SENT'
        $events[-1].EventType | Should -Be 'Destroy'
        ($events | Where-Object { $_.EventType -eq 'Update' -and $_.State -eq 'ESTABLISHED' }) | Should -Not -BeNullOrEmpty
        $events.DestinationPort | Select-Object -Unique | Should -Be 8899
        $events.Id | Select-Object -Unique | Should -HaveCount 1
    }

    It 'filters in the kernel: events that do not match never reach the socket' {
        Assert-Prerequisite -Reason $script:SkipReason
        $common = @{ NetworkNamespace = $ns; Protocol = 'tcp'; SourceAddress = '10.9.3.1'; DestinationAddress = '10.9.3.2'; SourcePort = 7000; State = 'ESTABLISHED'; Timeout = 60 }
        New-Conntrack @common -DestinationPort 7898
        New-Conntrack @common -DestinationPort 7899
        $filter = @{ NetworkNamespace = $ns; EventType = 'Destroy'; Protocol = 'tcp'; DestinationPort = 7899; Count = 1 }
        $script:w = Start-Watcher Watch-Conntrack $filter
        $script:w2 = Start-Watcher Watch-Conntrack ($filter + @{ NoKernelFilter = $true })
        Wait-WatcherReady $w; Wait-WatcherReady $w2
        $left = @(Remove-Conntrack -NetworkNamespace $ns -DestinationPort 7898 -Confirm:$false -PassThru)   # first those to leave out
        Remove-Conntrack -NetworkNamespace $ns -DestinationPort 7899 -Confirm:$false
        $kernel = Complete-Watcher $w
        $user = Complete-Watcher $w2

        $left | Should -Not -BeNullOrEmpty
        $kernel.DestinationPort | Should -Be 7899
        $user.DestinationPort | Should -Be 7899
        (Get-VerboseNumber $w 'Received (\d+) events') | Should -Be 1                      # the socket filter dropped the others
        (Get-VerboseNumber $w2 'Received (\d+) events') | Should -Be ($left.Count + 1)     # without it, user space did
    }

    It 'reports entries made by New-Conntrack and removed by Remove-Conntrack, with the filters applied' {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns; EventType = 'New', 'Destroy'; Mark = 7; Count = 2 }
        Wait-WatcherReady $w
        $common = @{ NetworkNamespace = $ns; Protocol = 'udp'; DestinationAddress = '10.9.0.2'; DestinationPort = 53; Timeout = 60 }
        New-Conntrack @common -SourceAddress 10.9.0.1 -SourcePort 5000 -Mark 8    # not watched: other mark
        New-Conntrack @common -SourceAddress 10.9.0.1 -SourcePort 5001 -Mark 7
        Get-Conntrack -NetworkNamespace $ns -Protocol udp -DestinationPort 53 | Remove-Conntrack -NetworkNamespace $ns -Confirm:$false
        $events = Complete-Watcher $w

        $events.EventType | Should -Be @('New', 'Destroy')
        $events.SourcePort | Should -Be @(5001, 5001)
        $events.Mark | Should -Be @(7, 7)
        $events.Protocol | Should -Be @('udp', 'udp')
    }

    It 'stops after -Duration when nothing happens' {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns; Duration = 0.5; LostEventVariable = 'lost' }
        (Complete-Watcher $w) | Should -BeNullOrEmpty
        $w.PowerShell.InvocationStateInfo.State | Should -Be 'Completed'
    }

    It 'stops on Ctrl+C and closes its socket' {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns }
        Wait-WatcherReady $w
        @(Get-NetlinkSubscriber -Namespace $ns -Protocol 12) | Should -HaveCount 1
        Stop-Watcher $w
        $w.PowerShell.InvocationStateInfo.State | Should -Be 'Stopped'
        @(Get-NetlinkSubscriber -Namespace $ns -Protocol 12) | Should -HaveCount 0
    }

    It 'receives all 20,000 Destroy events of a flush' {
        Assert-Prerequisite -Reason $script:SkipReason
        $n = 20000
        $lines = foreach ($i in 0..($n - 1)) {
            '-I -p tcp -s 10.{0}.{1}.{2} -d 10.96.0.1 --sport {3} --dport 443 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3600' -f (100 + ($i -shr 16)), (($i -shr 8) -band 255), ($i -band 255), (1024 + ($i % 60000))
        }
        Invoke-Checked ip netns exec $ns conntrack -F | Out-Null    # nothing left over from other tests
        Invoke-ConntrackBatch -Namespace $ns -Scratch $TestDrive -Line $lines
        (Get-ConntrackStatistics -NetworkNamespace $ns).Count | Should -Be $n
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns; EventType = 'Destroy'; Count = $n; LostEventVariable = 'lost' }
        Wait-WatcherReady $w
        Invoke-Checked ip netns exec $ns conntrack -F | Out-Null
        $events = Complete-Watcher $w
        $events.Count | Should -Be $n
        $w.PowerShell.Runspace.SessionStateProxy.GetVariable('lost') | Should -Be 0
        @($w.PowerShell.Streams.Warning) | Should -BeNullOrEmpty
    }

    It 'fails with <Id> for <Case>' -ForEach @(
        @{ Case = 'an unknown protocol'; Id = 'InvalidProtocol'; Arguments = @{ Protocol = 'bogus' } }
        @{ Case = 'contradictory filters'; Id = 'ContradictorySelection'; Arguments = @{ SourceAddress = '10.0.0.1'; AddressFamily = 'IPv6' } }
        @{ Case = 'a missing namespace'; Id = 'NetworkNamespaceNotFound'; Arguments = @{ NetworkNamespace = 'ctt-no-such-ns' } }
    ) {
        { Watch-Conntrack @Arguments -Count 1 } | Should -Throw -ErrorId "$Id,ConntrackTools.Commands.WatchConntrackCommand"
    }

    It 'writes events that survive ConvertTo-Json, Export-Csv and Export-Clixml' {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns; EventType = 'New'; Count = 1 }
        Wait-WatcherReady $w
        New-Conntrack -NetworkNamespace $ns -Protocol tcp -SourceAddress 10.9.1.1 -DestinationAddress 10.9.1.2 -SourcePort 1 -DestinationPort 2 -State ESTABLISHED
        $e = (Complete-Watcher $w)[0]
        $json = $e | Select-Object EventType, AddressFamily, NatType, Status | ConvertTo-Json | ConvertFrom-Json
        $json.EventType | Should -Be 'New'
        $json.AddressFamily | Should -Be 'IPv4'
        $json.NatType | Should -Be 'None'
        ($e | ConvertTo-Csv | ConvertFrom-Csv).SourceAddress | Should -Be '10.9.1.1'
        $path = Join-Path $TestDrive 'event.xml'
        $e | Export-Clixml $path
        $back = Import-Clixml $path
        $back.DestinationPort | Should -Be 2
        $back.TimeReceived | Should -Be $e.TimeReceived
    }
}

Describe 'Watch-Conntrack with nf_conntrack_events=<Setting>' -Tag 'Privileged' -ForEach $EventSettings {
    BeforeAll {
        $script:ns = $null
        if (-not $script:SkipReason) {
            $script:ns = New-TestNamespace -Tag 'we'
            Set-ConntrackEventSetting -Namespace $script:ns -Value $Setting
        }
    }
    AfterAll { Remove-TestNamespace $script:ns }
    AfterEach { Remove-Watcher $script:w; $script:w = $null }

    It 'warns exactly when the setting hides the Destroy of entries made before it listened' {
        Assert-Prerequisite -Reason $script:SkipReason
        $tuple = @{ NetworkNamespace = $ns; Protocol = 'udp'; SourceAddress = '10.9.2.1'; DestinationAddress = '10.9.2.2'; DestinationPort = 53 }
        New-Conntrack @tuple -SourcePort 6000 -Timeout 60       # made while nobody listens
        $script:w = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $ns; EventType = 'Destroy' }
        Wait-WatcherReady $w
        Remove-Conntrack @tuple -SourcePort 6000 -Confirm:$false
        New-Conntrack @tuple -SourcePort 6001 -Timeout 60       # made while we listen: reports for sure
        Remove-Conntrack @tuple -SourcePort 6001 -Confirm:$false
        # Events arrive in order on one socket: once the marker's Destroy is here, the first one would be too.
        Wait-Watcher $w -What "the marker's Destroy" -Until { param($v) [bool](Get-WatcherOutput $v | Where-Object SourcePort -EQ 6001) }
        Stop-Watcher $w
        $warnings = @($w.PowerShell.Streams.Warning.Message) -match 'nf_conntrack_events is 2'

        if ($Setting -eq 2) {
            @(Get-WatcherOutput $w).SourcePort | Should -Be @(6001)
            $warnings | Should -HaveCount 1
            $warnings[0] | Should -BeLike "*ip netns exec $ns sysctl -w net.netfilter.nf_conntrack_events=1*"
        }
        else {
            @(Get-WatcherOutput $w).SourcePort | Should -Be @(6000, 6001)
            $warnings | Should -HaveCount 0
        }
    }

    # Only the setting 2 has this warning (discovery sees the case data, so setting 1 gets no such test).
    if ($Setting -eq 2) { It 'warns once per namespace per PowerShell process (later watches say it in -Verbose), whatever names the namespace' {
        Assert-Prerequisite -Reason $script:SkipReason
        New-Conntrack -NetworkNamespace $ns -Protocol udp -SourceAddress 10.9.3.1 -DestinationAddress 10.9.3.2 -SourcePort 6100 -DestinationPort 53 -Timeout 60
        $watch = {
            param([string] $Namespace)
            # Watchers run in runspaces of this same process, as a script calling Watch-Conntrack in a loop would.
            $v = Start-Watcher Watch-Conntrack @{ NetworkNamespace = $Namespace; EventType = 'Destroy'; Duration = [timespan]::FromMilliseconds(300) }
            try { $null = Complete-Watcher $v; [pscustomobject]@{ Warning = @($v.PowerShell.Streams.Warning.Message) -match 'nf_conntrack_events is 2'
                    Verbose = @($v.PowerShell.Streams.Verbose.Message) -match 'nf_conntrack_events is 2.*warned before' } }
            finally { Remove-Watcher $v }
        }
        $first = & $watch $ns              # the test above may have warned already in this process: either way, at most once
        $again = & $watch $ns
        $byPath = & $watch "/var/run/netns/$ns"
        @($first.Warning).Count + @($again.Warning).Count + @($byPath.Warning).Count | Should -BeLessOrEqual 1
        $again.Warning | Should -HaveCount 0
        $again.Verbose | Should -HaveCount 1
        $byPath.Warning | Should -HaveCount 0 -Because 'a path to the same namespace is the same namespace'

        $other = New-TestNamespace -Tag 'we2'
        try {
            Set-ConntrackEventSetting -Namespace $other -Value 2
            New-Conntrack -NetworkNamespace $other -Protocol udp -SourceAddress 10.9.3.1 -DestinationAddress 10.9.3.2 -SourcePort 6100 -DestinationPort 53 -Timeout 60
            (& $watch $other).Warning | Should -HaveCount 1 -Because 'another namespace gets its own warning'
        }
        finally { Remove-TestNamespace $other }
    } }
}
