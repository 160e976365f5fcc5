<#
.SYNOPSIS
    The README's main job: shows ConntrackTools on a throw-away lab (build.ps1 -Task Demo runs it).
.DESCRIPTION
    Builds two private network namespaces like the incident's nodes: a client node that masquerades
    (MASQUERADE --random-fully) toward a pod network, and a server node with a pod address. Opens a few real
    TCP connections and UDP exchanges through the NAT, shows the table as ConntrackTools sees it, runs a
    pipeline or two, and removes everything again.
#>
param([Parameter(Mandatory)] [string] $ModulePath)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot '../tests/Pester/TestLab.psm1') -Force

function Show-Step([string] $Text) { Write-Host "`n### $Text" -ForegroundColor Yellow }
function Show-Command([string] $Text) { Write-Host "PS> $Text" -ForegroundColor Green }

if (-not (Test-IsRoot)) { throw 'The demo creates network namespaces: run it as root.' }
$lab = $null; $conns = $null
try {
    Show-Step 'A lab like the incident: client node 192.168.11.7 masquerades (--random-fully) to the pod 10.232.3.28'
    $lab = New-NatLab 'demo'
    $ns = $lab.Client
    Write-Host "client namespace: $ns   server namespace: $($lab.Server)"
    $conns = Start-LabConnection $lab -Count 3 -Port 8899
    Invoke-LabTraffic $lab -Protocol udp -Port 5353
    Invoke-LabTraffic $lab -Protocol tcp -Port 8443 -IPv6

    Show-Step 'The conntrack table of the client node, as objects'
    Show-Command "Get-Conntrack -NetworkNamespace $ns"
    Get-Conntrack -NetworkNamespace $ns | Format-Table | Out-String -Width 160 | Write-Host

    Show-Step 'The NAT mapping: the port the client socket has, and the port MASQUERADE gave it on the wire'
    Show-Command "Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 -State ESTABLISHED | Select-Object SourceAddress, SourcePort, TranslatedSourcePort, DestinationAddress, DestinationPort, State"
    Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 -State ESTABLISHED |
        Select-Object SourceAddress, SourcePort, TranslatedSourcePort, DestinationAddress, DestinationPort, State |
        Format-Table | Out-String -Width 160 | Write-Host

    Show-Step 'Where the filters ran (-Verbose)'
    Show-Command "Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 -SourceAddress 192.168.11.0/24 -Verbose | Measure-Object"
    Get-Conntrack -NetworkNamespace $ns -Protocol tcp -DestinationPort 8899 -SourceAddress 192.168.11.0/24 -Verbose 4>&1 |
        ForEach-Object { if ($_ -is [System.Management.Automation.VerboseRecord]) { Write-Host "VERBOSE: $($_.Message)" -ForegroundColor DarkGray } else { $_ } } |
        Measure-Object | Select-Object Count | Format-Table | Out-String | Write-Host

    Show-Step 'A pipeline: entries per protocol and NAT type'
    Show-Command "Get-Conntrack -NetworkNamespace $ns | Group-Object Protocol, NatType -NoElement"
    Get-Conntrack -NetworkNamespace $ns | Group-Object Protocol, NatType -NoElement | Format-Table | Out-String | Write-Host

    Show-Step 'Table statistics'
    Show-Command "Get-ConntrackStatistics -NetworkNamespace $ns"
    Get-ConntrackStatistics -NetworkNamespace $ns | Format-Table | Out-String -Width 160 | Write-Host

    Show-Step 'What the unfixed kernel did when the VIP was deleted: the entries vanish (here removed by hand)'
    Show-Command "Get-Conntrack -NetworkNamespace $ns -NatType Source -Protocol tcp | Remove-Conntrack -NetworkNamespace $ns -Verbose"
    Get-Conntrack -NetworkNamespace $ns -NatType Source -Protocol tcp | Remove-Conntrack -NetworkNamespace $ns -Confirm:$false -Verbose 4>&1 |
        ForEach-Object { Write-Host "VERBOSE: $($_.Message)" -ForegroundColor DarkGray }
    Write-Host "Masqueraded TCP entries left: $(@(Get-Conntrack -NetworkNamespace $ns -NatType Source -Protocol tcp).Count)"
    Write-Host 'The next segment of those connections will create a new entry with a new random source port: the server answers RST.'
}
finally {
    Show-Step 'Cleaning up'
    if ($conns) { Stop-LabConnection $conns }
    Remove-NatLab $lab
    Write-Host "Namespaces left from the demo: $(@(& ip netns list | Where-Object { $_ -match '^ctt-demo' }).Count)"
}
