#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: nat (tests/conntrack/testsuite/03nat there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # conntrack --src-nat/--dst-nat/--any-nat [ADDR[:PORT]] are our -NatType with the Translated* selectors (the
    # output properties of the same names). The suite's "bad combination" steps (--dst-nat with --any-nat) have no
    # equivalent: a list of NAT types cannot contradict itself. Its malformed ADDR:PORT texts are given to
    # -TranslatedDestinationAddress as they are and must be refused as addresses; port 65536 as a port.
    $L = { param($ct, $ps, $expect = 'OK', $id = $null) $s = @{ Ct = $ct; Ps = $ps; Expect = $expect; List = $true }; if ($id) { $s.ErrorId = $id }; $s }
    $anyNat = { param($n, $a, $p)
        $snat = @{ NetworkNamespace = $n; NatType = 'Source', 'Both'; TranslatedSourceAddress = $a }
        $dnat = @{ NetworkNamespace = $n; NatType = 'Destination', 'Both'; TranslatedDestinationAddress = $a }
        if ($p) { $snat.TranslatedSourcePort = $p; $dnat.TranslatedDestinationPort = $p }
        @(Get-Conntrack @snat) + @(Get-Conntrack @dnat) | Sort-Object Id -Unique
    }
    $cases = @(
        @{ Name = 'destination NAT: created with the reply source, listed by NAT type and translated address'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 --dst-nat 3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L --dst-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both }
                & $L '-L --dst-nat 3.3.3.3' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 3.3.3.3 }
                & $L '-L --src-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Both }
                @{ Ct = '-D -s 1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 } }
            )
        }
        @{ Name = 'source NAT: created with the reply destination, listed by NAT type, translated address and any NAT'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 --src-nat 3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplyDestinationAddress 3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L --src-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Both }
                & $L '-L --src-nat 3.3.3.3' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Both -TranslatedSourceAddress 3.3.3.3 }
                & $L '-L --dst-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both }
                & $L '-L --any-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Destination, Both }
                @{ Ct = '-D -s 1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 } }
            )
        }
        @{ Name = 'destination NAT with a port: listed by translated address and port, refused with malformed ones'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 --dst-nat 3.3.3.3:80 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 3.3.3.3 -ReplySourcePort 80 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L --dst-nat 3.3.3.3:80' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 3.3.3.3 -TranslatedDestinationPort 80 }
                @{ Ct = '-L --any-nat 3.3.3.3:80'; Expect = 'OK'; List = $true; Ps = [scriptblock]::Create("param(`$n) & { $anyNat } `$n 3.3.3.3 80") }
                & $L '-L --dst-nat 3.3.3.3:81' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 3.3.3.3 -TranslatedDestinationPort 81 }
                & $L '-L --dst-nat 1.1.1.1:80' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 1.1.1.1 -TranslatedDestinationPort 80 }
                & $L '-L --dst-nat 1.1.1.1:' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress '1.1.1.1:' } 'BAD' 'InvalidAddress'
                & $L '-L --dst-nat 1.1.1.1::' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress '1.1.1.1::' } 'BAD' 'InvalidAddress'
                & $L '-L --dst-nat 1.1.1.1:80:80' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress '1.1.1.1:80:80' } 'BAD' 'InvalidAddress'
                & $L '-L --dst-nat 1.1.1.1:65536' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 1.1.1.1 -TranslatedDestinationPort 65536 } 'BAD' 'InvalidPort'
                @{ Ct = '-D -s 1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 } }
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

Describe 'Conformance: nat' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfn' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
