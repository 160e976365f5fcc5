#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    The module across a fleet over PowerShell's SSH remoting (nothing home-made): a controller namespace and three
    node namespaces on a bridge, each node with its own sshd and the PowerShell subsystem, each node's conntrack
    table filled differently. The client side (ssh-keyscan, the pwsh doing Invoke-Command) runs inside the
    controller namespace, so every packet stays inside the fleet's namespaces. Needs root and openssh-server
    (build.ps1 -Task Test installs it).
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'FleetLab.psm1') -Force
    # Not root, or a program missing: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Because 'the tests create network namespaces and start sshd' `
        -Command sshd, conntrack -CommandBecause '(build.ps1 -Task Test installs what is missing)'
    if ($script:SkipReason) { return }

    $script:lab = New-FleetLab -NodeCount 3
    # Node i: 2i+1 entries toward 10.232.3.28:8899 from 10.77.i.k with mark i, one of them masqueraded to
    # 192.168.11.7:3144i as in the incident; node n2 also runs with nf_conntrack_tcp_loose=0 (a health failure).
    $script:expected = @{}
    foreach ($node in $lab.Nodes) {
        $i = [int]$node.Name.Substring(1)
        for ($k = 1; $k -lt 2 * $i + 1; $k++) {
            Invoke-InNamespace $node.Namespace conntrack -I -p tcp -s "10.77.$i.$k" -d 10.232.3.28 --sport (40000 + $k) --dport 8899 `
                --state ESTABLISHED -u 'SEEN_REPLY,ASSURED' -t 600 -m $i 2>&1 | Out-Null
        }
        Invoke-InNamespace $node.Namespace conntrack -I -p tcp -s "10.77.$i.100" -d 10.232.3.28 --sport 33862 --dport 8899 `
            --reply-src 10.232.3.28 --reply-dst 192.168.11.7 --reply-port-src 8899 --reply-port-dst (31440 + $i) `
            --state ESTABLISHED -u 'SEEN_REPLY,ASSURED' -t 600 -m $i 2>&1 | Out-Null
        $script:expected[$node.Name] = @(Get-ConntrackText -Namespace $node.Namespace -Options '-p', 'tcp', '--dport', '8899')
    }
    Invoke-InNamespace $lab.Nodes[1].Namespace sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 | Out-Null
}

AfterAll {
    if ($script:SkipReason) { return }
    Remove-FleetLab $script:lab
}

Describe 'A fleet of nodes over PowerShell SSH remoting' -Tag 'Slow' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        # One operator session on the controller: connect once, then every round below reuses the same sessions
        # (a new SSH connection and remote pwsh cost seconds per node, a round on an open session a fraction).
        $script:run = (Invoke-FromController -Lab $lab -TimeoutSeconds 400 -Script @'
$result = [ordered]@{}
$sw = [Diagnostics.Stopwatch]::StartNew()
$s = New-PSSession -HostName $Nodes -UserName root -KeyFilePath $KeyFile -Options $SshOptions
$result.ConnectSeconds = $sw.Elapsed.TotalSeconds
try {
    $result.SessionStates = @($s.State | ForEach-Object { "$_" })
    $sw.Restart(); $result.PidsFirst = @(Invoke-Command -Session $s { $PID } | ForEach-Object { "$($_.PSComputerName)=$_" } | Sort-Object); $result.Round1Seconds = $sw.Elapsed.TotalSeconds
    $sw.Restart(); $result.PidsSecond = @(Invoke-Command -Session $s { $PID } | ForEach-Object { "$($_.PSComputerName)=$_" } | Sort-Object); $result.Round2Seconds = $sw.Elapsed.TotalSeconds

    # The module onto each node: the first folder of the node's PSModulePath is its user module path
    # ($XDG_DATA_HOME/powershell/Modules); imported there by name.
    $targets = Invoke-Command -Session $s { $d = ($env:PSModulePath -split ':')[0]; $null = New-Item -ItemType Directory -Force $d; $d }
    foreach ($session in $s) {
        $target = ($targets | Where-Object PSComputerName -EQ $session.ComputerName)
        Copy-Item -ToSession $session -Path $ModuleSource -Destination (Join-Path $target 'ConntrackTools') -Recurse
    }
    $result.Modules = @(Invoke-Command -Session $s {
        Import-Module ConntrackTools
        $m = Get-Module ConntrackTools
        [pscustomobject]@{ Node = $PSComputerName; ModuleBase = $m.ModuleBase; Cmdlets = @($m.ExportedCmdlets.Keys | Sort-Object) -join ',' }
    } | ForEach-Object { [pscustomobject]@{ Node = $_.PSComputerName; ModuleBase = $_.ModuleBase; Cmdlets = $_.Cmdlets } })

    # -ThrottleLimit on sessions: one node at a time, then all three at once.
    $window = { $a = [datetime]::UtcNow; Start-Sleep -Milliseconds 700; [pscustomobject]@{ Start = $a; End = [datetime]::UtcNow } }
    $result.One = @(Invoke-Command -Session $s -ThrottleLimit 1 -ScriptBlock $window | Sort-Object Start | ForEach-Object { [pscustomobject]@{ Node = $_.PSComputerName; Start = $_.Start; End = $_.End } })
    $result.Three = @(Invoke-Command -Session $s -ThrottleLimit 3 -ScriptBlock $window | Sort-Object Start | ForEach-Object { [pscustomobject]@{ Node = $_.PSComputerName; Start = $_.Start; End = $_.End } })

    # Test-ConntrackHealth on every node, into one table.
    $health = Invoke-Command -Session $s { Test-ConntrackHealth }
    $result.HealthTable = $health | Sort-Object Name, PSComputerName | Format-Table PSComputerName, Name, Passed, Value -AutoSize | Out-String -Width 200
    $result.Health = @($health | ForEach-Object { [pscustomobject]@{ Node = $_.PSComputerName; Name = $_.Name; Passed = $_.Passed; Value = "$($_.Value)"; TypeName = $_.pstypenames[0] } })

    # An evidence bundle on every node, written into the node's own cache folder, copied back and read here.
    $bundles = Invoke-Command -Session $s {
        $path = Join-Path $env:XDG_CACHE_HOME 'evidence.zip'
        $summary = Export-ConntrackEvidence -Path $path -Duration 2 -Force -PassThru
        [pscustomobject]@{ Path = $path; Entries = $summary.Entries }
    }
    $collected = Join-Path $Lab.Root 'collected'
    $null = New-Item -ItemType Directory -Force $collected
    foreach ($session in $s) {
        $source = ($bundles | Where-Object PSComputerName -EQ $session.ComputerName).Path
        Copy-Item -FromSession $session -Path $source -Destination (Join-Path $collected "$($session.ComputerName).zip")
    }
    Import-Module (Join-Path $ModuleSource 'ConntrackTools.psd1')
    $result.Evidence = @(Get-ChildItem $collected -Filter *.zip | Sort-Object Name | ForEach-Object {
        $e = Import-ConntrackEvidence $_.FullName
        [pscustomobject]@{
            Node = $_.BaseName; RemoteEntries = ($bundles | Where-Object PSComputerName -EQ $_.BaseName).Entries
            Sources = @($e.Entries | Where-Object DestinationPort -EQ 8899 | ForEach-Object { "$($_.SourceAddress)" } | Sort-Object)
            FailedChecks = @($e.Summary.FailedChecks); Recorded = $e.Summary.Duration.TotalSeconds; EntryType = $e.Entries[0].GetType().FullName
        }
    })

    # Watch-Conntrack on every node as jobs. New entries in each node's table until every node's watcher has
    # reported one (the watchers need a moment to subscribe); the job keeps running meanwhile.
    $job = Invoke-Command -Session $s -AsJob { Watch-Conntrack -EventType New -Protocol udp -DestinationPort 9999 }
    $deadline = [datetime]::UtcNow.AddSeconds(60); $k = 0
    do {
        $k++
        foreach ($node in $Lab.Nodes) {
            $i = $node.Name.Substring(1)
            & ip netns exec $node.Namespace conntrack -I -p udp -s "10.88.$i.$k" -d 10.232.3.28 --sport 5000 --dport 9999 -t 120 2>&1 | Out-Null
        }
        Start-Sleep -Milliseconds 500
        $seen = @(Receive-Job $job -Keep | ForEach-Object PSComputerName | Sort-Object -Unique)
    } until ($seen.Count -eq $Nodes.Count -or [datetime]::UtcNow -gt $deadline)
    $result.WatchRounds = $k
    $result.StateWhileStreaming = "$($job.State)"
    $result.ChildLocations = @($job.ChildJobs.Location | Sort-Object)
    $sw.Restart(); Stop-Job $job; $result.StopSeconds = $sw.Elapsed.TotalSeconds
    $result.StateAfterStop = "$($job.State)"
    $result.Events = @(Receive-Job $job | ForEach-Object { [pscustomobject]@{ Node = $_.PSComputerName; EventType = $_.EventType; SourceAddress = "$($_.SourceAddress)"; TypeName = $_.pstypenames[0] } })
    Remove-Job $job -Force
    $result.SessionFreeAfterStop = @(Invoke-Command -Session $s { 'free' }).Count
    $result.PidsLast = @(Invoke-Command -Session $s { $PID } | ForEach-Object { "$($_.PSComputerName)=$_" } | Sort-Object)
}
finally { Remove-PSSession $s }
[pscustomobject]$result
'@)[0]
    }

    It "keeps the fleet's addresses inside its namespaces" {
        @(& ip -o addr show | Select-String '198\.18\.14\.') | Should -BeNullOrEmpty
        $lab.Nodes | ForEach-Object { $script:expected[$_.Name].Count | Should -Be (2 * [int]$_.Name.Substring(1) + 1) }
    }

    It 'reuses persistent sessions: one connection, the same remote pwsh for every round' {
        $run.SessionStates | Should -Be @('Opened', 'Opened', 'Opened')
        $run.PidsFirst.Count | Should -Be 3
        $run.PidsSecond | Should -Be $run.PidsFirst
        $run.PidsLast | Should -Be $run.PidsFirst
        Write-Host ("    measured: 3 new sessions {0:N2} s; rounds on the open sessions {1:N2} s and {2:N2} s" -f $run.ConnectSeconds, $run.Round1Seconds, $run.Round2Seconds)
    }

    It 'copies the module to each node with Copy-Item -ToSession and imports it there by name' {
        $local = @((Import-PowerShellDataFile $env:CONNTRACKTOOLS_MODULE).CmdletsToExport | Sort-Object) -join ','
        foreach ($node in $lab.Nodes) {
            $mine = @($run.Modules | Where-Object Node -EQ $node.Name)
            $mine.Count | Should -Be 1
            $mine[0].ModuleBase | Should -Be "$($node.Dir)/data/powershell/Modules/ConntrackTools"
            $mine[0].Cmdlets | Should -Be $local
            Test-Path "$($node.Dir)/data/powershell/Modules/ConntrackTools/ConntrackTools.dll" | Should -BeTrue
        }
    }

    It '-ThrottleLimit with -Session bounds how many nodes run at once' {
        # ThrottleLimit 1: one node at a time, so no two windows overlap.
        $run.One.Count | Should -Be 3
        for ($k = 1; $k -lt 3; $k++) { $run.One[$k].Start | Should -BeGreaterOrEqual $run.One[$k - 1].End }
        # ThrottleLimit 3: all three at once, every window still open when the last one starts.
        $run.Three.Count | Should -Be 3
        $run.Three[2].Start | Should -BeLessThan ($run.Three.End | Measure-Object -Minimum).Minimum
    }

    It "Invoke-Command -HostName returns each node's own entries tagged with PSComputerName (and refuses -ThrottleLimit)" {
        $r = Invoke-FromController -Lab $lab -Script @'
$refused = try { Invoke-Command -HostName $Nodes[0] -UserName root -KeyFilePath $KeyFile -Options $SshOptions -ThrottleLimit 2 { 1 } | Out-Null; 'accepted' }
           catch { $_.FullyQualifiedErrorId }
Invoke-Command -HostName $Nodes -UserName root -KeyFilePath $KeyFile -Options $SshOptions -ScriptBlock {
    Import-Module ConntrackTools
    Get-Conntrack -Protocol tcp -DestinationPort 8899
} | ForEach-Object {
    # What the deserialized object kept, recorded on the controller (the types change again through Clixml).
    [pscustomobject]@{
        PSComputerName = $_.PSComputerName; TypeName = $_.pstypenames[0]; HostNameThrottle = $refused
        SourceAddress = "$($_.SourceAddress)"; SourcePort = $_.SourcePort; SourcePortType = $_.SourcePort.GetType().Name
        TranslatedSourceAddress = "$($_.TranslatedSourceAddress)"; TranslatedSourcePort = $_.TranslatedSourcePort
        Mark = $_.Mark; MarkType = $_.Mark.GetType().Name
        NatType = $_.NatType; NatTypeType = $_.NatType.GetType().Name
        State = $_.State; Original = $_.Original; OriginalType = $_.Original.GetType().Name
    }
}
'@
        foreach ($node in $lab.Nodes) {
            $i = [int]$node.Name.Substring(1)
            $mine = @($r | Where-Object PSComputerName -EQ $node.Name)
            # The same entries as conntrack -L in that node's namespace, and nothing of the other nodes.
            $mine.Count | Should -Be $script:expected[$node.Name].Count
            $mine | ForEach-Object { $_.SourceAddress | Should -Match "^10\.77\.$i\." ; $_.Mark | Should -Be $i }
            $ref = $script:expected[$node.Name] | ForEach-Object { if ($_ -match 'src=(\S+)') { $Matches[1] } } | Sort-Object
            ($mine.SourceAddress | Sort-Object) | Should -Be $ref
            $masq = @($mine | Where-Object SourceAddress -EQ "10.77.$i.100")
            $masq.Count | Should -Be 1
            $masq[0].TranslatedSourceAddress | Should -Be '192.168.11.7'
            $masq[0].TranslatedSourcePort | Should -Be (31440 + $i)
            $masq[0].NatType | Should -Be 'Source'
        }
        # Deserialized: flat addresses and ints survive, enums arrive as strings, nested tuples as their text.
        $r | ForEach-Object {
            $_.TypeName | Should -Be 'Deserialized.ConntrackTools.ConntrackEntry'
            $_.SourcePortType | Should -Be 'Int32'
            $_.MarkType | Should -Be 'UInt32'
            $_.NatTypeType | Should -Be 'String'
            $_.State | Should -Be 'ESTABLISHED'
            $_.OriginalType | Should -Be 'String'
            $_.Original | Should -Be "$($_.SourceAddress):$($_.SourcePort) -> 10.232.3.28:8899"
        }
        # With -HostName, PowerShell refuses -ThrottleLimit (it belongs to -Session and -ComputerName).
        $r[0].HostNameThrottle | Should -Be 'AmbiguousParameterSet,Microsoft.PowerShell.Commands.InvokeCommandCommand'
    }

    It 'runs Test-ConntrackHealth on every node into one table' {
        $names = @($run.Health | Where-Object Node -EQ 'n1' | ForEach-Object Name | Sort-Object)
        $names | Should -Contain 'TcpLoose'
        $names | Should -Contain 'TableFill'
        foreach ($node in 'n2', 'n3') { @($run.Health | Where-Object Node -EQ $node | ForEach-Object Name | Sort-Object) | Should -Be $names }
        $run.Health | ForEach-Object { $_.TypeName | Should -Be 'Deserialized.ConntrackTools.HealthCheckResult' }
        # Each node judged its own namespace: only n2 runs with nf_conntrack_tcp_loose=0.
        $loose = $run.Health | Where-Object Name -EQ 'TcpLoose' | Sort-Object Node
        ($loose | ForEach-Object { "$($_.Node):$($_.Passed):$($_.Value)" }) | Should -Be @('n1:True:1', 'n2:False:0', 'n3:True:1')
        $run.HealthTable | Should -Match 'n2\s+TcpLoose\s+False\s+0'
        Write-Host ($run.HealthTable.TrimEnd())
    }

    It 'gathers an evidence bundle on every node and copies the bundles back with Copy-Item -FromSession' {
        @($run.Evidence.Node) | Should -Be @('n1', 'n2', 'n3')
        foreach ($row in $run.Evidence) {
            $ref = $script:expected[$row.Node] | ForEach-Object { if ($_ -match 'src=(\S+)') { $Matches[1] } } | Sort-Object
            $row.Sources | Should -Be $ref
            $row.EntryType | Should -Be 'ConntrackTools.ConntrackEntry'
            $row.Recorded | Should -Be 2
            $row.RemoteEntries | Should -BeGreaterOrEqual $ref.Count
        }
        ($run.Evidence | ForEach-Object { "$($_.Node):$($_.FailedChecks -join ',')" }) | Should -Be @('n1:', 'n2:current:TcpLoose', 'n3:')
    }

    It 'streams Watch-Conntrack from every node as jobs, and Stop-Job ends the remote watchers' {
        $run.StateWhileStreaming | Should -Be 'Running'
        $run.ChildLocations | Should -Be @('n1', 'n2', 'n3')
        foreach ($node in $lab.Nodes) {
            $i = $node.Name.Substring(1)
            $mine = @($run.Events | Where-Object Node -EQ $node.Name)
            $mine.Count | Should -BeGreaterThan 0 -Because "$($node.Name)'s watcher streamed while the job ran"
            $mine | ForEach-Object {
                $_.SourceAddress | Should -Match "^10\.88\.$i\."
                $_.EventType | Should -Be 'New'
                $_.TypeName | Should -Be 'Deserialized.ConntrackTools.ConntrackEvent'
            }
        }
        $run.StateAfterStop | Should -Be 'Stopped'
        # The sessions answer again: the remote watchers stopped.
        $run.SessionFreeAfterStop | Should -Be 3
        Write-Host ("    Stop-Job over 3 nodes: {0:N2} s; {1} rounds of inserts before every node had reported" -f $run.StopSeconds, $run.WatchRounds)
    }
}
