@{
    RootModule           = 'ConntrackTools.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0c8f3e-6a57-4f0e-9f3c-2f1d6a7c9e41'
    Author               = 'ConntrackTools contributors'
    CompanyName          = 'ConntrackTools'
    Copyright            = '(c) ConntrackTools contributors. MIT License.'
    Description          = 'Linux connection tracking and NAT state as typed PowerShell objects, over ctnetlink, rtnetlink and libpcap: the conntrack table, its events, address changes and their impact, packets and the SNAT-remap signature of lost masquerade mappings, and a verdict on VIP moves. Linux only, PowerShell 7.4+; most cmdlets need root (CAP_NET_ADMIN). Native library: Watch-Packet, Read-PacketCapture and Test-VipMigration need libpcap (Debian/Ubuntu: apt-get install libpcap0.8).'
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
        'ConntrackTools.Sockets.Format.ps1xml'
        'ConntrackTools.Evidence.Format.ps1xml'
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
        'Get-NetTCPConnection'
        'Get-NetUDPEndpoint'
        'Find-ConntrackFlush'
        'Export-ConntrackEvidence'
        'Import-ConntrackEvidence'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Linux', 'PSEdition_Core', 'conntrack', 'netfilter', 'NAT', 'netlink', 'Kubernetes', 'networking')
            LicenseUri   = 'https://opensource.org/license/mit'
            ProjectUri   = 'https://example.invalid/ConntrackTools'
            ReleaseNotes = 'https://example.invalid/ConntrackTools/releases'
            # No HelpInfoURI: the help ships inside the module (en-US), there is no Update-Help source to point at.
        }
    }
}
