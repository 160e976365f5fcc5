#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: zone (tests/conntrack/testsuite/04zone there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    $L = { param($ct, $ps) @{ Ct = $ct; Ps = $ps; Expect = 'OK'; List = $true } }
    $cases = @(
        @{ Name = 'a zoned entry: listed in its zone, not in zone 0, deleted by zone'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --zone 1'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -Zone 1 } }
                & $L '-L --zone 1' { param($n) Get-Conntrack -NetworkNamespace $n -Zone 1 }
                & $L '-L --zone 0' { param($n) Get-Conntrack -NetworkNamespace $n -Zone 0 }
                @{ Ct = '-D --zone 1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 1 } }
            )
        }
        @{ Name = 'an original-direction zone: listed and deleted by it'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --orig-zone 2'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -OriginalZone 2 } }
                & $L '-L --orig-zone 2' { param($n) Get-Conntrack -NetworkNamespace $n -OriginalZone 2 }
                & $L '-L --orig-zone 0' { param($n) Get-Conntrack -NetworkNamespace $n -OriginalZone 0 }
                @{ Ct = '-D --orig-zone 2'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -OriginalZone 2 } }
            )
        }
        @{ Name = 'a reply-direction zone: listed and deleted by it'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --reply-zone 3'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -ReplyZone 3 } }
                & $L '-L --reply-zone 3' { param($n) Get-Conntrack -NetworkNamespace $n -ReplyZone 3 }
                & $L '-L --reply-zone 0' { param($n) Get-Conntrack -NetworkNamespace $n -ReplyZone 0 }
                @{ Ct = '-D --reply-zone 3'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -ReplyZone 3 } }
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

Describe 'Conformance: zone' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfz' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
