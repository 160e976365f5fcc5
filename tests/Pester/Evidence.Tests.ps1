#Requires -Version 7.4
<#
    Export-ConntrackEvidence / Import-ConntrackEvidence on the incident, as root in private ctt- namespaces.

    The bundle records in the client node (masquerade fully-random on c-up) while the incident happens: three
    long-lived flows, a VIP added to and removed from c-up, then what the unfixed kernel did (every masqueraded
    entry of the device flushed), and one more segment on each flow, which leaves from a new port and is reset.
    The bundle's summary must name the flush and the three remaps; the objects read back must equal the kernel's
    view (conntrack -L, conntrack -S, ip route, sysctl) and tcpdump's reading of the pcap.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CaptureLab.psm1') -Force
    # Not root, or a program missing: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Because 'the tests create network namespaces and capture packets' -Command conntrack, nft, python3
}

Describe 'Export-ConntrackEvidence -Duration during the incident, and Import-ConntrackEvidence' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $lab = New-NatLab -Tag 'ev' -Router -Family IPv4
        $work = Join-Path ([System.IO.Path]::GetTempPath()) "ctt-evidence-test-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $null = New-Item -ItemType Directory $work
        $bundle = Join-Path $work 'bundle.zip'
        $server = Start-LabServer $lab
        # Entries that exist before the bundle starts, to compare the snapshot with conntrack -L.
        1..4 | ForEach-Object {
            Invoke-InNamespace $lab.Client conntrack -I -p udp -s "10.9.0.$_" -d 10.232.3.28 --sport 5353 --dport 53 -t 600 2>&1 | Out-Null
        }
        $referenceTable = @(Get-ConntrackText -Namespace $lab.Client | ConvertFrom-ConntrackLine | ForEach-Object Key | Sort-Object)
        # conntrack's own save lines, without the timeout (it counts down between the two reads).
        $referenceSave = @(Invoke-InNamespace $lab.Client conntrack -L -o save 2>$null | Where-Object { $_ -like '-A *' } | ForEach-Object { $_ -replace ' -t \d+ ', ' ' } | Sort-Object)
        $referenceCpus = @(Invoke-InNamespace $lab.Client conntrack -S | Where-Object { $_ -match '^cpu=' }).Count

        $job = Start-ThreadJob -ArgumentList $env:CONNTRACKTOOLS_MODULE, $lab, $bundle -ScriptBlock {
            param($Module, $Lab, $Bundle)
            Import-Module $Module
            Export-ConntrackEvidence -Path $Bundle -NetworkNamespace $Lab.Client -Duration 10 -InterfaceName c-up -Filter "tcp port $($Lab.ServerPort)" -PassThru -Verbose
        }
        Wait-Until { @($job.Verbose | Where-Object Message -Like 'Recording*').Count -gt 0 -or $job.State -notin 'NotStarted', 'Running' } 'the bundle to start recording' -TimeoutSeconds 30
        if ($job.State -ne 'Running') { throw "Export-ConntrackEvidence did not start recording: $($job.Error) $($job.ChildJobs.JobStateInfo.Reason)" }

        $client = Start-LabClient $lab
        $null = Invoke-ProcessCommand $client 'open 3'
        0..2 | ForEach-Object { Invoke-ProcessCommand $client "send $_" } | Out-Null
        $masqueraded = @(Get-Conntrack -NetworkNamespace $lab.Client -Protocol tcp -DestinationPort $lab.ServerPort)
        # The VIP moves away: added, then removed from the masquerading device.
        Invoke-InNamespace $lab.Client ip addr add 192.168.11.100/32 dev c-up | Out-Null
        Invoke-InNamespace $lab.Client ip addr del 192.168.11.100/32 dev c-up | Out-Null
        # The unfixed kernel's reaction: every entry masqueraded out of c-up flushed.
        $masqueraded | Remove-Conntrack -NetworkNamespace $lab.Client
        # The next segments come after the removal's impact window (2 s) has closed, so the entries their resets
        # destroy are not counted against the removal.
        Start-Sleep -Milliseconds 2500
        0..2 | ForEach-Object { Invoke-ProcessCommand $client "send $_" } | Out-Null
        Wait-Until { (0..2 | ForEach-Object { Invoke-ProcessCommand $client "state $_" }) -notcontains 'open' } 'the server to reset the three flows'

        Wait-Until { $job.State -ne 'Running' } 'the recording to end' -TimeoutSeconds 40
        $summary = Receive-Job $job -ErrorVariable exportErrors 2>$null
        $evidence = @(Import-ConntrackEvidence -Path $bundle)
        $unpacked = Join-Path $work 'unpacked'
        Expand-Archive $bundle -DestinationPath $unpacked
        $folder = Join-Path $unpacked $lab.Client
    }

    AfterAll {
        if ($script:SkipReason) { return }
        if ($job) { Remove-Job $job -Force }
        Remove-NatLab $lab
        foreach ($p in $server, $client) { if ($p) { $p.Dispose() } }
        if ($work) { Remove-Item $work -Recurse -Force -ErrorAction Ignore }
    }

    It 'names the flush after the address removal and the three remaps in its summary and README' {
        $exportErrors | Should -BeNullOrEmpty
        $summary.Flushes | Should -Be 1
        $flush = @($summary.Findings | Where-Object { $_ -like 'Flush:*' })
        $flush.Count | Should -Be 1
        $flush[0] | Should -Match '^Flush: 3 conntrack entries destroyed .* after 192\.168\.11\.100/32 was removed from c-up .*\(3 of them not using that address\)'
        $flush[0] | Should -Match "don't flush all conntracks if only one address deleted on device"
        $summary.Remaps | Should -Be 3
        $remaps = @($summary.Findings | Where-Object { $_ -like 'Remap:*' })
        $remaps.Count | Should -Be 3
        $remaps | ForEach-Object { $_ | Should -Match 'and the server answered RST' }
        $readme = Get-Content (Join-Path $unpacked 'README.md') -Raw
        $readme | Should -Match 'Flush: 3 conntrack entries destroyed'
        ([regex]::Matches($readme, '- Remap: ')).Count | Should -Be 3
        $summary.Notes -join ' ' | Should -Match 'Find-ConntrackFlush'
    }

    It 'reads the bundle back as typed objects' {
        $evidence.Count | Should -Be 1
        $e = $evidence[0]
        $e | Should -BeOfType ([ConntrackTools.ConntrackEvidence])
        $e.NetworkNamespace | Should -Be $lab.Client
        $e.Entries | ForEach-Object { $_ | Should -BeOfType ([ConntrackTools.ConntrackEntry]) }
        $e.Statistics | ForEach-Object { $_ | Should -BeOfType ([ConntrackTools.ConntrackStatistics]) }
        $e.Health | ForEach-Object { $_ | Should -BeOfType ([ConntrackTools.HealthCheckResult]) }
        $e.ConntrackEvents | ForEach-Object { $_ | Should -BeOfType ([ConntrackTools.ConntrackEvent]) }
        $e.Packets | ForEach-Object { $_ | Should -BeOfType ([ConntrackTools.CapturedPacket]) }
        $e.Remaps | ForEach-Object { $_ | Should -BeOfType ([ConntrackTools.SnatRemapFinding]) }
        $e.Summary.Flushes | Should -Be 1
    }

    It 'holds the table, statistics, routes, addresses, rules and sysctls the kernel reports' {
        $e = $evidence[0]
        (@($e.Entries | Get-EntryKey | Sort-Object)) | Should -Be $referenceTable
        $save = @(Get-Content (Join-Path $folder 'conntrack.save') | ForEach-Object { $_ -replace ' -t \d+ ', ' ' } | Sort-Object)
        $save | Should -Be $referenceSave
        @($e.Statistics | Where-Object Cpu -NE $null).Count | Should -Be $referenceCpus
        $route = @($e.Routes | Where-Object Destination -EQ '10.232.3.0/24')
        $route.Count | Should -Be 1
        $route[0].Gateway | Should -Be '192.168.11.8'
        $route[0].InterfaceName | Should -Be 'c-up'
        $mainRoutes = @(Invoke-InNamespace $lab.Client ip -4 route show table main).Count
        @($e.Routes | Where-Object { $_.Table -eq 254 -and $_.AddressFamily -eq 'IPv4' }).Count | Should -Be $mainRoutes
        @($e.Addresses | Where-Object { "$($_.Address)" -eq '192.168.11.7' -and $_.InterfaceName -eq 'c-up' -and $_.PrefixLength -eq 24 }).Count | Should -Be 1
        # The lab masquerades both families with random-fully; nft's own listing is the reference.
        $nftRules = @(Invoke-InNamespace $lab.Client nft list ruleset | Where-Object { $_ -match '\bmasquerade\b.*fully-random' }).Count
        $nftRules | Should -BeGreaterThan 0
        @($e.MasqueradeRules | Where-Object RandomFully).Count | Should -Be $nftRules
        $loose = (Invoke-InNamespace $lab.Client sysctl -n net.netfilter.nf_conntrack_tcp_loose).Trim()
        $e.Kernel.Sysctls['net.netfilter.nf_conntrack_tcp_loose'] | Should -Be $loose
        $e.Kernel.KernelVersion | Should -Be (Get-Content /proc/sys/kernel/osrelease)
        ($e.Health.Name) | Should -Contain 'TcpLoose'
    }

    It 'recorded the events: the removal with its impact, the Destroy events of the flushed entries, the remaps on the wire' {
        $e = $evidence[0]
        $removed = @($e.AddressChanges | Where-Object Change -EQ 'Removed')
        $removed.Count | Should -Be 1
        $removed[0] | Should -BeOfType ([ConntrackTools.AddressImpactEvent])
        $removed[0].Address | Should -Be '192.168.11.100'
        $removed[0].DestroyedEntries | Should -Be 3
        $destroyedPorts = @($e.ConntrackEvents | Where-Object { $_.EventType -eq 'Destroy' -and $_.DestinationPort -eq 8899 } | ForEach-Object TranslatedSourcePort | Sort-Object)
        # Destroyed: the three flushed entries, then the three entries of the remapped segments, which the
        # server's RST ends at once (they were never assured).
        $destroyedPorts | Should -Be @(@($masqueraded.TranslatedSourcePort) + @($e.Remaps.NewSourcePort) | Sort-Object)
        # The remaps found again from the pcap are the ones found live, on the old ports of the flushed entries.
        @($e.Remaps.OldSourcePort | Sort-Object) | Should -Be @($masqueraded.TranslatedSourcePort | Sort-Object)
        $e.Remaps.ResetSeen | Should -Not -Contain $false
    }

    It 'wrote a pcap that tcpdump reads packet for packet' {
        Assert-Prerequisite -Command tcpdump -CommandBecause 'to read the pcap'
        $pcap = Join-Path $folder 'capture.pcap'
        $tcpdump = @(& tcpdump -nn -r $pcap 2>$null)
        $evidence[0].Packets.Count | Should -Be $tcpdump.Count
        $summary.Packets | Should -Be $tcpdump.Count
        @($tcpdump | Where-Object { $_ -match 'Flags \[R' }).Count | Should -BeGreaterOrEqual 3
    }

    It 'shows the summary, the evidence and routes in their default views, and the summary survives ConvertTo-Json and Clixml' {
        $text = $summary | Out-String
        $text | Should -Match 'Flushes\s*:\s*1'
        $text | Should -Match 'Remaps\s*:\s*3'
        ($evidence[0] | Out-String) | Should -Match 'Remaps\s*:\s*3'
        ($evidence[0].Routes | Out-String) | Should -Match '10\.232\.3\.0/24\s+192\.168\.11\.8\s+c-up\s+main'
        $json = $summary | ConvertTo-Json | ConvertFrom-Json
        $json.Findings.Count | Should -Be $summary.Findings.Count
        $json.Duration | Should -Not -BeNullOrEmpty
        $clixml = Join-Path $work 'summary.xml'
        $summary | Export-Clixml $clixml
        $back = Import-Clixml $clixml
        $back.Flushes | Should -Be 1
        ($back | Out-String) | Should -Match 'Flushes\s*:\s*1'
    }

    It 'refuses to overwrite without -Force, and reports missing and foreign bundles' {
        { Export-ConntrackEvidence -Path $bundle -NetworkNamespace $lab.Client } | Should -Throw -ErrorId 'FileExists,ConntrackTools.Commands.ExportConntrackEvidenceCommand'
        { Import-ConntrackEvidence -Path (Join-Path $work 'none.zip') -ErrorAction Stop } | Should -Throw -ErrorId 'EvidenceFileNotFound,ConntrackTools.Commands.ImportConntrackEvidenceCommand'
        $foreign = Join-Path $work 'foreign.zip'
        Compress-Archive -Path (Join-Path $unpacked 'README.md') -DestinationPath $foreign
        { Import-ConntrackEvidence -Path $foreign -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidEvidenceBundle,ConntrackTools.Commands.ImportConntrackEvidenceCommand'
    }
}

Describe 'Export-ConntrackEvidence over several namespaces, and Ctrl+C' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $a = New-TestNamespace 'eva'
        $b = New-TestNamespace 'evb'
        $work = Join-Path ([System.IO.Path]::GetTempPath()) "ctt-evidence-test-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $null = New-Item -ItemType Directory $work
        # Different tables: 2 entries in a, 5 in b.
        foreach ($x in @(@($a, 2), @($b, 5))) {
            1..$x[1] | ForEach-Object { Invoke-InNamespace $x[0] conntrack -I -p udp -s "10.9.1.$_" -d 10.9.2.1 --sport 1000 --dport 2000 -t 600 2>&1 | Out-Null }
        }
        function Get-WorkFolder { @(Get-ChildItem ([System.IO.Path]::GetTempPath()) -Directory -Filter 'ctt-evidence-*' | Where-Object Name -NotLike 'ctt-evidence-test-*' | ForEach-Object FullName) }
    }

    AfterAll {
        if ($script:SkipReason) { return }
        Remove-TestNamespace $a, $b
        if ($work) { Remove-Item $work -Recurse -Force -ErrorAction Ignore }
    }

    It '-AllNetworkNamespaces puts every named namespace and the current one in its own folder' {
        # Other work on this machine has namespaces of its own (some with a million entries): the export runs in a
        # private mount namespace whose /run/netns holds only this test's two namespaces, and in a private PID
        # namespace, so /proc shows no other process (and no namespace held only by one).
        $path = Join-Path $work 'all.zip'
        $script = Join-Path $work 'all.ps1'
        "Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; Export-ConntrackEvidence -Path '$path' -AllNetworkNamespaces" | Set-Content $script
        $view = Join-Path $work 'netns'
        $null = New-Item -ItemType Directory $view
        $shell = 'set -e; for n in "$A" "$B"; do touch "$V/$n"; mount --bind "/run/netns/$n" "$V/$n"; done; mount --rbind "$V" /run/netns; exec "$@"'
        $env:A = $a; $env:B = $b; $env:V = $view
        try { $out = & unshare --mount --propagation private --pid --fork --mount-proc -- sh -c $shell sh @(Get-PwshCommand) -NoProfile -NonInteractive -File $script 2>&1 }
        finally { Remove-Item Env:A, Env:B, Env:V }
        $LASTEXITCODE | Should -Be 0 -Because "$out"
        $evidence = Import-ConntrackEvidence $path
        @($evidence[0].Summary.NetworkNamespaces | Sort-Object) | Should -Be @(@('current', $a, $b) | Sort-Object)
        $ea = $evidence | Where-Object NetworkNamespace -EQ $a
        $eb = $evidence | Where-Object NetworkNamespace -EQ $b
        @($ea.Entries).Count | Should -Be 2
        @($eb.Entries).Count | Should -Be 5
        ($eb.Entries.SourceAddress | Sort-Object) | Should -Be (1..5 | ForEach-Object { "10.9.1.$_" })
        @($evidence | Where-Object NetworkNamespace -EQ $null).Count | Should -Be 1
        { Export-ConntrackEvidence -Path (Join-Path $work 'x.zip') -AllNetworkNamespaces -NetworkNamespace $a } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.ExportConntrackEvidenceCommand'
    }

    It 'stops a recording promptly on Ctrl+C, writes no file and leaves no socket, capture or work folder behind' {
        $path = Join-Path $work 'stopped.zip'
        $before = Get-WorkFolder
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; Export-ConntrackEvidence -Path '$path' -NetworkNamespace $a -Duration 60 -InterfaceName lo -Verbose")
        $handle = $ps.BeginInvoke()
        try {
            Wait-Until { @($ps.Streams.Verbose | Where-Object Message -Like 'Recording*').Count -gt 0 -or $handle.IsCompleted } 'the recording to start' -TimeoutSeconds 30
            # (Not Streams.Error in the message: enumerating a running PowerShell's stream waits until it ends.)
            $handle.IsCompleted | Should -BeFalse -Because 'the recording runs for 60 s'
            (Get-PacketSocketCount $a) | Should -Be 1
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 5
        }
        finally { $ps.Dispose() }
        Test-Path $path | Should -BeFalse
        (Get-PacketSocketCount $a) | Should -Be 0
        # Netlink sockets of this process inside namespace a: none left (each socket's inode appears in /proc/PID/fd).
        $netlink = @(Invoke-Checked ip netns exec $a cat /proc/net/netlink | Select-Object -Skip 1 | Where-Object { ($_ -split '\s+')[2] -eq "$PID" })
        $netlink | Should -BeNullOrEmpty
        @(Get-WorkFolder | Where-Object { $_ -notin $before }) | Should -BeNullOrEmpty
    }
}
