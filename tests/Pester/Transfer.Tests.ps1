#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Export-Conntrack / Import-Conntrack round trips between private namespaces (ctt-*), compared field by field
    and with conntrack-tools' own save format (conntrack -L -o save, conntrack -R). Needs root.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Not root, or a program missing: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command conntrack, nft, python3

    function Get-Fields {
        # The fields a round trip keeps, one comparable record per entry, keyed by zone and original tuple.
        param([Parameter(Mandatory)] [string] $Namespace)
        $map = @{}
        foreach ($e in Get-Conntrack -NetworkNamespace $Namespace) {
            $key = '{0} {1} {2}' -f $e.Protocol, $e.Original, $e.Zone
            if ($e.Protocol -in 'icmp', 'icmpv6') { $key += " id=$($e.Original.IcmpId)" }
            $map[$key] = $e
        }
        $map
    }

    function Assert-SameTable {
        # Every entry of $Expected exists in $Actual with the same tuples, NAT, status, mark, zone, labels, state,
        # and a timeout within 2 s (both read moments apart).
        param($Expected, $Actual, [switch] $NoMarkAndLabels, [switch] $SaveFormat)
        # The save format has no *_NAT_DONE bits: an entry that passed the NAT hooks untranslated comes back without them.
        $done = [ConntrackTools.ConntrackStatus]::SourceNatDone -bor [ConntrackTools.ConntrackStatus]::DestinationNatDone
        $status = { param($e) if ($SaveFormat -and $e.NatType -eq 'None') { $e.Status -band -bnot $done } else { $e.Status } }
        $Actual.Count | Should -Be $Expected.Count
        foreach ($key in $Expected.Keys) {
            $a = $Expected[$key]; $b = $Actual[$key]
            $b | Should -Not -BeNullOrEmpty -Because "$key was imported"
            $b.Reply.ToString() | Should -Be $a.Reply.ToString() -Because "reply tuple of $key"
            $b.Original.Zone | Should -Be $a.Original.Zone -Because "original zone of $key"
            $b.Reply.Zone | Should -Be $a.Reply.Zone -Because "reply zone of $key"
            $b.NatType | Should -Be $a.NatType -Because "NAT of $key"
            $b.TranslatedSourcePort | Should -Be $a.TranslatedSourcePort -Because "translated port of $key"
            "$(& $status $b)" | Should -Be "$(& $status $a)" -Because "status of $key"
            $b.State | Should -Be $a.State -Because "state of $key"
            $b.Reply.IcmpType | Should -Be $a.Reply.IcmpType -Because "ICMP reply type of $key"
            if (-not $NoMarkAndLabels) {
                $b.Mark | Should -Be $a.Mark -Because "mark of $key"
                "$($b.Labels)" | Should -Be "$($a.Labels)" -Because "labels of $key"
            }
            [math]::Abs(($b.Timeout - $a.Timeout).TotalSeconds) | Should -BeLessOrEqual 2 -Because "timeout of $key ($($a.Timeout) vs $($b.Timeout))"
        }
    }

    function New-LabelNamespace {
        # A namespace whose ruleset uses connection labels: the kernel keeps labels only there.
        $ns = New-TestNamespace 'xf-b'
        Invoke-InNamespace $ns nft 'add table inet cttl; add chain inet cttl out { type filter hook output priority 0; }; add rule inet cttl out udp dport 5353 ct label set 5' | Out-Null
        $ns
    }

    $script:files = [System.Collections.Generic.List[string]]::new()
    function New-TempFile([string] $Extension) {
        $f = Join-Path ([IO.Path]::GetTempPath()) ("ctt-xfer-{0}{1}" -f ([guid]::NewGuid().ToString('N').Substring(0, 8)), $Extension)
        $script:files.Add($f)
        $f
    }
}

AfterAll {
    foreach ($f in $script:files) { Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue }
}

Describe 'Export-Conntrack and Import-Conntrack' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:lab = New-NatLab 'xf'
        $script:targets = [System.Collections.Generic.List[string]]::new()
        $ns = $lab.Client
        # Labels on real traffic: a 'ct label set' rule in the client's output path.
        Invoke-InNamespace $ns nft 'add table inet cttl; add chain inet cttl out { type filter hook output priority 0; }; add rule inet cttl out udp dport 5353 ct label set 5' | Out-Null
        # Real masqueraded flows (MASQUERADE --random-fully: translated source ports), IPv4 and IPv6.
        $script:conns = Start-LabConnection $lab -Count 3 -Port 8899
        Invoke-LabTraffic $lab -Protocol udp -Port 5353
        Invoke-LabTraffic $lab -Protocol tcp -Port 8443 -IPv6
        # Entries made by conntrack-tools: icmp, icmpv6, mark + zone, per-direction zone, DNAT, SYN_SENT.
        $inserts = @(
            '-p icmp -s 10.0.0.1 -d 10.0.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 600'
            '-p icmpv6 -s fd00::1 -d fd00::3 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78 -t 600'
            '-p udp -s 10.9.0.1 -d 10.9.0.2 --sport 4000 --dport 4001 -t 600 -m 7 -w 5'
            '-p udp -s 10.9.0.1 -d 10.9.0.3 --sport 4000 --dport 4001 -t 600 --orig-zone 4'
            '-p tcp -s 10.9.0.1 -d 10.9.0.5 --sport 4100 --dport 80 -t 600 --state ESTABLISHED -u ASSURED,SEEN_REPLY --dst-nat 10.9.9.9'
            '-p tcp -s fd00:9::1 -d fd00:9::2 --sport 4200 --dport 443 -t 600 --state SYN_SENT'
        )
        foreach ($i in $inserts) { Invoke-InNamespace $ns conntrack -I @($i -split ' ') 2>&1 | Out-Null }
        # Real UDP and TIME_WAIT flows expire in 30 s / 120 s: keep them for the whole file.
        Get-Conntrack -NetworkNamespace $ns | Where-Object { $_.Timeout.TotalSeconds -lt 600 } | Set-Conntrack -NetworkNamespace $ns -Timeout 600
        $script:source = Get-Fields $ns
    }

    AfterAll {
        if ($script:SkipReason) { return }
        Stop-LabConnection $conns
        Remove-NatLab $lab
        Remove-TestNamespace $targets
    }

    It 'has a varied table to move' {
        $source.Count | Should -BeGreaterOrEqual 11
        @($source.Values | Where-Object { $_.NatType -eq 'Source' -and $_.TranslatedSourcePort -ne $_.SourcePort }).Count | Should -BeGreaterThan 0 -Because 'fully-random masquerade translated ports'
        @($source.Values | Where-Object Labels).Count | Should -BeGreaterThan 0
    }

    It 'writes exactly what conntrack -L -o save prints (plus -m and -l for marks and labels)' {
        $file = New-TempFile '.save'
        Export-Conntrack -NetworkNamespace $lab.Client -Path $file
        $reference = @(& ip netns exec $lab.Client conntrack -L -o save 2>$null)
        $ours = @(Get-Content $file)
        $normalize = { param($l) ($l -replace '^-A -t \d+ ', '-A -t T ') -replace ' -m \d+', '' -replace ' -l [^ ]+', '' }
        $ours.Count | Should -Be $reference.Count
        @($ours | ForEach-Object { & $normalize $_ } | Sort-Object) | Should -Be @($reference | ForEach-Object { & $normalize $_ } | Sort-Object)
        @($ours | Where-Object { $_ -match ' -m 7 ' }).Count | Should -Be 1
        @($ours | Where-Object { $_ -match ' -l 5 ' }).Count | Should -BeGreaterThan 0
    }

    It 'round-trips the <Format> format into another namespace, field by field' -ForEach @(@{ Format = 'Save' }, @{ Format = 'Json' }) {
        $file = New-TempFile (".$Format".ToLower())
        $target = New-LabelNamespace
        $targets.Add($target)
        Export-Conntrack -NetworkNamespace $lab.Client -Path $file -Format $Format
        Import-Conntrack -NetworkNamespace $target -Path $file -ErrorVariable failed
        $failed | Should -BeNullOrEmpty
        Assert-SameTable (Get-Fields $lab.Client) (Get-Fields $target) -SaveFormat:($Format -eq 'Save')
    }

    It 'reads back every field of the JSON it wrote' {
        $file = New-TempFile '.json'
        Export-Conntrack -NetworkNamespace $lab.Client -Path $file -Format Json
        $json = Get-Content $file -Raw | ConvertFrom-Json
        $json.Count | Should -Be $source.Count
        $m = $json | Where-Object Mark -EQ 7
        $m.SourceAddress | Should -Be '10.9.0.1'
        $m.Zone | Should -Be 5
        ($json | Where-Object Protocol -EQ 'tcp' | Where-Object State -EQ 'ESTABLISHED' | Select-Object -First 1).Status | Should -Match 'Assured'
    }

    It 'imports a file written by conntrack -L -o save' {
        $file = New-TempFile '.save'
        & ip netns exec $lab.Client conntrack -L -o save 2>$null | Set-Content $file
        $target = New-LabelNamespace
        $targets.Add($target)
        Import-Conntrack -NetworkNamespace $target -Path $file -ErrorVariable failed
        $failed | Should -BeNullOrEmpty
        # conntrack's file has neither marks nor labels; everything else comes across.
        Assert-SameTable (Get-Fields $lab.Client) (Get-Fields $target) -NoMarkAndLabels -SaveFormat
    }

    It 'keeps the NAT binding of masqueraded flows, which conntrack -R does not re-create' {
        $file = New-TempFile '.save'
        & ip netns exec $lab.Client conntrack -L -o save -p tcp --dport 8899 2>$null | Set-Content $file
        $viaConntrack = New-TestNamespace 'xf-r'
        $targets.Add($viaConntrack)
        $ours = New-TestNamespace 'xf-o'
        $targets.Add($ours)
        & ip netns exec $viaConntrack conntrack -R $file 2>$null | Out-Null
        Import-Conntrack -NetworkNamespace $ours -Path $file
        $original = @(Get-Conntrack -NetworkNamespace $lab.Client -Protocol tcp -DestinationPort 8899 | Sort-Object SourcePort)
        $mine = @(Get-Conntrack -NetworkNamespace $ours | Sort-Object SourcePort)
        $theirs = @(Get-Conntrack -NetworkNamespace $viaConntrack | Sort-Object SourcePort)
        $snat = [ConntrackTools.ConntrackStatus]::SourceNat
        @($original | Where-Object { $_.Status.HasFlag($snat) }).Count | Should -Be 3
        $mine.Count | Should -Be 3
        $mine.TranslatedSourcePort | Should -Be $original.TranslatedSourcePort
        @($mine | Where-Object { $_.Status.HasFlag($snat) }).Count | Should -Be 3 -Because 'IPS_SRC_NAT makes the kernel translate the packets'
        # conntrack -R sends the reply tuple as it is, without a NAT binding: same tuples, but nothing is translated.
        $theirs.TranslatedSourcePort | Should -Be $original.TranslatedSourcePort
        @($theirs | Where-Object { $_.Status.HasFlag($snat) }).Count | Should -Be 0
    }

    It 'reports one error naming the line for a bad line, and imports the rest' {
        $file = New-TempFile '.save'
        @(
            '# three good lines and one bad one'
            '-A -t 300 -u UNSET -s 10.20.0.1 -d 10.20.0.2 -p udp --sport 1 --dport 2'
            '-A -t 300 -u NOT_A_STATUS -s 10.20.0.1 -d 10.20.0.2 -p udp --sport 3 --dport 4'
            '-A -t 300 -u ASSURED -s 10.20.0.1 -d 10.20.0.2 -p tcp --sport 5 --dport 6 --state ESTABLISHED'
            '-A -t 300 -u UNSET -s fd00:20::1 -d fd00:20::2 -p udp --sport 7 --dport 8'
        ) | Set-Content $file
        $target = New-TestNamespace 'xf-e'
        $targets.Add($target)
        Import-Conntrack -NetworkNamespace $target -Path $file -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'InvalidLine,ConntrackTools.Commands.ImportConntrackCommand'
        $failed[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $failed[0].TargetObject.LineNumber | Should -Be 3
        $failed[0].Exception.Message | Should -Match ':3: unknown status'
        @(Get-ConntrackText $target).Count | Should -Be 3
    }

    It 'reports a line the kernel refuses, naming it, and goes on' {
        $file = New-TempFile '.save'
        @(
            '-A -t 300 -u UNSET -s 10.21.0.1 -d 10.21.0.2 -p udp --sport 1 --dport 2'
            '-A -t 300 -u UNSET -s 10.21.0.1 -d 10.21.0.2 -p udp --sport 1 --dport 2'
            '-A -t 300 -u UNSET -s 10.21.0.1 -d 10.21.0.2 -p udp --sport 3 --dport 4'
        ) | Set-Content $file
        $target = New-TestNamespace 'xf-k'
        $targets.Add($target)
        Import-Conntrack -NetworkNamespace $target -Path $file -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'EntryExists,ConntrackTools.Commands.ImportConntrackCommand'
        $failed[0].TargetObject.LineNumber | Should -Be 2
        "$failed" | Should -Match ':2: the kernel refused'
        @(Get-ConntrackText $target).Count | Should -Be 2
    }

    It '-WhatIf creates nothing' {
        $file = New-TempFile '.save'
        Export-Conntrack -NetworkNamespace $lab.Client -Path $file
        $target = New-TestNamespace 'xf-w'
        $targets.Add($target)
        Import-Conntrack -NetworkNamespace $target -Path $file -WhatIf
        @(Get-ConntrackText $target).Count | Should -Be 0
        $whatIfFile = New-TempFile '.save'
        Export-Conntrack -NetworkNamespace $lab.Client -Path $whatIfFile -WhatIf
        Test-Path $whatIfFile | Should -BeFalse
    }

    It '-PassThru writes the created entries as the kernel holds them' {
        $file = New-TempFile '.json'
        Export-Conntrack -NetworkNamespace $lab.Client -Path $file -Format Json -Protocol udp
        $target = New-LabelNamespace
        $targets.Add($target)
        $created = @(Import-Conntrack -NetworkNamespace $target -Path $file -PassThru)
        $created.Count | Should -Be @($source.Values | Where-Object Protocol -EQ 'udp').Count
        $created | ForEach-Object { $_ | Should -BeOfType ConntrackTools.ConntrackEntry; $_.Id | Should -Not -Be 0; $_.NetworkNamespace | Should -Be $target }
    }

    It 'refuses what it cannot read or write' {
        { Import-Conntrack -Path (Join-Path ([IO.Path]::GetTempPath()) 'ctt-xfer-none.save') -ErrorAction Stop } |
            Should -Throw -ErrorId 'FileNotFound,ConntrackTools.Commands.ImportConntrackCommand'
        $file = New-TempFile '.save'
        Set-Content $file 'x'
        { Export-Conntrack -NetworkNamespace $lab.Client -Path $file -NoClobber } |
            Should -Throw -ErrorId 'CannotWriteFile,ConntrackTools.Commands.ExportConntrackCommand'
        { Export-Conntrack -NetworkNamespace 'ctt-does-not-exist' -Path $file } |
            Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.ExportConntrackCommand'
        { Import-Conntrack -NetworkNamespace 'ctt-does-not-exist' -Path $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.ImportConntrackCommand'
    }
}
