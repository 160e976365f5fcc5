#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: filter (tests/conntrack/testsuite/02filter there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # One case, in the suite's order: every listing is compared entry by entry with conntrack -L's.
    $L = { param($ct, $ps, $expect = 'OK', $id = $null) $s = @{ Ct = $ct; Ps = $ps; Expect = $expect; List = $true }; if ($id) { $s.ErrorId = $id }; $s }
    $cases = @(
        @{ Name = 'lists by source, destination, protocol, status, state, mark, family and prefix as conntrack -L does'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 } }
                & $L '-L -s 1.1.1.1' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 }
                & $L '-L -d 2.2.2.2' { param($n) Get-Conntrack -NetworkNamespace $n -DestinationAddress 2.2.2.2 }
                & $L '-L -p tcp' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp }
                & $L '-L -u SEEN_REPLY' { param($n) Get-Conntrack -NetworkNamespace $n -Status SeenReply }
                & $L '-L -p tcp --state LISTEN' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -State LISTEN }
                @{ Ct = '-U -s 1.1.1.1 -m 1'; Expect = 'OK'; Ps = { param($n) Set-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 -Mark 1 } }
                & $L '-L -m 1' { param($n) Get-Conntrack -NetworkNamespace $n -Mark 1 }
                & $L '-L -f ipv4' { param($n) Get-Conntrack -NetworkNamespace $n -AddressFamily IPv4 }
                & $L '-L --mark 0' { param($n) Get-Conntrack -NetworkNamespace $n -Mark 0 }
                & $L '-L --mark 0/0xffffffff' { param($n) Get-Conntrack -NetworkNamespace $n -Mark 0 -MarkMask 0xffffffff }
                & $L '-L -s 1.1.1.0 --mask-src 255.255.255.0 -d 2.0.0.0 --mask-dst 255.0.0.0' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.0/24 -DestinationAddress 2.0.0.0/8 }
                & $L '-L -s 1.1.1.4/24 -d 2.3.4.5/8' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.4/24 -DestinationAddress 2.3.4.5/8 }
                & $L '-L -s 1.1.2.0/24 -d 2.3.4.5/8' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress 1.1.2.0/24 -DestinationAddress 2.3.4.5/8 }
                & $L '-L -s 2.2.2.2 -d ::1' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress 2.2.2.2 -DestinationAddress ::1 } 'BAD' 'ContradictorySelection'
                & $L '-L -s ::1' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress ::1 }
                & $L '-L -s abcd:abcd:abcd:: --mask-src ffff:ffff:ffff::' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress abcd:abcd:abcd::/48 }
                & $L '-L --mask-src ffff:ffff:ffff:: --mask-dst 255.0.0.0' { param($n) Get-Conntrack -NetworkNamespace $n -SourceAddress ::/48 -DestinationAddress 0.0.0.0/8 } 'BAD' 'ContradictorySelection'
                @{ Ct = '-D -d 2.2.2.2'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -DestinationAddress 2.2.2.2 } }
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

Describe 'Conformance: filter' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cff' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
