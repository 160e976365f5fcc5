#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: update (tests/conntrack/testsuite/06update there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    $cases = @(
        @{ Name = 'adds FIXED_TIMEOUT to an assured entry'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state SYN_RECV -u SEEN_REPLY,ASSURED -t 50'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State SYN_RECV -Status SeenReply, Assured -Timeout 50 } }
                @{ Ct = '-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'OK'; List = $true
                    Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-U -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 -u FIXED_TIMEOUT'; Expect = 'OK'
                    Ps = { param($n)
                        $e = Set-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Status FixedTimeout -PassThru
                        # conntrack -L does not print FIXED_TIMEOUT: check it on what the kernel gave back.
                        if (($e.Status -band [ConntrackTools.ConntrackStatus]'FixedTimeout, Assured, SeenReply') -ne [ConntrackTools.ConntrackStatus]'FixedTimeout, Assured, SeenReply') { throw "status after the update: $($e.Status)" }
                    } }
                @{ Ct = '-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 } }
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

Describe 'Conformance: update' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfu' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
