#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: batch (stdin) (tests/conntrack/testsuite/08stdin there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # conntrack -R - reads commands from stdin; our batch is the pipeline: objects into New-Conntrack (by property
    # name), selected entries into Remove-Conntrack. The suite's empty and blank stdin lines have no equivalent.
    # The suite's four entries (tcp, tcp from its reply tuple, IPv6 tcp, ICMP echo): conntrack's line, the same
    # entry as a property bag (what New-Conntrack takes from the pipeline), and the selection that deletes it.
    $four = @(
        @{ Ct = '-s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'
            Bag = "@{ Protocol = 'tcp'; SourceAddress = '1.1.1.1'; DestinationAddress = '2.2.2.2'; SourcePort = 10; DestinationPort = 20; State = 'LISTEN'; Status = 'SeenReply'; Timeout = 50 }"
            DelCt = '-s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'
            Sel = "-Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20"; Family = 'IPv4' }
        @{ Ct = '-r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50'
            Bag = "@{ Protocol = 'tcp'; ReplySourceAddress = '2.2.2.2'; ReplyDestinationAddress = '1.1.1.1'; ReplySourcePort = 11; ReplyDestinationPort = 21; State = 'LISTEN'; Status = 'SeenReply'; Timeout = 50 }"
            DelCt = '-r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21'
            Sel = "-Protocol tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21"; Family = 'IPv4' }
        @{ Ct = '-s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'
            Bag = "@{ Protocol = 'tcp'; SourceAddress = '2001:DB8::1.1.1.1'; DestinationAddress = '2001:DB8::2.2.2.2'; SourcePort = 10; DestinationPort = 20; State = 'LISTEN'; Status = 'SeenReply'; Timeout = 50 }"
            DelCt = '-s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20'
            Sel = "-Protocol tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -SourcePort 10 -DestinationPort 20"; Family = 'IPv6' }
        @{ Ct = '-t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'
            Bag = "@{ Protocol = 'icmp'; SourceAddress = '1.1.1.1'; DestinationAddress = '2.2.2.2'; ReplySourceAddress = '2.2.2.2'; ReplyDestinationAddress = '1.1.1.1'; IcmpType = 8; IcmpCode = 0; IcmpId = 1226; Status = 'SeenReply'; Timeout = 29 }"
            DelCt = '-u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'
            Sel = "-Status SeenReply -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -Protocol icmp -IcmpType 8 -IcmpCode 0 -IcmpId 1226"; Family = 'IPv4' }
    )
    function Ps([string] $text) { [scriptblock]::Create("param(`$n) $text") }
    # A batch (conntrack -R -) of creates: the bags piped into New-Conntrack.
    function CreateBatch($entries, [string] $zone = '', [string] $option = '-I', [string] $expect = 'OK') {
        $w = if ($zone) { "-w $zone " } else { '' }
        $force = if ($option -eq '-A') { ' -Force' } else { '' }
        $z = if ($zone) { " -Zone $zone" } else { '' }
        @{ Ct = '-R -'; Stdin = @($entries | ForEach-Object { "$option $w$($_.Ct)" }); Expect = $expect; ErrorId = 'EntryExists'
            Ps = Ps "@($(($entries | ForEach-Object Bag) -join ', ')) | ForEach-Object { [pscustomobject]`$_ } | New-Conntrack -NetworkNamespace `$n$z$force" }
    }
    function CreateOne($e, [string] $zone = '', [string] $expect = 'BAD') {
        $w = if ($zone) { "-w $zone " } else { '' }
        $z = if ($zone) { " -Zone $zone" } else { '' }
        @{ Ct = "-I $w$($e.Ct)"; Expect = $expect; ErrorId = 'EntryExists'; Ps = Ps "[pscustomobject]$($e.Bag) | New-Conntrack -NetworkNamespace `$n$z" }
    }
    function DeleteOne($e, [string] $zone = '', [string] $expect = 'OK', [switch] $WithState) {
        $w = if ($zone) { "-w $zone " } else { '' }
        $z = if ($zone) { " -Zone $zone" } else { '' }
        $st = if ($WithState -and $e.Ct -match 'LISTEN') { ' --state LISTEN -u SEEN_REPLY' } else { '' }
        $ps = if ($st) { ' -State LISTEN -Status SeenReply' } else { '' }
        @{ Ct = "-D $w$($e.DelCt)$st"; Expect = $expect; ErrorId = 'EntryNotFound'; Ps = Ps "Remove-Conntrack -NetworkNamespace `$n$z $($e.Sel)$ps" }
    }
    $deleteBatch = @{ Ct = '-R -'; Stdin = @($four | ForEach-Object { "-D $($_.DelCt)" }); Expect = 'OK'
        Ps = Ps "@($(($four | ForEach-Object { "Get-Conntrack -NetworkNamespace `$n $($_.Sel)" }) -join '; ')) | Remove-Conntrack -NetworkNamespace `$n" }
    $cases = @(
        @{ Name = 'a batch of creates; each again refused alone and in a batch of one; a batch of deletes'; Steps = @(
                CreateBatch $four
                foreach ($e in $four) { CreateOne $e }
                foreach ($e in $four) { CreateBatch @($e) -expect 'BAD' }
                $deleteBatch
            )
        }
        @{ Name = 'deleting nothing fails alone but not in a batch; deletes and creates mix in a batch'; Steps = @(
                @{ Ct = '-D -w 123'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 123 } }
                @{ Ct = '-R -'; Stdin = @('-D -w 123'); Expect = 'OK'; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Zone 123 | Remove-Conntrack -NetworkNamespace $n } }
                @{ Ct = '-R -'; Stdin = @('-D -w 123', "-I -w 123 $($four[0].Ct)"); Expect = 'OK'
                    Ps = Ps "Get-Conntrack -NetworkNamespace `$n -Zone 123 | Remove-Conntrack -NetworkNamespace `$n; [pscustomobject]$($four[0].Bag) | New-Conntrack -NetworkNamespace `$n -Zone 123" }
                @{ Ct = '-R -'; Stdin = @('-D -w 123'); Expect = 'OK'; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Zone 123 | Remove-Conntrack -NetworkNamespace $n } }
                @{ Ct = '-R -'; Stdin = @('-D -w 123'); Expect = 'OK'; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Zone 123 | Remove-Conntrack -NetworkNamespace $n } }
                @{ Ct = '-D -w 123'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 123 } }
            )
        }
        @{ Name = 'a batch of create-or-update twice; creates in between refused; a batch of deletes'; Steps = @(
                CreateBatch $four -option '-A'
                foreach ($e in $four) { CreateOne $e }
                CreateBatch $four -option '-A'
                $deleteBatch
            )
        }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'ConformanceLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Not root, or no conntrack: every test skips with the reason, and no namespace is made.
    $script:SkipReason = Get-MissingPrerequisite -Root -Command conntrack -CommandBecause 'as the reference'
}

Describe 'Conformance: batch (stdin)' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfb' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
