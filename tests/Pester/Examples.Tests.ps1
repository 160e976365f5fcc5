#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.7.1' }
<#
    The operator's example suite (examples/NodeHealth.Tests.ps1) really runs, and really fails when a check
    fails. It is run in a child pwsh, as an operator would run it (Pester does not nest).
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:example = Join-Path $PSScriptRoot '../../examples/NodeHealth.Tests.ps1'
    # The checks read the conntrack statistics of a namespace made here: without root every test skips with the reason.
    $script:SkipReason = Get-MissingPrerequisite -Root

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
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    AfterAll { if ($script:SkipReason) { return }; Remove-TestNamespace $script:ns }

    BeforeAll {
        if ($script:SkipReason) { return }
        $script:ns = New-TestNamespace 'ex'
        # The kernel advisories this kernel fails (the CTA_FILTER IPv6 probe fails on 6.18): the example fails those a
        # released kernel fixes and reports as Inconclusive those no release fixes yet.
        Import-Module $env:CONNTRACKTOOLS_MODULE -Force
        $script:KernelFailures = @(Test-ConntrackHealth | Where-Object { $_.Name -like 'KernelAdvisory.*' -and -not $_.Passed } | ForEach-Object {
                $unfixed = -not $_.Advisory.FixCommit -and $_.Advisory.FixedIn.Count -eq 0
                "$($_.Name)|$(if ($unfixed) { 'Inconclusive' } else { 'Failed' })"
            })
    }

    It 'passes every check on a healthy namespace; of the kernel defects this kernel has, fails the fixed ones and reports the unfixed ones' {
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

Describe 'examples/NodeHealth.Tests.ps1 as docs/NodeHealthChecks.md says, on a pwsh without Pester' -Tag 'Privileged', 'Slow' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:ns = New-TestNamespace 'exh'
        $script:root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath
        # A pwsh that finds no Pester by itself: only its own built-in modules on the module path.
        function Invoke-Clean([string] $Command) {
            $exe, $rest = Get-PwshCommand
            [string[]] $exeArgs = @($rest | Where-Object { $_ })
            $saved = $env:PSModulePath
            Push-Location $script:root
            try {
                Remove-Item Env:PSModulePath -ErrorAction Ignore
                $out = & $exe @exeArgs -NoProfile -NonInteractive -Command "`$PSStyle.OutputRendering = 'PlainText'; if (Get-Module -ListAvailable Pester) { 'pester-found' }; $Command" 2>&1
                # Pester colours its summary itself in the grandchild build.ps1 starts: compare the text without escapes.
                [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($out | ForEach-Object { "$_" -replace '\x1b\[[0-9;]*m' }) }
            }
            finally { $env:PSModulePath = $saved; Pop-Location }
        }
    }
    AfterAll { if ($script:SkipReason) { return }; Remove-TestNamespace $script:ns }

    It 'build.ps1 -Task HealthCheck restores Pester, runs the suite, passes on a healthy namespace and exits 0' {
        $r = Invoke-Clean "& ./build.ps1 -Task HealthCheck -SkipBuild -NetworkNamespace $($script:ns); exit `$LASTEXITCODE"
        $r.Output | Should -Not -Contain 'pester-found' -Because 'the check is only meaningful where Pester is not installed'
        $r.ExitCode | Should -Be 0 -Because ($r.Output -join "`n")
        ($r.Output -join "`n") | Should -Match 'Tests Passed: \d+, Failed: 0'
    }

    It "the documented one-line import runs the suite (the line is read from the page)" {
        $line = (Get-Content (Join-Path $script:root 'docs/NodeHealthChecks.md')) -match '^Import-Module ./out/ConntrackTools; Import-Module ~/.nuget/packages/pester' | Select-Object -First 1
        $line | Should -Not -BeNullOrEmpty
        $packages = ((& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim().TrimEnd('/')
        if ($packages -ne (Join-Path $HOME '.nuget/packages')) { Set-ItResult -Skipped -Because "NuGet's package folder is $packages here, not the default the page names"; return }
        $env:CONNTRACK_HEALTH_NETNS = $script:ns
        try { $r = Invoke-Clean "$line; exit `$LASTEXITCODE" }
        finally { Remove-Item Env:CONNTRACK_HEALTH_NETNS -ErrorAction Ignore }
        ($r.Output -join "`n") | Should -Match 'Tests Passed: \d+, Failed: 0' -Because ($r.Output -join "`n")
    }
}
