#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: add (tests/conntrack/testsuite/10add there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # conntrack -A (create or update) is New-Conntrack -Force: "create again" succeeds.
    $cases = @(
        @{ Name = 'refuses a create-or-update missing a part of the tuple'; Steps = @(
                @{ Ct = '-A -s 1.1.1.1 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-A -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-A -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidPort'
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidPort'
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                @{ Ct = '-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY'; Expect = 'BAD'; OursExpect = 'OK'; CompareTables = $false
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply } }
            )
        }
        @{ Name = 'creates, creates again (an update), deletes, fails to delete again'; Steps = @(
                foreach ($i in 1, 2) {
                    @{ Ct = '-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                        Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                }
                @{ Ct = '-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
            )
        }
        @{ Name = 'creates from the reply tuple twice, deletes by it'; Steps = @(
                foreach ($i in 1, 2) {
                    @{ Ct = '-A -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                        Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21 -State LISTEN -Status SeenReply -Timeout 50 } }
                }
                @{ Ct = '-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21 } }
                @{ Ct = '-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21 } }
            )
        }
        @{ Name = 'IPv6 twice, a mixed family refused, ICMP twice'; Steps = @(
                foreach ($i in 1, 2) {
                    @{ Ct = '-A -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                        Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                }
                @{ Ct = '-D -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-A -s 2001:DB8::1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'BAD'; ErrorId = 'InvalidAddress'
                    Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                foreach ($i in 1, 2) {
                    @{ Ct = '-A -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'; Expect = 'OK'
                        Ps = { param($n) New-Conntrack -Force -NetworkNamespace $n icmp -Timeout 29 -Status SeenReply -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -IcmpType 8 -IcmpCode 0 -IcmpId 1226 } }
                }
                @{ Ct = '-D -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Status SeenReply -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -Protocol icmp -IcmpType 8 -IcmpCode 0 -IcmpId 1226 } }
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

Describe 'Conformance: add' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfa' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
