#Requires -Version 7.4
<#
    Safe by construction (issue 13, item 8): no value a user gives reaches a shell. Every string parameter of every
    exported cmdlet is given hostile strings (a command after ';', '$( )', backticks, a newline, a pipe and '&&'),
    each of which would create a marker file if any shell ever evaluated it. The cmdlets may refuse the values (they
    mostly do, with their own errors); the test asserts that none of the markers exists afterwards, and that the value
    really reached the cmdlet (PowerShell bound the call: no parameter-set or missing-parameter error). As root, in a
    private ctt-* namespace; the cmdlets' own files go to TestDrive.
#>

BeforeDiscovery {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
    $script:Cases = foreach ($c in Get-Command -Module ConntrackTools -CommandType Cmdlet | Sort-Object Name) {
        foreach ($p in $c.Parameters.Values | Where-Object { $_.Name -notin $common -and $_.ParameterType -in [string], [string[]] } | Sort-Object Name) {
            @{ Command = $c.Name; Parameter = $p.Name }
        }
    }
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:Skip = if (-not (Test-IsRoot)) { 'the cmdlets talk to the kernel in a private namespace: root is needed' }
    if ($script:Skip) { return }
    $script:ns = New-TestNamespace -Tag 'hs'
    Invoke-Checked ip -n $ns link set lo up | Out-Null
    $script:work = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'work')).FullName
    $script:markers = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'markers')).FullName

    # Files the cmdlets read: a one-line conntrack save file and a pcap with one TCP SYN.
    $script:saveFile = Join-Path $work 'one.conntrack'
    Set-Content -Path $saveFile -Value '-I -p tcp -s 10.9.2.1 -d 10.9.2.2 --sport 5 --dport 6 --state ESTABLISHED -t 300'
    $script:pcapFile = Join-Path $work 'one.pcap'
    $frame = [byte[]](@(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 8, 0) +
        @(0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2) +
        @(0x9c, 0x40, 0x22, 0xc3, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0))
    $stream = [System.IO.MemoryStream]::new()
    $w = [System.IO.BinaryWriter]::new($stream)
    $w.Write([uint32]2712847316); $w.Write([uint16]2); $w.Write([uint16]4); $w.Write([int32]0); $w.Write([uint32]0); $w.Write([uint32]65535); $w.Write([uint32]1)
    $w.Write([uint32]1700000000); $w.Write([uint32]0); $w.Write([uint32]$frame.Length); $w.Write([uint32]$frame.Length); $w.Write($frame)
    $w.Flush()
    [System.IO.File]::WriteAllBytes($pcapFile, $stream.ToArray())
    # A master entry for New-ConntrackExpectation.
    $script:master = New-Conntrack -NetworkNamespace $ns -Protocol tcp -SourceAddress 10.9.1.1 -DestinationAddress 10.9.1.2 -SourcePort 1 -DestinationPort 21 -State ESTABLISHED -Timeout 300 -PassThru

    # The values that would leave a trace if a shell saw them: each names its own marker file.
    function Get-HostileValue([string] $Key) {
        $m = Join-Path $script:markers $Key
        @(
            "x; touch $m-semicolon"
            "`$(touch $m-subst)"
            "``touch $m-backtick``"
            "x`ntouch $m-newline"
            "x | touch $m-pipe"
            "x && touch $m-and"
        )
    }

    # What each cmdlet needs besides the hostile value, so that the call binds and gets as far as it can.
    function Get-BaseParameter([string] $Command) {
        $b = @{}
        $cmd = Get-Command $Command
        if ($cmd.Parameters.ContainsKey('NetworkNamespace')) { $b.NetworkNamespace = $script:ns }
        if ($cmd.Parameters.ContainsKey('Confirm')) { $b.Confirm = $false }
        if ($Command -like 'Watch-*' -or $Command -eq 'Export-ConntrackEvidence') { $b.Duration = [timespan]::FromSeconds(0.3) }
        switch ($Command) {
            'Export-Conntrack' { $b.Path = Join-Path $script:work 'export.conntrack' }
            'Export-ConntrackEvidence' { $b.Path = Join-Path $script:work 'evidence.zip'; $b.Force = $true; $b.InterfaceName = 'lo' }
            'Import-Conntrack' { $b.Path = $script:saveFile }
            'Import-ConntrackEvidence' { $b.Path = Join-Path $script:work 'none.zip' }
            'New-Conntrack' { $b += @{ Protocol = 'tcp'; SourceAddress = '10.9.3.1'; DestinationAddress = '10.9.3.2'; SourcePort = 7; DestinationPort = 8; Timeout = 10 } }
            'New-ConntrackExpectation' { $b += @{ Master = $script:master; Timeout = [timespan]::FromSeconds(10); DestinationPort = 2000 } }
            'Read-PacketCapture' { $b.LiteralPath = $script:pcapFile }
            'Remove-ConntrackExpectation' { $b.All = $true }
            'Set-Conntrack' { $b.Mark = 1; $b.Protocol = 'udp' }
            'Remove-Conntrack' { $b.Protocol = 'udp'; $b.DestinationPort = 9 }
            'Test-VipMigration' { $b += @{ Address = '192.168.99.1/32'; InterfaceName = 'lo'; HoldTime = [timespan]::Zero } }
            'Watch-Packet' { $b.InterfaceName = 'lo' }
        }
        $b
    }
}

AfterAll {
    if ($script:ns) { Remove-TestNamespace $script:ns }
}

Describe 'Hostile strings' -Tag 'Privileged' {
    It '<Command> -<Parameter> passes them to no shell' -ForEach $Cases {
        Assert-Prerequisite -Reason $script:Skip
        $key = "$Command-$Parameter"
        $bindingErrors = 'AmbiguousParameterSet', 'NamedParameterNotFound', 'MissingMandatoryParameter', 'ParameterAlreadyBound', 'InputObjectNotBound'
        Push-Location $script:work
        try {
            foreach ($value in Get-HostileValue $key) {
                $splat = Get-BaseParameter $Command
                # The set of -All, -Helper and piped expectations: the hostile helper name is its own set.
                if ($Command -eq 'Remove-ConntrackExpectation' -and $Parameter -eq 'Helper') { $splat.Remove('All') }
                if ($Command -eq 'Read-PacketCapture' -and $Parameter -eq 'Path') { $splat.Remove('LiteralPath') }
                $splat[$Parameter] = $value
                $failures = [System.Collections.Generic.List[object]]::new()
                try {
                    & $Command @splat -ErrorAction SilentlyContinue -ErrorVariable +failures -WarningAction SilentlyContinue | Out-Null
                }
                catch { $failures.Add($_) }
                foreach ($f in $failures) {
                    $id = "$($f.FullyQualifiedErrorId)"
                    foreach ($b in $bindingErrors) { $id | Should -Not -BeLike "$b*" -Because "the value must reach $Command (the call did not bind: $f)" }
                }
            }
        }
        finally { Pop-Location }
        @(Get-ChildItem -LiteralPath $script:markers) | Should -BeNullOrEmpty -Because 'a marker file means a shell evaluated a value'
    }

    It 'found string parameters on most cmdlets' -TestCases @(@{ Count = @($Cases).Count; Commands = @($Cases.Command | Sort-Object -Unique).Count }) {
        $Count | Should -BeGreaterThan 80
        $Commands | Should -BeGreaterThan 18
    }
}
