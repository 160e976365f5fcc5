#Requires -Version 7.4
<#
    Who says no, and how: PowerShell's own parameter validation (ValidateRange, ValidateNotNullOrEmpty, argument
    transformation, enum conversion) keeps PowerShell's id and category; what our code validates ends as our id with
    the category InvalidArgument. And every error id the module can raise is documented in about_ConntrackTools with
    its category. No case here reaches the kernel's state: each is refused before anything is changed.
#>

BeforeDiscovery {
    $script:Cases = @(
        # PowerShell's validation: its ids and categories, untouched by the module.
        @{ Line = 'Watch-Conntrack -Count 0'; Id = 'ParameterArgumentValidationError'; Category = 'InvalidData' }
        @{ Line = 'Watch-Packet lo -Count 0'; Id = 'ParameterArgumentValidationError'; Category = 'InvalidData' }
        @{ Line = 'Watch-Packet -InterfaceName ""'; Id = 'ParameterArgumentValidationError'; Category = 'InvalidData' }
        @{ Line = 'Test-VipMigration -Connections 0'; Id = 'ParameterArgumentValidationError'; Category = 'InvalidData' }
        @{ Line = 'Watch-AddressChange -Duration abc'; Id = 'ParameterArgumentTransformationError'; Category = 'InvalidData' }
        @{ Line = 'Watch-AddressChange -AddressFamily Foo'; Id = 'CannotConvertArgumentNoMessage'; Category = 'InvalidArgument' }
        # Ours: our id, InvalidArgument.
        @{ Line = 'Watch-Conntrack -Duration 0'; Id = 'InvalidArgument'; Category = 'InvalidArgument' }
        @{ Line = 'Watch-AddressChange -ImpactWindow -1'; Id = 'InvalidArgument'; Category = 'InvalidArgument' }
        @{ Line = 'Test-VipMigration -HoldTime -5'; Id = 'InvalidArgument'; Category = 'InvalidArgument' }
        @{ Line = 'Test-VipMigration -Address not-an-ip'; Id = 'InvalidAddress'; Category = 'InvalidArgument' }
        @{ Line = 'Watch-Conntrack -Protocol nosuch -Duration 1'; Id = 'InvalidProtocol'; Category = 'InvalidArgument' }
        @{ Line = 'Watch-Conntrack -SourceAddress 300.1.1.1 -Duration 1'; Id = 'InvalidAddress'; Category = 'InvalidArgument' }
        @{ Line = 'Watch-Conntrack -DestinationPort 70000 -Duration 1'; Id = 'InvalidPort'; Category = 'InvalidArgument' }
        # The filter is compiled on an opened device: in a private namespace of its own (root only).
        @{ Line = 'Watch-Packet lo -Filter "tcp port" -Duration 1'; Id = 'InvalidFilter'; Category = 'InvalidArgument'; InNamespace = $true }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:ns = if (Test-IsRoot) { New-TestNamespace -Tag 'err' }
}

AfterAll { Remove-TestNamespace $script:ns }

Describe 'Refusing <Line>' -ForEach $Cases {
    It 'ends with <Id> (<Category>)' {
        $command = ($Line -split ' ')[0]
        $text = $Line
        if ($_.ContainsKey('InNamespace')) {
            if (-not $script:ns) { Set-ItResult -Skipped -Because 'opening a capture device needs root'; return }
            $text = "$Line -NetworkNamespace $script:ns"
        }
        $record = $null
        try { & ([scriptblock]::Create("$text -ErrorAction Stop")) | Out-Null } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty -Because 'the input must be refused'
        $record.FullyQualifiedErrorId | Should -Be "$Id,ConntrackTools.Commands.$($command -replace '-', '')Command"
        $record.CategoryInfo.Category | Should -Be $Category
        $record.ScriptStackTrace | Should -Not -Match 'ConntrackTools\.' -Because 'no stack trace of ours reaches the user'
    }
}

Describe 'about_ConntrackTools' {
    BeforeAll {
        $script:about = Get-Content (Join-Path $PSScriptRoot '../../docs/about_ConntrackTools.md') -Raw
        $assembly = (Get-Command Get-Conntrack).ImplementingType.Assembly
        $type = $assembly.GetTypes() | Where-Object Name -EQ 'ErrorIds' | Select-Object -First 1
        $script:ids = @($type.GetFields('Public,Static') | Where-Object IsLiteral | ForEach-Object { $_.GetRawConstantValue() })
    }

    It 'documents every error id the module defines, with its category' {
        $script:ids.Count | Should -BeGreaterThan 10
        foreach ($id in $script:ids) {
            $script:about | Should -Match "(?m)^\s+$id\s+(PermissionDenied|ObjectNotFound|NotInstalled|InvalidArgument|InvalidData|ResourceExists|ProtocolError|InvalidOperation|DeviceError|WriteError|ResourceUnavailable|NotSpecified)\s+\S" -Because "$id must be listed with its category and meaning"
        }
    }
}
