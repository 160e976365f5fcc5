#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: dump options (tests/conntrack/testsuite/09dumpopt there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # conntrack -L/-D -o save piped through sed into conntrack -R copies or moves entries to another zone; ours is
    # Get-Conntrack (or Remove-Conntrack -PassThru) piped into New-Conntrack -Zone 11.
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
    function Copy10To11([string] $family = '', [switch] $Move) {
        $f = if ($family) { " -f $($family.ToLower())" } else { '' }
        $af = if ($family) { " -AddressFamily $family" } else { '' }
        if ($Move) {
            @{ Ct = [scriptblock]::Create("param(`$n) (& ip netns exec `$n conntrack -D -w 10 -o save$f 2>`$null) -replace '-w 10', '-w 11' -replace '^-D ', '-I ' | & ip netns exec `$n conntrack -R -")
                Expect = 'OK'; Ps = Ps "Remove-Conntrack -NetworkNamespace `$n -Zone 10$af -PassThru | New-Conntrack -NetworkNamespace `$n -Zone 11" }
        }
        else {
            @{ Ct = [scriptblock]::Create("param(`$n) (& ip netns exec `$n conntrack -L -w 10 -o save$f 2>`$null) -replace '-w 10', '-w 11' | & ip netns exec `$n conntrack -R -")
                Expect = 'OK'; Ps = Ps "Get-Conntrack -NetworkNamespace `$n -Zone 10$af | New-Conntrack -NetworkNamespace `$n -Zone 11" }
        }
    }
    $v4 = @($four | Where-Object Family -EQ 'IPv4'); $v6 = @($four | Where-Object Family -EQ 'IPv6')
    $unknown = @(
        @{ Ct = '-t 59 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Bag = "@{ Protocol = '2'; SourceAddress = '0.0.0.0'; DestinationAddress = '224.0.0.22'; Timeout = 59 }"
            DelCt = '-s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Sel = '-Protocol 2 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0' }
        @{ Ct = '-t 59 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200'; Bag = "@{ Protocol = '200'; SourceAddress = '0.0.0.0'; DestinationAddress = '224.0.0.22'; Timeout = 59 }"
            DelCt = '-s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200'; Sel = '-Protocol 200 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0' }
        @{ Ct = '-t 59 -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p 200'; Bag = "@{ Protocol = '200'; SourceAddress = '2001:DB8::1.1.1.1'; DestinationAddress = '2001:DB8::2.2.2.2'; Timeout = 59 }"
            DelCt = '-s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p 200'; Sel = '-Protocol 200 -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2' }
    )
    $cases = @(
        @{ Name = 'copies the IPv4 and then the IPv6 entries of zone 10 into zone 11'; Steps = @(
                CreateBatch $four -zone 10
                Copy10To11 'IPv4'
                Copy10To11 'IPv6'
                foreach ($e in $four) { CreateOne $e -zone 11 }
                foreach ($e in $four) { DeleteOne $e -zone 11 }
                foreach ($e in $four) { DeleteOne $e -zone 10 }
            )
        }
        @{ Name = 'moves the entries of zone 10 into zone 11, family by family'; Steps = @(
                CreateBatch $four -zone 10
                Copy10To11 'IPv4' -Move
                Copy10To11 'IPv6' -Move
                foreach ($e in $four) { CreateOne $e -zone 11 }
                foreach ($e in $four) { DeleteOne $e -zone 11 }
                foreach ($e in $four) { DeleteOne $e -zone 10 -expect 'BAD' }
            )
        }
        @{ Name = 'copies both families without a family, one family with it'; Steps = @(
                CreateBatch $four -zone 10
                Copy10To11
                foreach ($e in $four) { DeleteOne $e -zone 11 -WithState }
                Copy10To11 'IPv4'
                foreach ($e in $four) { DeleteOne $e -zone 11 -WithState -expect $(if ($e.Family -eq 'IPv4') { 'OK' } else { 'BAD' }) }
                Copy10To11 'IPv6'
                foreach ($e in $four) { DeleteOne $e -zone 11 -WithState -expect $(if ($e.Family -eq 'IPv6') { 'OK' } else { 'BAD' }) }
            )
        }
        @{ Name = 'deletes a zone with and without a family'; Steps = @(
                CreateBatch $four -zone 10
                Copy10To11
                @{ Ct = '-D -w 11'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 11 } }
                foreach ($e in $four) { DeleteOne $e -zone 11 -WithState -expect 'BAD' }
                Copy10To11
                @{ Ct = '-D -w 11 -f ipv4'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 11 -AddressFamily IPv4 } }
                foreach ($e in $four) { DeleteOne $e -zone 11 -WithState -expect $(if ($e.Family -eq 'IPv6') { 'OK' } else { 'BAD' }) }
                Copy10To11
                @{ Ct = '-D -w 11 -f ipv6'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 11 -AddressFamily IPv6 } }
                foreach ($e in $four) { DeleteOne $e -zone 11 -WithState -expect $(if ($e.Family -eq 'IPv4') { 'OK' } else { 'BAD' }) }
                @{ Ct = '-D -w 10'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 10 } }
            )
        }
        @{ Name = 'copies entries of protocols conntrack does not know'; Steps = @(
                CreateBatch $unknown -zone 10
                Copy10To11
                foreach ($e in $unknown) { DeleteOne $e -zone 10 }
                foreach ($e in $unknown) { DeleteOne $e -zone 11 }
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

Describe 'Conformance: dump options' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfo' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
