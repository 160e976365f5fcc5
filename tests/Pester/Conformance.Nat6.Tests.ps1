#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: nat6 (tests/conntrack/testsuite/07nat6 there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # As the nat area, over IPv6. conntrack writes [ADDR]:PORT; we take the address and the port as two
    # parameters, and refuse brackets in an address (they are the suite's BAD steps "brackets rejected").
    $L = { param($ct, $ps, $expect = 'OK', $id = $null) $s = @{ Ct = $ct; Ps = $ps; Expect = $expect; List = $true }; if ($id) { $s.ErrorId = $id }; $s }
    $cases = @(
        @{ Name = 'IPv6 destination NAT: created, listed by NAT type and translated address, deleted'; Steps = @(
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --dst-nat 2001:DB8::3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -ReplySourceAddress 2001:DB8::3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L --dst-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both }
                & $L '-L --dst-nat 2001:DB8::3.3.3.3' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 2001:DB8::3.3.3.3 }
                & $L '-L --src-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Both }
                @{ Ct = '-D -s 2001:DB8::1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 2001:DB8::1.1.1.1 } }
            )
        }
        @{ Name = 'IPv6 source NAT: created, listed, deleted'; Steps = @(
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --src-nat 2001:DB8::3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -ReplyDestinationAddress 2001:DB8::3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L --src-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Both }
                & $L '-L --src-nat 2001:DB8::3.3.3.3' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Both -TranslatedSourceAddress 2001:DB8::3.3.3.3 }
                & $L '-L --dst-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both }
                & $L '-L --any-nat' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Source, Destination, Both }
                @{ Ct = '-D -s 2001:DB8::1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 2001:DB8::1.1.1.1 } }
            )
        }
        @{ Name = 'IPv6 destination NAT with a port: listed by address and port, malformed ones refused'; Steps = @(
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --dst-nat [2001:DB8::3.3.3.3]:80 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -ReplySourceAddress 2001:DB8::3.3.3.3 -ReplySourcePort 80 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L --dst-nat [2001:DB8::3.3.3.3]:80' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 2001:DB8::3.3.3.3 -TranslatedDestinationPort 80 }
                & $L '-L --dst-nat [2001:DB8::3.3.3.3]:81' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 2001:DB8::3.3.3.3 -TranslatedDestinationPort 81 }
                # conntrack lists the entry here: it sends the IPv6 address in CTA_FILTER, and this kernel's IPv6
                # comparison there is inverted (every entry but the one named matches). Nothing has reply source ::1.1.1.1.
                (& $L '-L --dst-nat [2001:DB8::1.1.1.1]:80' { param($n) Get-Conntrack -NetworkNamespace $n -NatType Destination, Both -TranslatedDestinationAddress 2001:DB8::1.1.1.1 -TranslatedDestinationPort 80 }) + @{ Listed = @() }
                & $L '-L --dst-nat [2001:DB8::1.1.1.1]:' { param($n) Get-Conntrack -NetworkNamespace $n -TranslatedDestinationAddress '[2001:DB8::1.1.1.1]:' } 'BAD' 'InvalidAddress'
                & $L '-L --dst-nat [2001:DB8::1.1.1.1]::' { param($n) Get-Conntrack -NetworkNamespace $n -TranslatedDestinationAddress '[2001:DB8::1.1.1.1]::' } 'BAD' 'InvalidAddress'
                & $L '-L --dst-nat [2001:DB8::1.1.1.1]:80:80' { param($n) Get-Conntrack -NetworkNamespace $n -TranslatedDestinationAddress '[2001:DB8::1.1.1.1]:80:80' } 'BAD' 'InvalidAddress'
                & $L '-L --dst-nat [2001:DB8::1.1.1.1]:65536' { param($n) Get-Conntrack -NetworkNamespace $n -TranslatedDestinationAddress 2001:DB8::1.1.1.1 -TranslatedDestinationPort 65536 } 'BAD' 'InvalidPort'
                @{ Ct = '-D -s 2001:DB8::1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 2001:DB8::1.1.1.1 } }
            )
        }
        @{ Name = 'refuses a NAT address of the other family and brackets in addresses'; Steps = @(
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --dst-nat 3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -ReplySourceAddress 3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 --dst-nat 2001:DB8::3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2001:DB8::3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --dst-nat [2001:DB8::3.3.3.3] -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -ReplySourceAddress '[2001:DB8::3.3.3.3]' -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s [2001:DB8::1.1.1.1] -d 2001:DB8::2.2.2.2 --dst-nat 2001:DB8::3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress '[2001:DB8::1.1.1.1]' -DestinationAddress 2001:DB8::2.2.2.2 -ReplySourceAddress 2001:DB8::3.3.3.3 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
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

Describe 'Conformance: nat6' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cf6' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
