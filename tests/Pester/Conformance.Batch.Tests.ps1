#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    Conformance with conntrack-tools' test suite, area: batch (stdin) (tests/conntrack/testsuite/08stdin there). Our cases,
    its expectations: every step runs with conntrack on a twin namespace and with our cmdlets on ours, and the
    outcome, the listed entries and the resulting tables are compared (ConformanceLab.psm1). Needs root.
#>

BeforeDiscovery {
    # conntrack -R - reads commands from stdin; our batch is the pipeline: objects into New-Conntrack (by property
    # name), selected entries into Remove-Conntrack. The suite's empty and blank stdin lines have no equivalent.
    . (Join-Path $PSScriptRoot 'Conformance.FourEntries.ps1')
    $deleteBatch = @{ Ct = '-R -'; Stdin = @($four | ForEach-Object { "-D $($_.DelCt)" }); Expect = 'OK'
        Ps = Ps "@($(($four | ForEach-Object { "Get-Conntrack -NetworkNamespace `$n $($_.Sel)" }) -join '; ')) | Remove-Conntrack -NetworkNamespace `$n" }
    $cases = @(
        @{ Name = 'a batch of creates; each again refused alone and in a batch of one; a batch of deletes'; Steps = @(
                CreateBatch $four
                foreach ($e in $four) { CreateOne $e }
                foreach ($e in $four) { CreateBatch @($e) -expect 'BAD' }
                $deleteBatch
            )
        }
        @{ Name = 'deleting nothing fails alone but not in a batch; deletes and creates mix in a batch'; Steps = @(
                @{ Ct = '-D -w 123'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 123 } }
                @{ Ct = '-R -'; Stdin = @('-D -w 123'); Expect = 'OK'; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Zone 123 | Remove-Conntrack -NetworkNamespace $n } }
                @{ Ct = '-R -'; Stdin = @('-D -w 123', "-I -w 123 $($four[0].Ct)"); Expect = 'OK'
                    Ps = Ps "Get-Conntrack -NetworkNamespace `$n -Zone 123 | Remove-Conntrack -NetworkNamespace `$n; [pscustomobject]$($four[0].Bag) | New-Conntrack -NetworkNamespace `$n -Zone 123" }
                @{ Ct = '-R -'; Stdin = @('-D -w 123'); Expect = 'OK'; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Zone 123 | Remove-Conntrack -NetworkNamespace $n } }
                @{ Ct = '-R -'; Stdin = @('-D -w 123'); Expect = 'OK'; Ps = { param($n) Get-Conntrack -NetworkNamespace $n -Zone 123 | Remove-Conntrack -NetworkNamespace $n } }
                @{ Ct = '-D -w 123'; Expect = 'BAD'; ErrorId = 'EntryNotFound'; Ps = { param($n) Remove-Conntrack -NetworkNamespace $n -Zone 123 } }
            )
        }
        @{ Name = 'a batch of create-or-update twice; creates in between refused; a batch of deletes'; Steps = @(
                CreateBatch $four -option '-A'
                foreach ($e in $four) { CreateOne $e }
                CreateBatch $four -option '-A'
                $deleteBatch
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

Describe 'Conformance: batch (stdin)' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll { if ($script:SkipReason) { return }; $script:pair = New-ConformancePair 'cfb' }
    AfterAll { if ($script:SkipReason) { return }; Remove-ConformancePair $script:pair }

    It '<Name>' -ForEach $cases {
        Invoke-ConformanceCase -Pair $script:pair -Steps $Steps | Should -BeNullOrEmpty
    }
}
