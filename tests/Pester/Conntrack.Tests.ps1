#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    The conntrack table cmdlets against the real kernel, in private namespaces (ctt-*), compared with
    conntrack-tools' own view of the same table. Needs root (CI runs as root).
#>

BeforeDiscovery {
    # Each filter: Get-Conntrack parameters and the equivalent 'conntrack -L' options.
    $filterCases = @(
        @{ Name = 'protocol tcp'; Params = @{ Protocol = 'tcp' }; Options = @('-p', 'tcp') }
        @{ Name = 'protocol udp, destination port'; Params = @{ Protocol = 'udp'; DestinationPort = 4001 }; Options = @('-p', 'udp', '--dport', '4001') }
        @{ Name = 'tcp destination port 8899'; Params = @{ Protocol = 'tcp'; DestinationPort = 8899 }; Options = @('-p', 'tcp', '--dport', '8899') }
        @{ Name = 'source port without protocol'; Params = @{ SourcePort = 4000 }; Options = @('-p', 'udp', '--sport', '4000') }
        @{ Name = 'exact IPv4 source'; Params = @{ SourceAddress = '10.9.0.1' }; Options = @('-s', '10.9.0.1') }
        @{ Name = 'IPv4 source prefix'; Params = @{ SourceAddress = '10.9.0.0/24' }; Options = @('-s', '10.9.0.0/24') }
        @{ Name = 'IPv4 destination'; Params = @{ DestinationAddress = '10.232.3.28' }; Options = @('-d', '10.232.3.28') }
        @{ Name = 'exact IPv6 destination'; Params = @{ DestinationAddress = 'fd00:11::8' }; Options = @('-f', 'ipv6', '-d', 'fd00:11::8') }
        @{ Name = 'IPv6 prefix'; Params = @{ SourceAddress = 'fd00::/16' }; Options = @('-f', 'ipv6', '-s', 'fd00::/16') }
        @{ Name = 'mark'; Params = @{ Mark = 7 }; Options = @('-m', '7') }
        @{ Name = 'mark with mask'; Params = @{ Mark = 0x3; MarkMask = 0x3 }; Options = @('-m', '3/3') }
        @{ Name = 'zone'; Params = @{ Zone = 5 }; Options = @('-w', '5') }
        @{ Name = 'status assured'; Params = @{ Status = 'Assured' }; Options = @('-u', 'ASSURED') }
        @{ Name = 'IPv6 only'; Params = @{ AddressFamily = 'IPv6' }; Options = @('-f', 'ipv6') }
        @{ Name = 'IPv4 only'; Params = @{ AddressFamily = 'IPv4' }; Options = @('-f', 'ipv4') }
        @{ Name = 'tcp state'; Params = @{ Protocol = 'tcp'; State = 'ESTABLISHED' }; Options = @('-p', 'tcp', '--state', 'ESTABLISHED') }
        @{ Name = 'source NAT'; Params = @{ NatType = 'Source' }; Options = @('--src-nat') }
        @{ Name = 'icmp'; Params = @{ Protocol = 'icmp' }; Options = @('-p', 'icmp') }
    )
    $errorCases = @(
        @{ Name = 'unknown namespace'; Params = @{ NetworkNamespace = 'ctt-does-not-exist' }; Id = 'NetworkNamespaceNotFound' }
        @{ Name = 'bad CIDR'; Params = @{ SourceAddress = '10.0.0.1/33' }; Id = 'InvalidAddress' }
        @{ Name = 'bracketed IPv6'; Params = @{ SourceAddress = '[2001:db8::1]' }; Id = 'InvalidAddress' }
        @{ Name = 'not an address'; Params = @{ DestinationAddress = 'node1' }; Id = 'InvalidAddress' }
        @{ Name = 'port out of range'; Params = @{ DestinationPort = 70000 }; Id = 'InvalidPort' }
        @{ Name = 'unknown protocol'; Params = @{ Protocol = 'tcpx' }; Id = 'InvalidProtocol' }
        @{ Name = 'mask without mark'; Params = @{ MarkMask = 3 }; Id = 'InvalidArgument' }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Not root, or a program missing: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command conntrack, nft, python3
}

Describe 'Get-Conntrack on a mixed table' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:lab = New-NatLab 'ct'
        $ns = $lab.Client
        # Real flows through MASQUERADE --random-fully, IPv4 and IPv6.
        Invoke-LabTraffic $lab -Protocol tcp -Port 8899, 8900
        # A UDP entry lives 30 s by default, less than this file runs: give it ten minutes (this namespace's own
        # sysctl), or a comparison reads conntrack -L just before it expires and ours just after.
        Invoke-InNamespace $ns sysctl -q -w net.netfilter.nf_conntrack_udp_timeout=600 | Out-Null
        Invoke-LabTraffic $lab -Protocol udp -Port 5353
        Invoke-LabTraffic $lab -Protocol tcp -Port 8443 -IPv6
        # Entries made by conntrack-tools itself: icmp, icmpv6, marks, zones, states.
        $inserts = @(
            '-p icmp -s 10.0.0.1 -d 10.0.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 600'
            '-p icmpv6 -s fd00::1 -d fd00::3 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78 -t 600'
            '-p udp -s 10.9.0.1 -d 10.9.0.2 --sport 4000 --dport 4001 -t 600 -m 7 -w 5'
            '-p udp -s 10.9.0.1 -d 10.9.0.3 --sport 4000 --dport 4001 -t 600 -m 3'
            '-p udp -s 10.9.1.1 -d 10.9.0.3 --sport 4002 --dport 4001 -t 600 -m 19'
            '-p tcp -s 10.9.0.5 -d 10.232.3.28 --sport 1234 --dport 8899 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 600'
            '-p tcp -s fd00::5 -d fd00:11::8 --sport 1234 --dport 8899 --state ESTABLISHED -u SEEN_REPLY -t 600 -m 7'
            '-p sctp -s 10.8.0.1 -d 10.8.0.2 --sport 5000 --dport 5001 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2 -t 600'
        )
        foreach ($i in $inserts) { Invoke-InNamespace $ns conntrack -I @($i -split ' ') | Out-Null }
        $script:ns = $ns
    }
    AfterAll {
        if ($script:SkipReason) { return }
        Remove-NatLab $script:lab
    }

    It 'sees exactly the entries conntrack -L sees' {
        $expected = Get-ConntrackText $ns | ConvertFrom-ConntrackLine | ForEach-Object Key | Sort-Object
        $actual = Get-Conntrack -NetworkNamespace $ns | Get-EntryKey | Sort-Object
        $expected.Count | Should -BeGreaterThan 10
        $actual | Should -Be $expected
    }

    It 'reports marks as conntrack -L does' {
        $expected = Get-ConntrackText $ns | ConvertFrom-ConntrackLine | ForEach-Object { "$($_.Key) mark=$($_.Mark)" } | Sort-Object
        $actual = Get-Conntrack -NetworkNamespace $ns | ForEach-Object { "$(Get-EntryKey $_) mark=$($_.Mark)" } | Sort-Object
        $actual | Should -Be $expected
    }

    It 'shows the masquerade mapping of a real flow' {
        $e = @(Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8900)
        $e.Count | Should -Be 1
        $e[0].NatType | Should -Be 'Source'
        $e[0].SourceAddress | Should -BeOfType [string]
        $e[0].SourceAddress | Should -BeExactly '192.168.11.7'
        $e[0].TranslatedSourceAddress | Should -BeExactly '192.168.11.7'
        $e[0].TranslatedSourcePort | Should -Be $e[0].Reply.DestinationPort
        $e[0].Status.HasFlag([ConntrackTools.ConntrackStatus]::SourceNat) | Should -BeTrue
        $e[0].OriginalPackets | Should -BeGreaterThan 0
        $e[0].StartTime | Should -BeOfType [datetime]
        $e[0].NetworkNamespace | Should -Be $ns
    }

    It 'filters like conntrack -L <Options> (<Name>), in the kernel and in user space' -ForEach $filterCases {
        $expected = @(Get-ConntrackText $ns -Options $Options | ConvertFrom-ConntrackLine | ForEach-Object Key | Sort-Object)
        $kernel = @(Get-Conntrack -NetworkNamespace $ns @Params | Get-EntryKey | Sort-Object)
        $userSpace = @(Get-Conntrack -NetworkNamespace $ns @Params -NoKernelFilter | Get-EntryKey | Sort-Object)
        $expected.Count | Should -BeGreaterThan 0 -Because 'the case must select something to prove anything'
        $kernel | Should -Be $expected
        $userSpace | Should -Be $expected
    }

    It 'says in -Verbose which filters ran in the kernel' {
        $verbose = Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 -SourceAddress 10.9.0.0/24 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        ($verbose -join "`n") | Should -Match 'Kernel filter: .*protocol tcp.*dport 8899'
        ($verbose -join "`n") | Should -Match 'user-space filter: src 10.9.0.0/24'
    }

    It 'accepts the namespace as <Form>' -ForEach @(
        @{ Form = 'a name' }, @{ Form = 'an absolute path' }, @{ Form = 'a process id' }
    ) {
        $spec = switch ($Form) {
            'a name' { $ns }
            'an absolute path' { "/var/run/netns/$ns" }
            'a process id' {
                $script:sleeper = Start-Process -FilePath ip -ArgumentList 'netns', 'exec', $ns, 'sleep', '60' -PassThru
                # 'ip netns exec' enters the namespace and then execs sleep in the same process: wait for the switch.
                $own = (Get-Item /proc/self/ns/net).LinkTarget
                $deadline = [DateTime]::UtcNow.AddSeconds(5)
                while ((Get-Item "/proc/$($sleeper.Id)/ns/net").LinkTarget -eq $own -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
                "$($sleeper.Id)"
            }
        }
        try {
            (Get-Conntrack -NetworkNamespace $spec | Measure-Object).Count | Should -Be @(Get-ConntrackText $ns).Count
        }
        finally {
            if ($Form -eq 'a process id' -and $script:sleeper) { Stop-Process -Id $script:sleeper.Id -Force -ErrorAction Ignore }
        }
    }

    It 'stops the dump early for Select-Object -First' {
        $first = @(Get-Conntrack -NetworkNamespace $ns | Select-Object -First 2)
        $first.Count | Should -Be 2
        # The socket and reader thread are released: the next dump works as usual.
        (Get-Conntrack -NetworkNamespace $ns | Measure-Object).Count | Should -Be @(Get-ConntrackText $ns).Count
    }

    It 'survives Export-Csv, Export-Clixml and ConvertTo-Json with readable values' {
        $e = Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8900
        $csv = $e | ConvertTo-Csv | ConvertFrom-Csv
        $csv.SourceAddress | Should -Be '192.168.11.7'
        $csv.Original | Should -Be $e.Original.ToString()
        $csv.NatType | Should -Be 'Source'
        $csv.Status | Should -Match 'SourceNat'
        $file = Join-Path $TestDrive "ctt-$([guid]::NewGuid()).xml"
        try {
            $e | Export-Clixml $file
            $back = Import-Clixml $file
            $back.Protocol | Should -Be 'tcp'
            "$($back.SourceAddress)" | Should -Be '192.168.11.7'
            $back.TranslatedSourcePort | Should -Be $e.TranslatedSourcePort
            "$($back.Original)" | Should -Be $e.Original.ToString()
        }
        finally { Remove-Item $file -ErrorAction Ignore }
        $json = $e | ConvertTo-Json -Depth 1 | ConvertFrom-Json
        $json.AddressFamily | Should -Be 'IPv4'
        $json.NatType | Should -Be 'Source'
        $json.Status | Should -Match 'SourceNat'
    }

    It 'completes -NetworkNamespace with the named namespaces' {
        $line = "Get-Conntrack -NetworkNamespace $($ns.Substring(0, $ns.Length - 3))"
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches.CompletionText | Should -Contain $ns
    }
}

Describe 'Get-ConntrackStatistics' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:ns = New-TestNamespace 'st'
        1..5 | ForEach-Object { Invoke-InNamespace $ns conntrack -I -p udp -s 10.1.0.$_ -d 10.2.0.1 --sport 1000 --dport 53 -t 600 | Out-Null }
        # Counters that are not zero, to compare: with nf_conntrack_tcp_loose=0 the segments of a connection whose
        # entry was deleted are INVALID (counted in 'invalid', not tracked: the table keeps its 5 entries).
        Invoke-InNamespace $ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 | Out-Null
        # A rule that uses conntrack: without one the kernel does not track this namespace's packets at all.
        Invoke-InNamespace $ns nft 'add table inet ctt; add chain inet ctt in { type filter hook input priority 0; }; add rule inet ctt in ct state invalid counter' | Out-Null
        $script:procs = @(Start-Traffic $ns @('serve', '127.0.0.1', '9000', '--mode', 'echo') -Ready)
        $script:procs += Start-Traffic $ns @('client', '127.0.0.1', '9000', '--hello')
        $procs[1].StandardInput.WriteLine('open 1'); $procs[1].StandardInput.Flush()
        $null = $procs[1].StandardOutput.ReadLine()
        Invoke-InNamespace $ns conntrack -D -p tcp --dport 9000 2>&1 | Out-Null
        $procs[1].StandardInput.WriteLine('push 0'); $procs[1].StandardInput.Flush()
        $script:pushed = $procs[1].StandardOutput.ReadLine()
        # The counters move while packets flow: end the connection, then wait until conntrack -S stops changing.
        foreach ($p in $procs) { if (-not $p.HasExited) { $p.Kill() } }
        $script:lastStats = $null
        Wait-Until -Because 'the counters to settle' -Condition {
            $now = (Invoke-InNamespace $ns conntrack -S) -join "`n"
            $same = $now -eq $script:lastStats
            $script:lastStats = $now
            if (-not $same) { Start-Sleep -Milliseconds 300 }
            $same
        }
    }
    AfterAll {
        if ($script:SkipReason) { return }
        foreach ($p in @($script:procs)) { if ($p -and -not $p.HasExited) { $p.Kill() } }
        Remove-TestNamespace $script:ns
    }

    It 'reports the count conntrack -C reports and the kernel''s limit' {
        $s = Get-ConntrackStatistics -NetworkNamespace $ns
        $s.Count | Should -Be ([int](Invoke-InNamespace $ns conntrack -C))
        $s.Count | Should -Be 5
        $s.Max | Should -Be ([uint32](Get-Content /proc/sys/net/netfilter/nf_conntrack_max))
        $s.Cpu | Should -BeNullOrEmpty
        $s.FillRatio | Should -Be ($s.Count / $s.Max)
    }

    It 'gives one object per CPU with -PerCpu, matching conntrack -S counter by counter' {
        $pushed | Should -Be 'echo' -Because 'the untracked segments still flow (nothing drops INVALID here)'
        $perCpu = @(Get-ConntrackStatistics -NetworkNamespace $ns -PerCpu)
        $lines = @(Invoke-InNamespace $ns conntrack -S)
        $perCpu.Count | Should -Be $lines.Count
        $names = @{ found = 'Found'; invalid = 'Invalid'; insert_failed = 'InsertFailed'; drop = 'Drop'; early_drop = 'EarlyDrop'; error = 'Error'; search_restart = 'SearchRestart'; insert = 'Insert'; clash_resolve = 'ClashResolve'; chaintoolong = 'ChainTooLong' }
        $compared = 0
        foreach ($line in $lines) {
            $cpu = [int]($line -replace '^cpu=(\d+).*$', '$1')
            $row = $perCpu | Where-Object Cpu -EQ $cpu
            foreach ($k in $names.Keys) {
                if ($line -match "\b$k=(\d+)") { $row.($names[$k]) | Should -Be ([uint64]$Matches[1]) -Because "cpu=$cpu $k"; $compared++ }
            }
        }
        $compared | Should -BeGreaterThan ($lines.Count * 5)
        # The comparison would pass on all-zero counters too: the invalid segments made one counter non-zero.
        ($perCpu | Measure-Object Invalid -Sum).Sum | Should -BeGreaterThan 0
    }
}

Describe 'Creating, changing and removing entries' {
    BeforeEach {
        Assert-Prerequisite -Reason $script:SkipReason
        $script:ns = New-TestNamespace 'rw'
        $script:newEntry = @{
            NetworkNamespace = $ns; Protocol = 'tcp'; SourceAddress = '192.168.11.7'; DestinationAddress = '10.232.3.28'
            SourcePort = 33862; DestinationPort = 8899; ReplyDestinationPort = 31445; State = 'ESTABLISHED'; Timeout = 300; Mark = 9; Zone = 0
        }
    }
    AfterEach { if ($script:SkipReason) { return }; Remove-TestNamespace $script:ns }

    It 'New-Conntrack creates what conntrack -L then shows' {
        $e = New-Conntrack @newEntry -PassThru
        $e.TranslatedSourcePort | Should -Be 31445
        $e.NatType | Should -Be 'Source'
        $lines = @(Get-ConntrackText $ns)
        $lines.Count | Should -Be 1
        ($lines[0] -replace '\[\w+\] ', '') | Should -Match 'ESTABLISHED src=192.168.11.7 dst=10.232.3.28 sport=33862 dport=8899 src=10.232.3.28 dst=192.168.11.7 sport=8899 dport=31445'
        $lines[0] | Should -Match 'mark=9'
        [int]($lines[0] -split '\s+')[2] | Should -BeGreaterThan 290
    }

    It 'New-Conntrack refuses a duplicate with EntryExists' {
        New-Conntrack @newEntry
        { New-Conntrack @newEntry -ErrorAction Stop } | Should -Throw -ErrorId 'EntryExists,ConntrackTools.Commands.NewConntrackCommand'
    }

    It 'New-Conntrack -WhatIf creates nothing' {
        New-Conntrack @newEntry -WhatIf
        Get-ConntrackText $ns | Should -BeNullOrEmpty
    }

    It 'New-Conntrack makes IPv6, icmp and zoned entries' {
        New-Conntrack -NetworkNamespace $ns udp -SourceAddress fd00::1 -DestinationAddress fd00::2 -SourcePort 1 -DestinationPort 2 -Zone 3
        New-Conntrack -NetworkNamespace $ns icmp -SourceAddress 10.0.0.1 -DestinationAddress 10.0.0.2 -IcmpId 5
        (Get-ConntrackText $ns -Options '-w', '3') | Should -Match 'src=fd00::1 dst=fd00::2 sport=1 dport=2'
        (Get-ConntrackText $ns -Options '-p', 'icmp') | Should -Match 'type=8 code=0 id=5'
    }

    It 'Set-Conntrack changes mark and timeout (a bare number is seconds)' {
        New-Conntrack @newEntry
        Get-Conntrack -NetworkNamespace $ns | Set-Conntrack -NetworkNamespace $ns -Mark 42 -Timeout 30
        $line = @(Get-ConntrackText $ns)[0]
        $line | Should -Match 'mark=42'
        $ttl = [int]($line -split '\s+')[2]
        $ttl | Should -BeLessOrEqual 30
        $ttl | Should -BeGreaterThan 20
    }

    It 'Set-Conntrack -WhatIf changes nothing' {
        New-Conntrack @newEntry
        Get-Conntrack -NetworkNamespace $ns | Set-Conntrack -NetworkNamespace $ns -Mark 42 -WhatIf
        @(Get-ConntrackText $ns)[0] | Should -Match 'mark=9'
    }

    It 'Set-Conntrack reports an entry that is gone as EntryNotFound' {
        New-Conntrack @newEntry
        $e = Get-Conntrack -NetworkNamespace $ns
        Invoke-InNamespace $ns conntrack -F | Out-Null
        { $e | Set-Conntrack -NetworkNamespace $ns -Mark 1 -ErrorAction Stop } | Should -Throw -ErrorId 'EntryNotFound,ConntrackTools.Commands.SetConntrackCommand'
    }

    It 'Remove-Conntrack deletes piped entries and only those' {
        New-Conntrack @newEntry
        New-Conntrack -NetworkNamespace $ns udp -SourceAddress 10.0.0.1 -DestinationAddress 10.0.0.2 -SourcePort 1 -DestinationPort 53
        $removed = Get-Conntrack -NetworkNamespace $ns -DestinationPort 8899 | Remove-Conntrack -NetworkNamespace $ns -PassThru
        @($removed).Count | Should -Be 1
        $left = @(Get-ConntrackText $ns)
        $left.Count | Should -Be 1
        $left[0] | Should -Match 'dport=53'
    }

    It 'Remove-Conntrack selects with filters and reports the count in -Verbose' {
        New-Conntrack @newEntry
        New-Conntrack -NetworkNamespace $ns udp -SourceAddress 10.0.0.1 -DestinationAddress 10.0.0.2 -SourcePort 1 -DestinationPort 53
        New-Conntrack -NetworkNamespace $ns udp -SourceAddress 10.0.0.1 -DestinationAddress 10.0.0.3 -SourcePort 1 -DestinationPort 53
        $verbose = Remove-Conntrack -NetworkNamespace $ns -Protocol udp -DestinationPort 53 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        $verbose | Should -Contain 'Removed 2 conntrack entries.'
        @(Get-ConntrackText $ns).Count | Should -Be 1
    }

    It 'Remove-Conntrack -WhatIf deletes nothing' {
        New-Conntrack @newEntry
        Remove-Conntrack -NetworkNamespace $ns -DestinationPort 8899 -WhatIf
        @(Get-ConntrackText $ns).Count | Should -Be 1
    }

    It 'Remove-Conntrack without filters or input refuses to flush' {
        { Remove-Conntrack -NetworkNamespace $ns } | Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.RemoveConntrackCommand'
    }

    It 'Clear-Conntrack flushes IPv4 and IPv6, and -WhatIf keeps everything' {
        New-Conntrack @newEntry
        New-Conntrack -NetworkNamespace $ns udp -SourceAddress fd00::1 -DestinationAddress fd00::2 -SourcePort 1 -DestinationPort 2
        Clear-Conntrack -NetworkNamespace $ns -WhatIf
        @(Get-ConntrackText $ns).Count | Should -Be 2
        Clear-Conntrack -NetworkNamespace $ns -Confirm:$false
        Get-ConntrackText $ns | Should -BeNullOrEmpty
    }
}

Describe 'An empty table is not walked' {
    # A dump walks every bucket of the hash table all namespaces share; Get-Conntrack asks the namespace's count first
    # and sends no dump when it is 0 (ConntrackClient.SkipEmptyTable). Namespaces without a ruleset that uses
    # conntrack, most pod namespaces, have an empty table.
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:empty = New-TestNamespace 'em'
        $script:full = New-TestNamespace 'fu'
        foreach ($port in 1001, 1002, 1003) {
            Invoke-InNamespace $full conntrack -I -p udp -s 10.77.0.1 -d 10.77.0.2 --sport $port --dport 53 -t 600 2>&1 | Out-Null
        }
        function script:Get-VerboseText([scriptblock] $Command) {
            (& $Command 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n"
        }
    }
    AfterAll { if ($script:SkipReason) { return }; Remove-TestNamespace $script:empty, $script:full }

    It 'sends no dump for a namespace the kernel counts no entries in, and says so in -Verbose' {
        @(Get-Conntrack -NetworkNamespace $empty) | Should -BeNullOrEmpty
        Get-VerboseText { Get-Conntrack -NetworkNamespace $empty -Verbose } | Should -Match 'counts no entries in this namespace: no dump sent'
        Get-VerboseText { Get-Conntrack -NetworkNamespace $empty -Protocol udp -DestinationPort 53 -Verbose } |
            Should -Match 'counts no entries in this namespace: no dump sent' -Because 'a filter that needs a walk per family skips both'
    }

    It 'dumps a namespace with entries as before, its count read from that namespace' {
        $got = @(Get-Conntrack -NetworkNamespace $full)
        $got.Count | Should -Be 3
        $text = Get-VerboseText { Get-Conntrack -NetworkNamespace $full -Verbose }
        $text | Should -Match 'Received 3 entries from the kernel'
        $text | Should -Not -Match 'no dump sent'
    }

    It 'asks the count on every call: an entry made after an empty answer is dumped' {
        @(Get-Conntrack -NetworkNamespace $empty) | Should -BeNullOrEmpty
        Invoke-InNamespace $empty conntrack -I -p tcp -s 10.78.0.1 -d 10.78.0.2 --sport 4000 --dport 443 --state ESTABLISHED -t 600 2>&1 | Out-Null
        try {
            (Get-Conntrack -NetworkNamespace $empty).SourcePort | Should -Be 4000
        } finally {
            Invoke-InNamespace $empty conntrack -F 2>&1 | Out-Null
        }
        Wait-Until -Because 'the deleted entry to be released' -Condition { (Get-ConntrackStatistics -NetworkNamespace $empty).Count -eq 0 }
        Get-VerboseText { Get-Conntrack -NetworkNamespace $empty -Verbose } | Should -Match 'no dump sent'
    }

    It 'skips the empty namespaces of -AllNetworkNamespaces and names each in -Verbose' {
        $text = Get-VerboseText { Get-Conntrack -AllNetworkNamespaces -Verbose | Out-Null }
        $emptyId = [uint64](& stat -L -c %i "/run/netns/$empty")
        $fullId = [uint64](& stat -L -c %i "/run/netns/$full")
        $text | Should -Match ("{0} \({1}\): the kernel counts no entries in this namespace: no dump sent" -f [regex]::Escape($empty), $emptyId)
        $text | Should -Match ("{0} \({1}\): received 3 entries" -f [regex]::Escape($full), $fullId)
        @(Get-Conntrack -AllNetworkNamespaces | Where-Object NetworkNamespaceId -eq $fullId).Count | Should -Be 3
    }
}

Describe 'Errors' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:ns = New-TestNamespace 'er' }
    AfterAll { if ($script:SkipReason) { return }; Remove-TestNamespace $script:ns }

    It 'Get-Conntrack: <Name> is <Id>' -ForEach $errorCases {
        $p = @{ NetworkNamespace = $ns }
        foreach ($k in $Params.Keys) { $p[$k] = $Params[$k] }
        { Get-Conntrack @p } | Should -Throw -ErrorId "$Id,ConntrackTools.Commands.GetConntrackCommand"
    }

    It 'without CAP_NET_ADMIN the error is PermissionDenied, with no stack trace' {
        $pwsh = Get-PwshCommand
        $script = "Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; try { Get-Conntrack } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `$_.Exception.GetType().Name }"
        $out = & ip netns exec $ns setpriv --bounding-set -net_admin -- @pwsh -NoProfile -NonInteractive -Command $script
        $out[0] | Should -Be 'PermissionDenied,ConntrackTools.Commands.GetConntrackCommand'
        $out[1] | Should -Be 'PermissionDenied'
    }

    It 'Clear-Conntrack without CAP_NET_ADMIN says that the flush needs it (PermissionDenied)' {
        $pwsh = Get-PwshCommand
        $script = "Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; try { Clear-Conntrack -Confirm:`$false } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `$_.Exception.Message }"
        $out = & ip netns exec $ns setpriv --bounding-set -net_admin -- @pwsh -NoProfile -NonInteractive -Command $script
        $out[0] | Should -Be 'PermissionDenied,ConntrackTools.Commands.ClearConntrackCommand'
        $out[1] | Should -Be 'PermissionDenied'
        $out[2] | Should -BeLike 'Flushing the conntrack table of * needs CAP_NET_ADMIN*'
        $out[2] | Should -Not -BeLike '*statistics*'
    }

    It 'other cmdlets report a missing namespace the same way' {
        { Get-ConntrackStatistics -NetworkNamespace ctt-does-not-exist } | Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.GetConntrackStatisticsCommand'
        { Clear-Conntrack -NetworkNamespace ctt-does-not-exist -Confirm:$false } | Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.ClearConntrackCommand'
    }
}

Describe 'Cleanup' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }

    It 'leaves no ctt- namespace of this file behind' {
        @(& ip netns list | Where-Object { $_ -match '^ctt-(ct|st|rw|er)-' }) | Should -BeNullOrEmpty
    }
}
