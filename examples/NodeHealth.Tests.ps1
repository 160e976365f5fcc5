#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
<#
.SYNOPSIS
    Conntrack health of this node, as a Pester 5 suite an operator runs:  Invoke-Pester ./examples/NodeHealth.Tests.ps1

.DESCRIPTION
    Needs root and the ConntrackTools module (Import-Module path/to/ConntrackTools, or set CONNTRACKTOOLS_MODULE to
    the module's .psd1). Each Test-ConntrackHealth check becomes one test whose failure message is the check's
    advice; the VIP-migration test reproduces the incident in a throw-away sandbox and fails on a kernel that
    resets masqueraded connections when an address is deleted from their device. Nothing on the node is changed.

    Set CONNTRACK_HEALTH_NETNS to check a pod's or container's network namespace instead (name, path or PID).
#>

BeforeDiscovery {
    $module = if ($env:CONNTRACKTOOLS_MODULE) { $env:CONNTRACKTOOLS_MODULE } else { 'ConntrackTools' }
    Import-Module $module -ErrorAction Stop
    $target = @{}
    if ($env:CONNTRACK_HEALTH_NETNS) { $target.NetworkNamespace = $env:CONNTRACK_HEALTH_NETNS }
    # Discovery runs the checks once; each becomes a test case with its own name.
    $all = @(Test-ConntrackHealth @target)
    $checks = $all | Where-Object Name -notlike 'KernelAdvisory.*' | ForEach-Object { @{ Name = $_.Name; Check = $_ } }
    # Known kernel defects: judged by version, or by a probe where one exists. A failure here is the kernel's, not the node's setup.
    $advisories = $all | Where-Object Name -like 'KernelAdvisory.*' | ForEach-Object { @{ Name = $_.Name; Check = $_ } }
}

BeforeAll {
    $module = if ($env:CONNTRACKTOOLS_MODULE) { $env:CONNTRACKTOOLS_MODULE } else { 'ConntrackTools' }
    Import-Module $module -ErrorAction Stop
}

Describe 'Conntrack on this node' {
    It '<Name>' -ForEach $checks {
        $Check.Passed | Should -BeTrue -Because "$($Check.Message) (value $($Check.Value), threshold $($Check.Threshold))"
    }
}

Describe 'Known kernel defects' {
    It '<Name>' -ForEach $advisories {
        # A defect no kernel release fixes yet cannot be cured by an upgrade: it is reported (Inconclusive, with the
        # workaround), not failed, so the suite stays a gate for what an operator can act on.
        $unfixed = $Check.Advisory -and -not $Check.Advisory.FixCommit -and $Check.Advisory.FixedIn.Count -eq 0
        if (-not $Check.Passed -and $unfixed) {
            Set-ItResult -Inconclusive -Because "no kernel release fixes it yet: $($Check.Message) (status $($Check.Value))"
            return
        }
        $Check.Passed | Should -BeTrue -Because "$($Check.Message) (status $($Check.Value))"
    }
}

Describe 'VIP moves' {
    It 'do not destroy masqueraded connections (kernel behaviour, in a sandbox)' {
        $result = Test-VipMigration
        $result.Passed | Should -BeTrue -Because $result.Verdict
    }
}
