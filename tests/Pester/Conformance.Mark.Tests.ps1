#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: mark (tests/conntrack/testsuite/05mark there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    $t = '-s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'
    $L = { param($mark, $ps) @{ Ct = "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark $mark"; Ps = $ps; Expect = 'OK'; List = $true } }
    $cases = @(
        @{ Name = 'creates with a mark, finds and deletes by it, refuses a duplicate'; Steps = @(
                @{ Ct = "-I $t --state LISTEN -u SEEN_REPLY -t 50 --mark 42"; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -Mark 42 } }
                & $L 42 { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 }
                @{ Ct = '-L --mark 42'; Expect = 'OK'; List = $true; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Mark 42 } }
                @{ Ct = "-I $t --state LISTEN -u SEEN_REPLY -t 50 --mark 42/0xffffffff"; Expect = 'BAD'; ErrorId = 'EntryExists'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -Mark 42 } }
                @{ Ct = "-D $t --mark 42/0xffffffff"; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 -MarkMask 0xffffffff } }
                @{ Ct = "-I $t --state LISTEN -u SEEN_REPLY -t 50 --mark 417889/0xffffffff"; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -Mark 417889 } }
                @{ Ct = '-D --mark 417889'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Mark 417889 } }
            )
        }
        @{ Name = 'changes a mark under a mask and matches marks under masks'; Steps = @(
                @{ Ct = "-I $t --state LISTEN -u SEEN_REPLY -t 50 --mark 0xffffffff"; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -Mark 0xffffffff } }
                @{ Ct = "-U $t --mark 0/0xffff0000"; Expect = 'OK'
                    Ps = { param($n) Set-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 0 -MarkMask 0xffff0000 } }
                & $L '0x0000ffff' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 0x0000ffff }
                @{ Ct = "-U $t --mark 42/0xffff"; Expect = 'OK'
                    Ps = { param($n) Set-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 -MarkMask 0xffff } }
                & $L '42/0x0000ffff' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 -MarkMask 0x0000ffff }
                & $L '42/42' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 -MarkMask 42 }
                & $L '2/2' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 2 -MarkMask 2 }
                & $L '2/3' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 2 -MarkMask 3 }
                & $L '2/0xf' { param($n) Get-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 2 -MarkMask 0xf }
                # conntrack -U counts only entries whose values change; Set-Conntrack is idempotent (documented).
                @{ Ct = "-U $t --mark 42"; Expect = 'BAD'; OursExpect = 'OK'
                    Ps = { param($n) Set-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 } }
                @{ Ct = "-D $t --mark 42"; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -Mark 42 } }
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

Describe 'Conformance: mark' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfm' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
