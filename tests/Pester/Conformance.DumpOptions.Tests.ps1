#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: dump options (tests/conntrack/testsuite/09dumpopt there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # conntrack -L/-D -o save piped through sed into conntrack -R copies or moves entries to another zone; ours is
    # Get-Conntrack (or Remove-Conntrack -PassThru) piped into New-Conntrack -Zone 11.
    . (Join-Path $PSScriptRoot 'Conformance.FourEntries.ps1')
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
