#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    The operator's example suite (examples/NodeHealth.Tests.ps1) really runs, and really fails when a check
    fails. It is run in a child pwsh, as an operator would run it (Pester does not nest).
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:example = Join-Path $PSScriptRoot '../../examples/NodeHealth.Tests.ps1'

    function Invoke-Example {
        param([string] $Namespace)
        $exe, $rest = Get-PwshCommand
        [string[]] $exeArgs = @($rest | Where-Object { $_ })
        $env:CONNTRACK_HEALTH_NETNS = $Namespace
        try {
            $script = "Import-Module '$($env:CONNTRACKTOOLS_PESTER)'; `$r = Invoke-Pester -Path '$example' -PassThru -Output None; " +
                '$r.Tests | ForEach-Object { "{0}|{1}" -f $_.ExpandedName, $_.Result }'
            & $exe @exeArgs -NoProfile -NonInteractive -Command $script
        }
        finally { Remove-Item Env:CONNTRACK_HEALTH_NETNS -ErrorAction Ignore }
    }
}

Describe 'examples/NodeHealth.Tests.ps1' {
    AfterAll { Remove-TestNamespace $script:ns }

    BeforeAll {
        $script:ns = New-TestNamespace 'ex'
        # The kernel advisories this kernel fails (the CTA_FILTER IPv6 probe fails on 6.18): the example must fail exactly those too.
        Import-Module $env:CONNTRACKTOOLS_MODULE -Force
        $script:KernelFailures = @(Test-ConntrackHealth | Where-Object { $_.Name -like 'KernelAdvisory.*' -and -not $_.Passed } | ForEach-Object { "$($_.Name)|Failed" })
    }

    It 'passes every check on a healthy namespace, and fails only the kernel defects this kernel has' {
        $results = Invoke-Example -Namespace $ns
        $results | Should -Contain 'TableFill|Passed'
        $results | Should -Contain 'do not destroy masqueraded connections (kernel behaviour, in a sandbox)|Passed'
        $results | Should -Contain 'KernelAdvisory.MasqueradeFlushOnAddressDelete|Passed'
        @($results | Where-Object { $_ -notmatch '\|Passed$' } | Sort-Object) | Should -Be @($KernelFailures | Sort-Object)
    }

    It 'fails the check that is broken, and only that one' {
        Invoke-InNamespace $ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 | Out-Null
        $results = Invoke-Example -Namespace $ns
        $results | Should -Contain 'TcpLoose|Failed'
        @($results | Where-Object { $_ -match '\|Failed$' -and $_ -notlike 'KernelAdvisory.*' }).Count | Should -Be 1
    }
}
