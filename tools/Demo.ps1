<#
.SYNOPSIS
    The README's main job (build.ps1 -Task Demo): replays the incident ConntrackTools exists for.
.DESCRIPTION
    1. A lab like the incident's nodes (a client node that masquerades with --random-fully toward a pod network),
       with live connections: the conntrack table as objects, with the NAT mapping visible.
    2. Test-VipMigration on this kernel: a VIP is added to and deleted from the masquerading uplink.
    3. The same with -EmulateLegacyKernel: what the unfixed kernel did, with all of its evidence.
    Everything runs in throw-away network namespaces that are removed at the end.
#>
param([Parameter(Mandatory)] [string] $ModulePath)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot 'NamespaceLab.psm1') -Force

function Show-Step([string] $Text) { Write-Host "`n=== $Text" -ForegroundColor Yellow }
function Show-Command([string] $Text) { Write-Host "PS> $Text" -ForegroundColor Green }
function Show-Text([string] $Text) { Write-Host $Text -ForegroundColor Gray }
function Show-Object { param([Parameter(ValueFromPipeline)] $InputObject) end { $input | Out-String -Width 150 | Write-Host } }

if (-not (Test-IsRoot)) { throw 'The demo creates network namespaces: run it as root.' }

Show-Text @'
The incident: a client on node1 talks to a pod through MASQUERADE --random-fully. A keepalived VIP is added to
node1's uplink and deleted again. On the kernels involved, deleting any address flushed every conntrack entry
masqueraded out of that device; the next segment of each live connection left from a new source port and the
server answered RST. ConntrackTools makes each piece of that an object.
'@

$lab = $null; $conns = $null
try {
    Show-Step '1. The conntrack table as objects (client node of a lab like node1, 3 live connections)'
    $lab = New-NatLab 'demo'
    $ns = $lab.Client
    $conns = Start-LabConnection $lab -Count 3 -Port 8899
    Show-Command "Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899"
    Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 | Show-Object
    Show-Text 'NAT shows the source the pod sees: the socket''s own port (SourcePort, as ss shows it) was rewritten by MASQUERADE.'
    Show-Command "Get-Conntrack -NetworkNamespace $ns -NatType Source | Select-Object SourcePort, TranslatedSourcePort, State"
    Get-Conntrack -NetworkNamespace $ns -NatType Source | Select-Object SourcePort, TranslatedSourcePort, State | Show-Object

    Show-Step '2. Does THIS kernel lose conntrack entries when a VIP is deleted? (sandbox of private namespaces)'
    Show-Command 'Test-VipMigration'
    $fixed = Test-VipMigration
    $fixed | Show-Object

    Show-Step '3. The same on an unfixed kernel (emulated): the incident, with its evidence'
    Show-Command '$r = Test-VipMigration -EmulateLegacyKernel'
    $legacy = Test-VipMigration -EmulateLegacyKernel
    $legacy | Show-Object
    Show-Command '$r.Steps'
    $legacy.Steps | Show-Object
    Show-Command '$r.EntriesLost | Select-Object SourcePort, TranslatedSourcePort, State, Original'
    $legacy.EntriesLost | Select-Object SourcePort, TranslatedSourcePort, State, Original | Show-Object
    Show-Text 'The address removal, with the entries destroyed in the same moment (Watch-AddressChange -IncludeConntrackImpact):'
    Show-Command '$r.AddressChanges | Where-Object Change -EQ Removed'
    $legacy.AddressChanges | Where-Object Change -EQ Removed | Show-Object
    Show-Text 'On the wire (capture on the uplink, Find-SnatRemap): each flow continued from a new source port and was reset.'
    Show-Command '$r.Remaps | Select-Object ClientAddress, ServerAddress, ServerPort, OldSourcePort, NewSourcePort, Sequence, ResetSeen'
    $legacy.Remaps | Format-Table ClientAddress, ServerAddress, ServerPort, OldSourcePort, NewSourcePort, Sequence, ResetSeen -AutoSize | Show-Object

    Show-Step 'Verdicts'
    Write-Host "this kernel:      $($fixed.Verdict)" -ForegroundColor $(if ($fixed.Passed) { 'Green' } else { 'Red' })
    Write-Host "unfixed (emulated): $($legacy.Verdict)" -ForegroundColor $(if ($legacy.Passed) { 'Green' } else { 'Red' })
    Show-Text "`nAs a node health check: dotnet pwsh ./build.ps1 -Task HealthCheck (see docs/NodeHealthChecks.md)."
}
finally {
    if ($conns) { Stop-LabConnection $conns }
    Remove-NatLab $lab
    $left = @(& ip netns list | Where-Object { $_ -match '^ctt-(demo|vip)-' }).Count
    Show-Text "`nCleaned up: $left demo namespaces left."
}
