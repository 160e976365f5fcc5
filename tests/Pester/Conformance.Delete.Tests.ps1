#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: delete (tests/conntrack/testsuite/01delete there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    $create = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 }
    $createCt = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'
    $cases = @(
        @{ Name = 'deletes by source, and not by a source or destination that does not match'; Steps = @(
                @{ Ct = $createCt; Expect = 'OK'; Ps = $create }
                @{ Ct = '-D -s 2.2.2.2 -p tcp --sport 10 --dport 20'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 2.2.2.2 -Protocol tcp -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-D -d 1.1.1.1 -p tcp --sport 10 --dport 20'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -DestinationAddress 1.1.1.1 -Protocol tcp -SourcePort 10 -DestinationPort 20 } }
                @{ Ct = '-D -s 1.1.1.1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.1 } }
            )
        }
        @{ Name = 'creates without timeout and state: conntrack refuses, we take the documented defaults'; Steps = @(
                @{ Ct = '-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --dport 20'; Expect = 'BAD'; OursExpect = 'OK'; CompareTables = $false
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 20 -DestinationPort 20 } }
            )
        }
        @{ Name = 'deletes by mark, and fails when no entry has the mark'; Steps = @(
                @{ Ct = "$createCt -m 20"; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20 -State LISTEN -Status SeenReply -Timeout 50 -Mark 20 } }
                @{ Ct = '-D -m 10'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Mark 10 } }
                @{ Ct = '-D -m 20'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Mark 20 } }
                @{ Ct = '-D -m 20'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Mark 20 } }
            )
        }
        @{ Name = 'deletes by netmask (a prefix here), then finds nothing more'; Steps = @(
                @{ Ct = $createCt; Expect = 'OK'; Ps = $create }
                @{ Ct = '-D -s 1.1.1.0 --mask-src 255.255.255.0 -d 2.2.2.0 --mask-dst 255.255.255.0'; Expect = 'OK'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.0/24 -DestinationAddress 2.2.2.0/24 } }
                @{ Ct = '-D -s 1.1.1.0 --mask-src 255.255.255.0 -d 2.2.2.0 --mask-dst 255.255.255.0'; Expect = 'BAD'; ErrorId = 'EntryNotFound'
                    Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.0/24 -DestinationAddress 2.2.2.0/24 } }
            )
        }
        @{ Name = 'deletes by CIDR prefix, then finds nothing more'; Steps = @(
                @{ Ct = $createCt; Expect = 'OK'; Ps = $create }
                @{ Ct = '-D -s 1.1.1.0/24 -d 2.2.2.0/24'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.0/24 -DestinationAddress 2.2.2.0/24 } }
                @{ Ct = '-D -s 1.1.1.0/24 -d 2.2.2.0/24'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress 1.1.1.0/24 -DestinationAddress 2.2.2.0/24 } }
            )
        }
        @{ Name = 'refuses a selection mixing address families'; Steps = @(
                @{ Ct = '-D -s ::1 -d 2.2.2.2'; Expect = 'BAD'; ErrorId = 'ContradictorySelection'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress ::1 -DestinationAddress 2.2.2.2 } }
            )
        }
        @{ Name = 'deletes an IPv6 entry by its source without naming the family'; Steps = @(
                @{ Ct = '-I -s ::1 -d ::2 -p tcp --sport 20 --dport 10 --state LISTEN -u SEEN_REPLY -t 40'; Expect = 'OK'
                    Ps = { param($n) New-Conntrack -NetworkNamespace $n tcp -SourceAddress ::1 -DestinationAddress ::2 -SourcePort 20 -DestinationPort 10 -State LISTEN -Status SeenReply -Timeout 40 } }
                @{ Ct = '-D -s ::1'; Expect = 'OK'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -SourceAddress ::1 } }
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

Describe 'Conformance: delete' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfd' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
