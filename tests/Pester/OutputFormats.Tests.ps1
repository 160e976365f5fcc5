#Requires -Version 7.4
<#
    Every output type survives the three ways PowerShell users export objects, with readable values: ConvertTo-Json
    at its default depth (2), Export-Csv/Import-Csv and Export-Clixml/Import-Clixml. Addresses come back as canonical
    text, enums as their names, times with their milliseconds (ISO 8601 in CSV), and the nested arrays (Packets,
    DestroyedSample, EntriesLost, Steps, AddressChanges) as readable elements at JSON's default depth.
    Real objects from the running kernel, made as root in private ctt-* namespaces (and one Test-VipMigration
    -EmulateLegacyKernel sandbox, which removes itself). Files go to TestDrive:.
#>

BeforeDiscovery {
    # Per type: the address properties (text), the enum properties (names), the time properties (DateTime with
    # milliseconds), the durations (TimeSpan) and the nested arrays. The list of types is the module's output
    # contract; a test below fails when the module exports an [OutputType] that is not listed here.
    $script:Types = @(
        @{ Type = 'ConntrackEntry'; Addresses = @('SourceAddress', 'DestinationAddress', 'TranslatedSourceAddress', 'TranslatedDestinationAddress')
            Enums = @('AddressFamily', 'Status', 'NatType'); Times = @('StartTime'); Durations = @('Timeout'); Nested = @() }
        @{ Type = 'FlowTuple'; Addresses = @('SourceAddress', 'DestinationAddress'); Enums = @(); Times = @(); Durations = @(); Nested = @() }
        @{ Type = 'ConntrackEvent'; Addresses = @('SourceAddress', 'DestinationAddress', 'TranslatedSourceAddress', 'TranslatedDestinationAddress')
            Enums = @('EventType', 'AddressFamily', 'Status', 'NatType'); Times = @('TimeReceived'); Durations = @('Timeout'); Nested = @() }
        @{ Type = 'AddressChangeEvent'; Addresses = @('Address'); Enums = @('Change', 'AddressFamily', 'Scope', 'Flags'); Times = @('TimeReceived')
            Durations = @(); Nested = @() }
        @{ Type = 'AddressImpactEvent'; Addresses = @('Address'); Enums = @('Change', 'AddressFamily', 'Scope', 'Flags'); Times = @('TimeReceived')
            Durations = @(); Nested = @('DestroyedSample') }
        @{ Type = 'ConntrackStatistics'; Addresses = @(); Enums = @(); Times = @(); Durations = @(); Nested = @() }
        @{ Type = 'CapturedPacket'; Addresses = @('SourceAddress', 'DestinationAddress'); Enums = @('AddressFamily', 'TcpFlags'); Times = @('Timestamp')
            Durations = @(); Nested = @() }
        @{ Type = 'SnatRemapFinding'; Addresses = @('ClientAddress', 'ServerAddress'); Enums = @(); Times = @('Time', 'ResetTime'); Durations = @()
            Nested = @('Packets') }
        @{ Type = 'VipMigrationResult'; Addresses = @(); Enums = @('Mode'); Times = @(); Durations = @('Duration')
            Nested = @('EntriesLost', 'Remaps', 'Steps', 'AddressChanges') }
        @{ Type = 'VipMigrationStep'; Addresses = @(); Enums = @(); Times = @('Time'); Durations = @(); Nested = @() }
        @{ Type = 'HealthCheckResult'; Addresses = @(); Enums = @(); Times = @(); Durations = @(); Nested = @() }
        @{ Type = 'ConntrackExpectation'; Addresses = @('SourceAddress', 'DestinationAddress', 'MasterSourceAddress', 'MasterDestinationAddress')
            Enums = @('AddressFamily', 'Flags'); Times = @(); Durations = @('Timeout'); Nested = @() }
        @{ Type = 'NetTCPConnection'; Addresses = @('LocalAddress', 'RemoteAddress'); Enums = @('State', 'AddressFamily'); Times = @('CreationTime')
            Durations = @(); Nested = @() }
        @{ Type = 'NetUDPEndpoint'; Addresses = @('LocalAddress', 'RemoteAddress'); Enums = @('AddressFamily'); Times = @('CreationTime')
            Durations = @(); Nested = @() }
        @{ Type = 'NetworkNamespaceInfo'; Addresses = @(); Enums = @(); Times = @(); Durations = @(); Nested = @() }
        @{ Type = 'ConntrackFlushFinding'; Addresses = @(); Enums = @('Initiator'); Times = @('Time'); Durations = @('Window'); Nested = @('Sample') }
        @{ Type = 'ConntrackEvidenceSummary'; Addresses = @(); Enums = @(); Times = @('Created'); Durations = @('Duration'); Nested = @() }
        @{ Type = 'ConntrackEvidence'; Addresses = @(); Enums = @(); Times = @(); Durations = @(); Nested = @('Entries', 'ConntrackEvents', 'Health') }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    $script:Samples = @{}
    $script:Skip = $null
    $script:ns = $null
    if (-not (Test-IsRoot)) { $script:Skip = 'making real output objects needs root (namespaces, CAP_NET_ADMIN)'; return }

    $script:ns = New-TestNamespace -Tag 'fmt'
    Invoke-InNamespace $ns sysctl -qw net.netfilter.nf_conntrack_timestamp=1 | Out-Null
    Invoke-InNamespace $ns sysctl -qw net.netfilter.nf_conntrack_events=1 | Out-Null
    Add-VethPair -Namespace $ns -Name 'ctt-fmt0' -Peer 'ctt-fmt1'
    Invoke-Checked ip -n $ns addr add fd00:77::5/64 dev ctt-fmt0 nodad | Out-Null

    # An entry with source NAT (IPv6, so the compressed lower-case form is checked too), seen by a watcher as it is made.
    $watcher = Start-Watcher -Command 'Watch-Conntrack' -Parameters @{ NetworkNamespace = $ns; Count = 1; EventType = 'New' }
    try {
        Wait-WatcherReady $watcher
        New-Conntrack -NetworkNamespace $ns -Protocol tcp -SourceAddress 'FD00:0:0:0::7' -DestinationAddress fd00::28 -SourcePort 33862 -DestinationPort 8899 `
            -ReplySourceAddress fd00::28 -ReplyDestinationAddress fd00::99 -ReplySourcePort 8899 -ReplyDestinationPort 31445 `
            -State ESTABLISHED -Timeout 120 | Out-Null
        $script:Samples.ConntrackEvent = @(Complete-Watcher $watcher)[0]
    }
    finally { Remove-Watcher $watcher }
    $script:Samples.ConntrackEntry = Get-Conntrack -NetworkNamespace $ns | Select-Object -First 1
    $script:Samples.FlowTuple = $script:Samples.ConntrackEntry.Original
    $script:Samples.ConntrackStatistics = Get-ConntrackStatistics -NetworkNamespace $ns
    $script:Samples.HealthCheckResult = Test-ConntrackHealth -NetworkNamespace $ns | Select-Object -First 1

    # The sandbox with the legacy kernel emulated yields everything nested: lost entries, remaps with their packets,
    # the address removal with its destroyed sample, and the timeline.
    $vip = Test-VipMigration -EmulateLegacyKernel -Connections 2
    $script:Samples.VipMigrationResult = $vip
    $script:Samples.VipMigrationStep = $vip.Steps[0]
    $script:Samples.SnatRemapFinding = @($vip.Remaps | Where-Object ResetSeen)[0]
    $script:Samples.CapturedPacket = $script:Samples.SnatRemapFinding.Packets[0]
    $script:Samples.AddressImpactEvent = @($vip.AddressChanges | Where-Object { $_.DestroyedSample })[0]
    $script:Samples.AddressChangeEvent = Watch-AddressChange -NetworkNamespace $ns -InterfaceName ctt-fmt0 -AddressFamily IPv6 -IncludeExisting -Count 1

    # An FTP control connection on the namespace's loopback with the kernel's FTP helper: an expectation, a TCP
    # connection with its conntrack entry, and (below) a connected UDP socket. Local traffic gets its conntrack entry
    # in the output hook, so the helper is assigned there.
    Invoke-Checked ip -n $ns link set lo up | Out-Null
    Invoke-InNamespace $ns nft 'add table inet ctt; add ct helper inet ctt ftp-std { type "ftp" protocol tcp; }; add chain inet ctt out { type filter hook output priority 0; }; add rule inet ctt out tcp dport 21 ct helper set "ftp-std"' | Out-Null
    $script:procs = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()
    function Start-InNamespace([string[]] $Arguments) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
        foreach ($a in @('netns', 'exec', $script:ns) + $Arguments) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardInput = $true
        $p = [System.Diagnostics.Process]::Start($psi)
        $script:procs.Add($p)
        $p
    }
    $ftpLab = Join-Path $PSScriptRoot 'ftp-lab.py'
    (Start-InNamespace @('/usr/bin/python3', $ftpLab, 'server', '127.0.0.1', '21')).StandardOutput.ReadLine() | Should -Be 'listening'
    $null = (Start-InNamespace @('/usr/bin/python3', $ftpLab, 'client', '127.0.0.1', '21', '50123')).StandardOutput.ReadLine()
    $udp = Start-Traffic $ns @('send', 'fd00:77::5', '5353', '--connect', '--hold')
    $script:procs.Add($udp)
    $udp.StandardOutput.ReadLine() | Should -Be 'sent'
    Wait-Until { @(Get-ConntrackExpectation -NetworkNamespace $ns).Count -ge 1 } -Because 'the FTP helper creates an expectation'
    $script:Samples.ConntrackExpectation = Get-ConntrackExpectation -NetworkNamespace $ns | Select-Object -First 1
    $script:Samples.NetTCPConnection = Get-NetTCPConnection -NetworkNamespace $ns -RemotePort 21 -State Established | Select-Object -First 1
    $script:Samples.NetUDPEndpoint = Get-NetUDPEndpoint -NetworkNamespace $ns -RemotePort 5353 | Select-Object -First 1
    $script:Samples.NetworkNamespaceInfo = Get-NetworkNamespace -Name $ns

    # An evidence bundle with a flush in it: 30 entries made and removed while it records.
    $bundle = Join-Path $TestDrive 'fmt-evidence.zip'
    $job = Start-ThreadJob -ArgumentList $env:CONNTRACKTOOLS_MODULE, $ns, $bundle {
        param($module, $ns, $path)
        Import-Module $module
        Export-ConntrackEvidence -NetworkNamespace $ns -Path $path -Duration 4 -PassThru
    }
    Start-Sleep -Seconds 1.5
    foreach ($i in 1..30) {
        New-Conntrack -NetworkNamespace $ns -Protocol udp -SourceAddress 10.77.3.1 -DestinationAddress 10.77.3.2 -SourcePort (3000 + $i) -DestinationPort 53 -Timeout 300 | Out-Null
    }
    Remove-Conntrack -NetworkNamespace $ns -Protocol udp -DestinationAddress 10.77.3.2 -Confirm:$false
    $script:Samples.ConntrackEvidenceSummary = $job | Wait-Job -Timeout 60 | Receive-Job
    $job | Remove-Job -Force
    $script:Samples.ConntrackEvidence = Import-ConntrackEvidence -Path $bundle
    $script:Samples.ConntrackFlushFinding = $script:Samples.ConntrackEvidence.ConntrackEvents | Find-ConntrackFlush -MinimumEntries 30 | Select-Object -First 1

    function Get-Sample([string] $Type) {
        $s = $script:Samples[$Type]
        if ($null -eq $s) { throw "no $Type was produced to test with" }
        $s
    }

    # The canonical text of an address: what every address property must read as.
    function ConvertTo-AddressText($Value) { [System.Net.IPAddress]::Parse("$Value").ToString() }

    function Assert-Times($Live, $Back, [string[]] $Names) {
        foreach ($n in $Names) {
            if ($null -eq $Live.$n) { continue }
            [datetime] $t = $Back.$n
            $t.ToUniversalTime().Ticks | Should -Be ([datetime]$Live.$n).ToUniversalTime().Ticks -Because "$n keeps its full precision"
        }
    }
}

AfterAll {
    foreach ($p in @($script:procs)) { if ($p -and -not $p.HasExited) { $p.Kill() } }
    Remove-TestNamespace $script:ns
}

Describe 'Output type <Type>' -Tag 'Privileged', 'Slow' -ForEach $Types {
    BeforeEach {
        Assert-Prerequisite -Reason $script:Skip
    }

    It 'is produced by the module (sample object of the right type)' {
        (Get-Sample $Type).GetType().FullName | Should -Be "ConntrackTools.$Type"
    }

    It 'ConvertTo-Json (default depth) writes addresses as text, enums as names, times as ISO 8601' {
        $live = Get-Sample $Type
        $text = $live | ConvertTo-Json -WarningAction SilentlyContinue
        $text | Should -Not -Match '"IsIPv6Multicast"' -Because 'no address may be written as an IPAddress object'
        $back = $text | ConvertFrom-Json
        foreach ($n in $Addresses) {
            $back.$n | Should -BeOfType [string] -Because "$n is an address"
            $back.$n | Should -Be (ConvertTo-AddressText $live.$n)
        }
        foreach ($n in $Enums) {
            if ($null -eq $live.$n) { continue }
            $back.$n | Should -Be "$($live.$n)" -Because "$n is an enum, written by name"
        }
        foreach ($n in $Times) {
            if ($null -eq $live.$n) { continue }
            $text | Should -Match ('"{0}": "\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+' -f $n)
        }
        Assert-Times $live $back $Times
        foreach ($n in $Durations) { $back.$n.TotalMilliseconds | Should -Be $live.$n.TotalMilliseconds }
    }

    It 'ConvertTo-Json (default depth) keeps the nested array <_> readable' -ForEach $Nested {
        $n = $_
        $live = Get-Sample $Type
        $back = $live | ConvertTo-Json -WarningAction SilentlyContinue | ConvertFrom-Json
        @($live.$n).Count | Should -BeGreaterThan 0 -Because "the sample must have $n to check them"
        @($back.$n).Count | Should -Be @($live.$n).Count
        $first = @($back.$n)[0]; $liveFirst = @($live.$n)[0]
        # At the default depth an element is an object of readable values; what lies deeper is its one-line text.
        $first | Should -Not -BeOfType [string] -Because "an element of $n is still an object at depth 2"
        foreach ($p in $first.psobject.Properties) {
            $v = $p.Value
            if ($null -eq $v -or $v -is [ValueType] -or $v -is [string]) { continue }
            if ($v -is [array]) { $v = @($v)[0] }
            if ($null -eq $v) { continue }
            $v | Should -BeOfType [string] -Because "$n[0].$($p.Name) lies beyond the depth and must be text"
            $v | Should -Not -Match '^(System|ConntrackTools)\.' -Because "$n[0].$($p.Name) must be readable text, not a type name"
        }
        foreach ($a in 'SourceAddress', 'DestinationAddress', 'ClientAddress', 'ServerAddress', 'Address') {
            if ($liveFirst.psobject.Properties[$a]) { $first.$a | Should -Be (ConvertTo-AddressText $liveFirst.$a) }
        }
        foreach ($t in 'Time', 'Timestamp', 'TimeReceived') {
            if ($liveFirst.psobject.Properties[$t]) { ([datetime]$first.$t).ToUniversalTime().Ticks | Should -Be ([datetime]$liveFirst.$t).ToUniversalTime().Ticks }
        }
    }

    It 'Export-Csv writes addresses, enums and times (ISO 8601 with milliseconds) as readable text' {
        $live = Get-Sample $Type
        $file = Join-Path TestDrive: "$Type.csv"
        $live | Export-Csv -Path $file
        $raw = Get-Content $file -Raw
        $raw | Should -Not -Match 'System\.Net\.IPAddress'
        $back = Import-Csv -Path $file
        foreach ($n in $Addresses) { $back.$n | Should -Be (ConvertTo-AddressText $live.$n) }
        foreach ($n in $Enums) { if ($null -ne $live.$n) { $back.$n | Should -Be "$($live.$n)" } }
        foreach ($n in $Times) {
            if ($null -eq $live.$n) { continue }
            $back.$n | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}(Z|[+-]\d\d:\d\d)?$' -Because "$n is ISO 8601 with its fraction"
            [datetime]::Parse($back.$n, [cultureinfo]::InvariantCulture, 'RoundtripKind').ToUniversalTime().Ticks |
                Should -Be ([datetime]$live.$n).ToUniversalTime().Ticks
        }
        foreach ($n in $Durations) { [timespan]::Parse($back.$n, [cultureinfo]::InvariantCulture) | Should -Be $live.$n }
    }

    It 'Export-Clixml / Import-Clixml gives Deserialized.ConntrackTools.<Type> with the same readable values' {
        $live = Get-Sample $Type
        $file = Join-Path TestDrive: "$Type.xml"
        $live | Export-Clixml -Path $file
        $back = Import-Clixml -Path $file
        $back.psobject.TypeNames | Should -Contain "Deserialized.ConntrackTools.$Type"
        foreach ($n in $Addresses) { "$($back.$n)" | Should -Be (ConvertTo-AddressText $live.$n) }
        # A deserialized enum is its number with the name as its ToString() ("$x" gives the number).
        foreach ($n in $Enums) { if ($null -ne $live.$n) { $back.$n.ToString() | Should -Be $live.$n.ToString() } }
        foreach ($n in $Times) { if ($null -ne $live.$n) { $back.$n | Should -BeOfType [datetime] } }
        Assert-Times $live $back $Times
        foreach ($n in $Durations) { $back.$n | Should -Be $live.$n }
        foreach ($n in $Nested) { @($back.$n).Count | Should -Be @($live.$n).Count }
    }
}

Describe 'The list of output types' {
    It 'covers every [OutputType] of every exported cmdlet' -TestCases @(@{ Listed = @($Types.Type) }) {
        $module = Import-Module $env:CONNTRACKTOOLS_MODULE -PassThru -Force
        # The module's own types; PowerShell's (System.IO.FileInfo of Export-Conntrack -PassThru) need no listing.
        $declared = foreach ($c in $module.ExportedCmdlets.Values) { $c.OutputType.Name | Where-Object { $_ -like 'ConntrackTools.*' } }
        $listed = $Listed | ForEach-Object { "ConntrackTools.$_" }
        foreach ($t in ($declared | Sort-Object -Unique)) { $listed | Should -Contain $t -Because "$t is an output type" }
    }
}

Describe 'Default view of <Type>' -Tag 'Privileged', 'Slow' -ForEach @(
    # Filled: the columns that must show a value for the sample (the others may legitimately be empty).
    @{ Type = 'ConntrackEntry'; Filled = @('Proto', 'State', 'Timeout', 'Source', 'Destination', 'NAT', 'Mark') }
    @{ Type = 'FlowTuple'; Filled = @('Protocol', 'Source', 'Destination') }
    @{ Type = 'ConntrackEvent'; Filled = @('Time', 'Event', 'Proto', 'State', 'Source', 'Destination', 'NAT', 'Mark') }
    @{ Type = 'AddressChangeEvent'; Filled = @('Time', 'Change', 'Interface', 'Address') }
    @{ Type = 'AddressImpactEvent'; Filled = @('Time', 'Change', 'Interface', 'Address', 'Destroyed', 'Unrelated') }
    @{ Type = 'ConntrackStatistics'; Filled = @('Cpu', 'Count', 'Max', 'Fill', 'Found', 'Invalid', 'Insert', 'InsFailed', 'Drop', 'EarlyDrop', 'Error', 'SearchRestart') }
    @{ Type = 'CapturedPacket'; Filled = @('Time', 'Proto', 'Packet') }
    @{ Type = 'SnatRemapFinding'; Filled = @('Time', 'Client', 'Server', 'OldPort', 'NewPort', 'Sequence', 'Reset') }
    @{ Type = 'VipMigrationStep'; Filled = @('Time', 'Action', 'Observation') }
    @{ Type = 'HealthCheckResult'; Filled = @('Check', 'Result', 'Value', 'Message') }
) {
    BeforeAll {
        if (-not $script:Skip) {
            # The per-CPU statistics fill every counter column; the totals leave them empty by design.
            if ($Type -eq 'ConntrackStatistics') { $script:live = Get-ConntrackStatistics -NetworkNamespace $script:ns -PerCpu | Select-Object -First 1 }
            else { $script:live = Get-Sample $Type }
            $file = Join-Path TestDrive: "view-$Type.xml"
            $script:live | Export-Clixml -Path $file
            $script:deserialized = Import-Clixml -Path $file
        }

        # The table as text at 120 columns, cut into cells by the header's dashes.
        function Read-Table($InputObject) {
            $lines = @(($InputObject | Format-Table | Out-String -Width 120) -split "`r?`n" | Where-Object { $_.Trim() })
            $dashes = $lines[1]
            $spans = [regex]::Matches($dashes, '-+') | ForEach-Object { , @($_.Index, $_.Length) }
            $cell = { param($line, $span) if ($line.Length -le $span[0]) { '' } else { $line.Substring($span[0], [Math]::Min($span[1], $line.Length - $span[0])).Trim() } }
            $header = foreach ($s in $spans) { & $cell $lines[0] $s }
            $rows = foreach ($line in $lines[2..($lines.Count - 1)]) {
                $row = [ordered]@{}
                for ($i = 0; $i -lt $spans.Count; $i++) { $row[$header[$i]] = & $cell $line $spans[$i] }
                [pscustomobject]$row
            }
            [pscustomobject]@{ Lines = $lines; Header = @($header); Rows = @($rows) }
        }
    }
    BeforeEach {
        Assert-Prerequisite -Reason $script:Skip
    }

    It 'is selected for the live and the Deserialized object' {
        $script:deserialized.psobject.TypeNames[0] | Should -Be "Deserialized.ConntrackTools.$Type"
        foreach ($o in $script:live, $script:deserialized) {
            $t = Read-Table $o
            foreach ($c in $Filled) { $t.Header | Should -Contain $c }
        }
    }

    It 'fits 120 columns with every column shown' {
        foreach ($o in $script:live, $script:deserialized) {
            $t = Read-Table $o
            foreach ($line in $t.Lines) { $line.TrimEnd().Length | Should -BeLessOrEqual 120 }
            foreach ($c in $Filled) { $t.Header | Should -Contain $c -Because 'a column that does not fit is dropped' }
        }
    }

    It 'fills the columns, and the Deserialized object renders exactly as the live one' {
        $live = Read-Table $script:live
        $back = Read-Table $script:deserialized
        foreach ($c in $Filled) { $live.Rows[0].$c | Should -Not -BeNullOrEmpty -Because "column $c has a value" }
        ($back.Lines -join "`n") | Should -Be ($live.Lines -join "`n")
    }
}

Describe 'Default view of VipMigrationResult' -Tag 'Privileged', 'Slow' {
    It 'renders the same list for the live and the Deserialized object, with the counts filled' {
        Assert-Prerequisite -Reason $script:Skip
        $live = Get-Sample 'VipMigrationResult'
        $file = Join-Path TestDrive: 'view-vip.xml'
        $live | Export-Clixml -Path $file
        $back = Import-Clixml -Path $file
        $liveText = ($live | Out-String -Width 120).Trim()
        ($back | Out-String -Width 120).Trim() | Should -Be $liveText
        $liveText | Should -Match "Entries\s+: $($live.EntriesBefore) before, $($live.EntriesAfter) after, $(@($live.EntriesLost).Count) lost"
        $liveText | Should -Match "Remaps\s+: $(@($live.Remaps).Count)"
        $liveText | Should -Match 'Mode\s+: Sandbox'
    }
}
