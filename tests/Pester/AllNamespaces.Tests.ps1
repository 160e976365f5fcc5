#Requires -Version 7.4
<#
    Get-NetworkNamespace and -AllNetworkNamespaces against the running kernel, as root: 20 private namespaces, ten
    named (ctt-alln-*) and ten held only by a sleeping process of ours (unshare --net --uts, a hostname of its own),
    each with a different number of entries. Counts are compared with conntrack -L run inside each namespace
    (ip netns exec for the named ones, nsenter -t PID -n for the others). Other helpers' namespaces may exist on the
    machine at the same time: every assertion looks only at ours, by inode.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    # Not root, or a program missing: the tests skip with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Because 'the tests create network namespaces (CAP_NET_ADMIN)' -Command conntrack, unshare
    $script:Tag = 'alln' + [guid]::NewGuid().ToString('N').Substring(0, 4)
    $script:Targets = [System.Collections.Generic.List[object]]::new()
    $script:Pids = [System.Collections.Generic.List[int]]::new()
    $script:Names = [System.Collections.Generic.List[string]]::new()

    # A namespace held only by a process: unshare a network and a UTS namespace, set the hostname, sleep. exec keeps
    # one PID throughout (unshare execs sh, sh execs sleep), so the PID we keep is the process in the namespace.
    function New-ProcessNamespace([string] $Hostname) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new('unshare')
        foreach ($a in @('--net', '--uts', 'sh', '-c', "hostname $Hostname && ip link set lo up && exec sleep 3600")) { $psi.ArgumentList.Add($a) }
        $p = [System.Diagnostics.Process]::Start($psi)
        $script:Pids.Add($p.Id)
        Wait-Until -Because "hostname $Hostname set in process $($p.Id)" -Condition {
            (& nsenter -t $p.Id -u hostname 2>$null) -eq $Hostname -and (& readlink "/proc/$($p.Id)/exe" 2>$null) -like '*sleep'
        }
        $p.Id
    }
    function Get-Inode([string] $Path) { [uint64](& stat -L -c %i $Path) }
    # Runs a program inside a target namespace the way an operator would: ip netns exec NAME, or nsenter -t PID -n.
    function Invoke-InTarget($Target, [string[]] $Command) {
        if ($Target.Name) { & ip netns exec $Target.Name @Command 2>$null }
        else { & nsenter -t $Target.Pid -n @Command 2>$null }
    }
    function Get-ReferenceCount($Target) { @(Invoke-InTarget $Target @('conntrack', '-L') | Where-Object { $_ -match '^\w+\s+\d+' }).Count }
    function Add-Entries($Target, [int] $Index, [int] $Count) {
        $lines = 1..$Count | ForEach-Object {
            '-I -p tcp -s 10.{0}.0.{1} -d 10.250.{0}.1 --sport {2} --dport 443 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3600' -f (10 + $Index), $_, (20000 + $_)
        }
        $file = Join-Path $TestDrive ("ct-{0}.txt" -f [guid]::NewGuid().ToString('N'))
        Set-Content -Path $file -Value $lines
        try { Invoke-InTarget $Target @('conntrack', '-R', $file) | Out-Null }
        finally { Remove-Item $file -ErrorAction Ignore }
    }

    if (-not $script:SkipReason) {
        for ($i = 0; $i -lt 20; $i++) {
            if ($i % 2 -eq 0) {
                $n = New-TestNamespace -Tag $script:Tag
                $script:Names.Add($n)
                $t = [pscustomobject]@{ Name = $n; Pid = $null; Hostname = $null; Path = "/run/netns/$n"; Label = $n; Index = $i; Count = $i + 1 }
            } else {
                $h = "ctt-$($script:Tag)-host$i"
                $p = New-ProcessNamespace $h
                $t = [pscustomobject]@{ Name = $null; Pid = $p; Hostname = $h; Path = "/proc/$p/ns/net"; Label = "/proc/$p/ns/net"; Index = $i; Count = $i + 1 }
            }
            $t | Add-Member Id (Get-Inode $t.Path)
            Add-Entries $t $i $t.Count
            $script:Targets.Add($t)
        }
        # One named namespace gets an id in the caller's namespace, as a veth peer would give it.
        Invoke-Checked ip netns set $script:Targets[0].Name auto | Out-Null
        $script:ExpectedNsId = [int]((& ip netns list | Where-Object { $_ -like "$($script:Targets[0].Name) *" }) -replace '.*\(id: (\d+)\).*', '$1')
        $script:ById = @{}
        foreach ($t in $script:Targets) { $script:ById[$t.Id] = $t }
    }
}

AfterAll {
    foreach ($p in $script:Pids) { & kill -9 $p 2>$null }
    Remove-TestNamespace -Name $script:Names
}

Describe 'Get-NetworkNamespace' -Tag 'Privileged' {
    It 'lists the 20 namespaces once each, named and unnamed, with their inode, path, process and hostname' {
        Assert-Prerequisite -Reason $script:SkipReason
        $all = Get-NetworkNamespace
        @($all.Id | Group-Object | Where-Object Count -gt 1) | Should -BeNullOrEmpty -Because 'one object per inode'
        $ours = @($all | Where-Object { $script:ById.ContainsKey($_.Id) })
        $ours.Count | Should -Be 20
        foreach ($o in $ours) {
            $t = $script:ById[$o.Id]
            $o.Name | Should -Be $t.Name
            $o.Path | Should -Be $t.Path
            $o.NetworkNamespace | Should -Be $t.Label
            $o.NetworkNamespaceId | Should -Be $t.Id
            if ($t.Pid) {
                $o.ProcessId | Should -Be $t.Pid
                $o.ProcessName | Should -Be 'sleep'
                $o.ProcessCount | Should -Be 1
                $o.Hostname | Should -Be $t.Hostname -Because 'the hostname of the process''s own UTS namespace'
            } else {
                $o.ProcessId | Should -BeNullOrEmpty
                $o.Hostname | Should -BeNullOrEmpty
            }
            $o.KubernetesPodUid | Should -BeNullOrEmpty
            $o.IsCurrent | Should -BeFalse
        }
        ($all | Where-Object IsCurrent).Id | Should -Be (Get-Inode /proc/self/ns/net)
    }

    It 'reports the NetNsId the caller''s namespace assigned, and null where none is' {
        Assert-Prerequisite -Reason $script:SkipReason
        $all = Get-NetworkNamespace
        ($all | Where-Object Id -eq $script:Targets[0].Id).NetNsId | Should -Be $script:ExpectedNsId
        ($all | Where-Object Id -eq $script:Targets[2].Id).NetNsId | Should -BeNullOrEmpty
    }

    It 'filters by name with wildcards; unnamed namespaces never match' {
        Assert-Prerequisite -Reason $script:SkipReason
        $named = @(Get-NetworkNamespace -Name "ctt-$($script:Tag)-*")
        $named.Count | Should -Be 10
        @($named | Where-Object { -not $_.Name }) | Should -BeNullOrEmpty
    }

    It 'survives Export-Clixml and ConvertTo-Json with readable values' {
        Assert-Prerequisite -Reason $script:SkipReason
        $o = Get-NetworkNamespace | Where-Object Id -eq $script:Targets[1].Id
        $file = Join-Path $TestDrive 'ns.xml'
        $o | Export-Clixml $file
        $back = Import-Clixml $file
        $back.Hostname | Should -Be $script:Targets[1].Hostname
        $back.Id | Should -Be $script:Targets[1].Id
        ($o | ConvertTo-Json | ConvertFrom-Json).Path | Should -Be $script:Targets[1].Path
        ($back | Out-String -Width 250) | Should -Match ([regex]::Escape($script:Targets[1].Hostname))
    }
}

Describe 'Get-Conntrack -AllNetworkNamespaces' -Tag 'Privileged' {
    It 'dumps every namespace: per namespace, the count conntrack -L gives inside it, every entry tagged' {
        Assert-Prerequisite -Reason $script:SkipReason
        $entries = Get-Conntrack -AllNetworkNamespaces
        $groups = $entries | Where-Object { $null -ne $_.NetworkNamespaceId -and $script:ById.ContainsKey($_.NetworkNamespaceId) } | Group-Object NetworkNamespaceId
        $groups.Count | Should -Be 20
        foreach ($g in $groups) {
            $t = $script:ById[[uint64]$g.Name]
            $g.Count | Should -Be (Get-ReferenceCount $t) -Because "conntrack -L in $($t.Label)"
            $g.Count | Should -Be $t.Count
            @($g.Group.NetworkNamespace | Sort-Object -Unique) | Should -Be @($t.Label)
            @($g.Group | Where-Object { $_.SourceAddress -notlike "10.$(10 + $t.Index).0.*" }) | Should -BeNullOrEmpty -Because 'each namespace has its own entries'
        }
    }

    It 'applies the filters in every namespace' {
        Assert-Prerequisite -Reason $script:SkipReason
        $hits = @(Get-Conntrack -AllNetworkNamespaces -Protocol tcp -SourcePort 20003 | Where-Object { $script:ById.ContainsKey([uint64]$_.NetworkNamespaceId) })
        # Namespaces with at least three entries have exactly one with source port 20003.
        $hits.Count | Should -Be @($script:Targets | Where-Object Count -ge 3).Count
    }

    It 'binds -NetworkNamespace by property name from Get-NetworkNamespace, unnamed namespaces included' {
        Assert-Prerequisite -Reason $script:SkipReason
        $ours = Get-NetworkNamespace | Where-Object { $script:ById.ContainsKey($_.Id) }
        $entries = $ours | Get-Conntrack
        $groups = $entries | Group-Object NetworkNamespace
        $groups.Count | Should -Be 20
        foreach ($g in $groups) {
            $t = $script:Targets | Where-Object Label -eq $g.Name
            $g.Count | Should -Be $t.Count
            @($g.Group.NetworkNamespaceId | Sort-Object -Unique) | Should -Be @($t.Id)
        }
    }

    It 'refuses -AllNetworkNamespaces together with -NetworkNamespace' {
        Assert-Prerequisite -Reason $script:SkipReason
        { Get-Conntrack -AllNetworkNamespaces -NetworkNamespace $script:Targets[0].Name -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.GetConntrackCommand'
    }
}

Describe 'Get-ConntrackStatistics and Test-ConntrackHealth -AllNetworkNamespaces' -Tag 'Privileged' {
    It 'counts each namespace as conntrack -C does inside it' {
        Assert-Prerequisite -Reason $script:SkipReason
        $stats = Get-ConntrackStatistics -AllNetworkNamespaces | Where-Object { $script:ById.ContainsKey([uint64]$_.NetworkNamespaceId) }
        @($stats).Count | Should -Be 20
        foreach ($s in $stats) {
            $t = $script:ById[[uint64]$s.NetworkNamespaceId]
            $s.NetworkNamespace | Should -Be $t.Label
            $s.Count | Should -Be ([int](Invoke-InTarget $t @('conntrack', '-C')))
        }
        $perCpu = Get-ConntrackStatistics -AllNetworkNamespaces -PerCpu | Where-Object { [uint64]$_.NetworkNamespaceId -eq $script:Targets[3].Id }
        @($perCpu).Count | Should -Be ([Environment]::ProcessorCount)
    }

    It 'runs the checks in every namespace, each result tagged' {
        Assert-Prerequisite -Reason $script:SkipReason
        # The kernel advisories judge the kernel all namespaces share: one set per call, not one per namespace.
        $perNamespace = { $_.Name -notlike 'KernelAdvisory.*' }
        $single = @(Test-ConntrackHealth -NetworkNamespace $script:Targets[4].Name | Where-Object $perNamespace)
        $all = @(Test-ConntrackHealth -AllNetworkNamespaces)
        $kernel = @($all | Where-Object Name -Like 'KernelAdvisory.*')
        $kernel.Count | Should -BeGreaterThan 0
        @($kernel.Name | Sort-Object -Unique).Count | Should -Be $kernel.Count
        $results = $all | Where-Object $perNamespace | Where-Object { $script:ById.ContainsKey([uint64]$_.NetworkNamespaceId) }
        $byNs = $results | Group-Object NetworkNamespaceId
        $byNs.Count | Should -Be 20
        foreach ($g in $byNs) { @($g.Group.Name) | Should -Be @($single.Name) }
        $fill = $results | Where-Object { $_.Name -eq 'TableFill' -and [uint64]$_.NetworkNamespaceId -eq $script:Targets[5].Id }
        $fill.NetworkNamespace | Should -Be $script:Targets[5].Label
    }

    It 'takes namespaces from the pipeline' {
        Assert-Prerequisite -Reason $script:SkipReason
        $stats = Get-NetworkNamespace | Where-Object { $script:ById.ContainsKey($_.Id) } | Get-ConntrackStatistics
        @($stats).Count | Should -Be 20
        foreach ($s in $stats) { $s.Count | Should -Be ($script:Targets | Where-Object Label -eq $s.NetworkNamespace).Count }
    }
}

Describe 'Watchers with -AllNetworkNamespaces' -Tag 'Privileged' {
    It 'Watch-Conntrack follows a namespace created and one destroyed during the watch' {
        Assert-Prerequisite -Reason $script:SkipReason
        $w = Start-Watcher -Command Watch-Conntrack -Parameters @{ AllNetworkNamespaces = $true; EventType = @('New') }
        try {
            $first = $script:Targets[6]
            Wait-WatcherReady $w -Pattern ([regex]::Escape("Listening in $($first.Label) ($($first.Id))"))
            # Created during the watch: one named, one held by a process.
            $newName = New-TestNamespace -Tag $script:Tag
            $script:Names.Add($newName)
            $newPid = New-ProcessNamespace "ctt-$($script:Tag)-late"
            $late = @(
                [pscustomobject]@{ Name = $newName; Pid = $null; Label = $newName; Id = (Get-Inode "/run/netns/$newName") }
                [pscustomobject]@{ Name = $null; Pid = $newPid; Label = "/proc/$newPid/ns/net"; Id = (Get-Inode "/proc/$newPid/ns/net") }
            )
            foreach ($n in $late) {
                Wait-WatcherReady $w -Pattern ([regex]::Escape("Listening in $($n.Label) ($($n.Id))"))
            }
            Add-Entries $late[0] 40 2
            Add-Entries $late[1] 41 3
            # Destroyed during the watch: one named namespace deleted, one process killed.
            $goneNamed = $script:Targets[8]; $gonePid = $script:Targets[9]
            & ip netns del $goneNamed.Name
            $script:Names.Remove($goneNamed.Name) | Out-Null
            & kill -9 $gonePid.Pid
            foreach ($g in $goneNamed, $gonePid) {
                Wait-WatcherReady $w -Pattern ([regex]::Escape("$($g.Label) ($($g.Id)) is gone"))
            }
            # Still watching the others afterwards.
            Add-Entries $script:Targets[10] 50 1
            Wait-Watcher $w -What 'the New events' -Until {
                param($x) @(Get-WatcherOutput $x | Where-Object { $_.NetworkNamespaceId -in @($late.Id + $script:Targets[10].Id) }).Count -ge 6
            }
            $out = @(Get-WatcherOutput $w)
            @($out | Where-Object NetworkNamespaceId -eq $late[0].Id).Count | Should -Be 2
            @($out | Where-Object NetworkNamespaceId -eq $late[1].Id).Count | Should -Be 3
            ($out | Where-Object NetworkNamespaceId -eq $late[1].Id | Select-Object -First 1).NetworkNamespace | Should -Be $late[1].Label
            @($out | Where-Object NetworkNamespaceId -eq $script:Targets[10].Id).Count | Should -Be 1
            @($out | Where-Object { $_.NetworkNamespaceId -in @($late.Id) -and $_.EventType -ne 'New' }) | Should -BeNullOrEmpty
        } finally {
            Stop-Watcher $w
            Remove-Watcher $w
        }
        $w.PowerShell.Streams.Error | Should -BeNullOrEmpty
    }

    It 'Watch-AddressChange reports changes in named and unnamed namespaces, tagged' {
        Assert-Prerequisite -Reason $script:SkipReason
        $w = Start-Watcher -Command Watch-AddressChange -Parameters @{ AllNetworkNamespaces = $true; AddressFamily = 'IPv4' }
        try {
            $a = $script:Targets[12]; $b = $script:Targets[13]
            foreach ($t in $a, $b) { Wait-WatcherReady $w -Pattern ([regex]::Escape("Listening in $($t.Label) ($($t.Id))")) }
            Invoke-InTarget $a @('ip', 'address', 'add', '10.251.0.12/32', 'dev', 'lo') | Out-Null
            Invoke-InTarget $b @('ip', 'address', 'add', '10.251.0.13/32', 'dev', 'lo') | Out-Null
            Wait-Watcher $w -What 'both additions' -Until { param($x) @(Get-WatcherOutput $x | Where-Object Address -like '10.251.0.1*').Count -ge 2 }
            $out = @(Get-WatcherOutput $w | Where-Object Address -like '10.251.0.1*')
            ($out | Where-Object Address -eq '10.251.0.12').NetworkNamespaceId | Should -Be $a.Id
            ($out | Where-Object Address -eq '10.251.0.12').NetworkNamespace | Should -Be $a.Label
            ($out | Where-Object Address -eq '10.251.0.13').NetworkNamespaceId | Should -Be $b.Id
            ($out | Where-Object Address -eq '10.251.0.13').NetworkNamespace | Should -Be $b.Label
            ($out | Where-Object Address -eq '10.251.0.13').InterfaceName | Should -Be 'lo'
        } finally {
            Stop-Watcher $w
            Remove-Watcher $w
        }
    }
}
