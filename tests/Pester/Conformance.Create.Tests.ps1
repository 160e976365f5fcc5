#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: create (tests/conntrack/testsuite/00create there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    $cases = @(
        @{ Name = 'refuses a create missing a part of the tuple'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidPort'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidPort'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
            )
        }
        @{ Name = 'without a timeout: conntrack refuses, we use the documented 120 s default'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY'; Expect = 'BAD'; OursExpect = 'OK'; CompareTables = $false
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply } }
            )
        }
        @{ Name = 'creates, refuses the same again, deletes, and fails to delete again'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'EntryExists'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
            )
        }
        @{ Name = 'creates from the reply tuple alone and deletes by it'; Steps = @(
                @{ Ct = '-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21 } }
                @{ Ct = '-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21 } }
            )
        }
        @{ Name = 'creates and deletes an IPv6 entry, refuses mixed families'; Steps = @(
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-D -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-I -s 2001:DB8::1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
            )
        }
        @{ Name = 'creates and deletes an ICMP echo entry'; Steps = @(
                @{ Ct = '-I -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n icmp -Timeout 29 -Status SeenReply -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -IcmpType 8 -IcmpCode 0 -IcmpId 1226 } }
                @{ Ct = '-D -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Status SeenReply -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -Protocol icmp -IcmpType 8 -IcmpCode 0 -IcmpId 1226 } }
            )
        }
        @{ Name = 'takes IGMP by number and by its /etc/protocols name'; Steps = @(
                @{ Ct = '-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n 2 -Timeout 10 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Expect = 'BAD'; ErrorId = 'EntryExists'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n 2 -Timeout 10 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p igmp'; Expect = 'BAD'; ErrorId = 'EntryExists'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n igmp -Timeout 10 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol 2 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol 2 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p igmp'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n igmp -Timeout 10 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-U -t 11 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Expect = 'OK'
                    Ps = { param($n) Set-Conntrack -NetworkNamespace $n -Timeout 11 -Protocol 2 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol 2 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p igmp'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol igmp -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
            )
        }
        @{ Name = 'takes a protocol number that /etc/protocols does not name'; Steps = @(
                @{ Ct = '-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n 200 -Timeout 10 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-U -t 11 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200'; Expect = 'OK'
                    Ps = { param($n) Set-Conntrack -NetworkNamespace $n -Timeout 11 -Protocol 200 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol 200 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
                @{ Ct = '-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol 200 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0 } }
            )
        }
        @{ Name = 'refuses protocols that are neither a name nor 0-255'; Steps = @(
                foreach ($p in '256', 'foo', '-10', '2000', '20foo', 'foo20') {
                    @{ Ct = "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p $p"; Expect = 'BAD'; ErrorId = 'InvalidProtocol'; Proto = $p
                        Ps = [scriptblock]::Create("param(`$n) New-Conntrack -NetworkNamespace `$n -Protocol '$p' -Timeout 10 -SourceAddress 0.0.0.0 -DestinationAddress 224.0.0.22 -ReplySourceAddress 224.0.0.22 -ReplyDestinationAddress 0.0.0.0") }
                }
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

Describe 'Conformance: create' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfc' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
