@{
    RootModule           = 'ConntrackTools.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0c8f3e-6a57-4f0e-9f3c-2f1d6a7c9e41'
    Author               = 'ConntrackTools contributors'
    CompanyName          = 'ConntrackTools'
    Copyright            = '(c) ConntrackTools contributors. MIT License.'
    Description          = 'Linux connection tracking and NAT state as typed PowerShell objects, over ctnetlink, rtnetlink and libpcap.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    TypesToProcess       = @('ConntrackTools.Types.ps1xml')
    FormatsToProcess     = @(
        'ConntrackTools.Format.ps1xml'
        'ConntrackTools.Watch.Format.ps1xml'
        'ConntrackTools.Capture.Format.ps1xml'
        'ConntrackTools.Lab.Format.ps1xml'
        'ConntrackTools.Transfer.Format.ps1xml'
        'ConntrackTools.Namespaces.Format.ps1xml'
    )
    CmdletsToExport      = @(
        'Get-Conntrack'
        'Get-ConntrackStatistics'
        'New-Conntrack'
        'Set-Conntrack'
        'Remove-Conntrack'
        'Clear-Conntrack'
        'Watch-Conntrack'
        'Watch-AddressChange'
        'Watch-Packet'
        'Read-PacketCapture'
        'Find-SnatRemap'
        'Test-VipMigration'
        'Test-ConntrackHealth'
        'Export-Conntrack'
        'Import-Conntrack'
        'Get-ConntrackExpectation'
        'New-ConntrackExpectation'
        'Remove-ConntrackExpectation'
        'Get-NetworkNamespace'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Linux', 'conntrack', 'netfilter', 'NAT', 'netlink', 'Kubernetes', 'networking')
            ProjectUri = 'https://example.invalid/ConntrackTools'
        }
    }
}
