#Requires -Version 7.4
<#
    What the prompt offers and refuses: -InterfaceName completes the interfaces of the namespace named on the
    command line (TabExpansion2, as the console calls it), and bad values end with our error id and category.
    As root, in a private ctt-* namespace with a veth pair whose names exist nowhere else.
#>

BeforeDiscovery {
    $script:Completing = @(
        @{ Command = 'Watch-Packet'; Extra = '' }
        @{ Command = 'Watch-AddressChange'; Extra = '' }
        @{ Command = 'Test-VipMigration'; Extra = '-Address 192.168.50.100/32 ' }
    )
    $script:Refused = @(
        @{ Case = 'Watch-AddressChange on an interface that does not exist'; Id = 'InterfaceNotFound'; Category = 'ObjectNotFound'
            Command = 'Watch-AddressChange'; Parameters = @{ InterfaceName = 'nonexist0'; Duration = 1 }; InNamespace = $true }
        @{ Case = 'Watch-Packet on an interface that does not exist'; Id = 'InterfaceNotFound'; Category = 'ObjectNotFound'
            Command = 'Watch-Packet'; Parameters = @{ InterfaceName = 'nonexist0'; Duration = 1 }; InNamespace = $true }
        foreach ($a in '224.0.0.5', '239.255.255.250/32', 'ff02::1', 'ff05::1:3/128', '0.0.0.0', '::', '255.255.255.255') {
            @{ Case = "Test-VipMigration -Address $a (sandbox)"; Id = 'InvalidAddress'; Category = 'InvalidArgument'
                Command = 'Test-VipMigration'; Parameters = @{ Address = $a }; InNamespace = $false }
        }
        foreach ($a in '224.0.0.5', 'ff02::1', '::') {
            @{ Case = "Test-VipMigration -Address $a on an interface"; Id = 'InvalidAddress'; Category = 'InvalidArgument'
                Command = 'Test-VipMigration'; Parameters = @{ Address = $a; InterfaceName = 'ctt-pr0'; Confirm = $false }; InNamespace = $true }
        }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    $script:ns = $null
    $script:Skip = if (-not (Test-IsRoot)) { 'entering a namespace needs root' }
    if (-not $script:Skip) {
        $script:ns = New-TestNamespace -Tag 'pr'
        Add-VethPair -Namespace $script:ns -Name 'ctt-pr0' -Peer 'ctt-pr1'
    }

    function Get-Completion([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }
}

AfterAll { Remove-TestNamespace $script:ns }

Describe '<Command> -InterfaceName completion' -Tag 'Privileged' -ForEach $Completing {
    BeforeEach { Assert-Prerequisite -Reason $script:Skip }

    It 'lists the interfaces of the namespace given with -NetworkNamespace' {
        $names = @(Get-Completion "$Command -NetworkNamespace $ns $Extra-InterfaceName ")
        $names | Should -Be @('ctt-pr0', 'ctt-pr1', 'lo')
    }

    It 'narrows to what was typed, also with the -NetNs alias' {
        @(Get-Completion "$Command -NetNs $ns $Extra-InterfaceName ctt-pr1") | Should -Be @('ctt-pr1')
    }

    It "lists the caller's own interfaces without -NetworkNamespace (never those of another namespace)" {
        $own = @(& ip -o link show | ForEach-Object { ($_ -split ':\s+')[1] -replace '@.*$', '' })
        $names = @(Get-Completion "$Command $Extra-InterfaceName ")
        $names | Should -Not -Contain 'ctt-pr0'
        foreach ($n in $names) { $own | Should -Contain $n }
    }

    It 'offers nothing (and no file names) for a namespace that does not exist' {
        @(Get-Completion "$Command -NetworkNamespace ctt-none-$(Get-Random) $Extra-InterfaceName ") | Should -BeNullOrEmpty
    }
}

Describe 'Refused: <Case>' -Tag 'Privileged' -ForEach $Refused {
    BeforeEach { Assert-Prerequisite -Reason $script:Skip }

    It 'ends with <Id> (<Category>) naming the value' {
        $p = $Parameters.Clone()
        if ($InNamespace) { $p.NetworkNamespace = $ns }
        $record = $null
        try { & $Command @p -ErrorAction Stop | Out-Null } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty -Because 'the value must be refused'
        $record.FullyQualifiedErrorId | Should -Be "$Id,ConntrackTools.Commands.$($Command -replace '-', '')Command"
        $record.CategoryInfo.Category | Should -Be $Category
        $value = if ($Parameters.ContainsKey('Address')) { $Parameters.Address } else { $Parameters.InterfaceName }
        $record.Exception.Message | Should -BeLike "*$value*"
    }

    if ($InNamespace) {
        It 'leaves the namespace as it was' {
            @(Invoke-Checked ip -n $ns -o addr show dev ctt-pr0 | Where-Object { $_ -match 'inet' -and $_ -notmatch 'fe80' }) | Should -BeNullOrEmpty
        }
    }
}
