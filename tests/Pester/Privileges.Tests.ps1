#Requires -Version 7.4
<#
    Least privilege, per cmdlet (issue 13, item 7): each exported cmdlet run with the capability it needs removed
    (setpriv --bounding-set, in a child pwsh: root's effective capabilities are limited by the bounding set) ends with
    PermissionDenied, and the cmdlets documented as needing nothing work with no capability at all. As root, in a
    private ctt-* namespace. The capabilities are those named in each cmdlet's help (docs/<Cmdlet>.md, NOTES).
#>

BeforeDiscovery {
    # What each cmdlet needs, as its help page says. 'Run' is the invocation inside the namespace (no -NetworkNamespace).
    $script:NeedCases = @(
        @{ Command = 'Get-Conntrack'; Drop = 'net_admin'; Run = 'Get-Conntrack' }
        @{ Command = 'Get-ConntrackStatistics'; Drop = 'net_admin'; Run = 'Get-ConntrackStatistics' }
        @{ Command = 'New-Conntrack'; Drop = 'net_admin'; Run = 'New-Conntrack -Protocol tcp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.2 -SourcePort 1000 -DestinationPort 80 -Timeout 60' }
        @{ Command = 'Set-Conntrack'; Drop = 'net_admin'; Run = '$e = Get-Conntrack | Select-Object -First 1; Remove-ThreadCapability 12; $e | Set-Conntrack -Mark 5'; Thread = $true }
        @{ Command = 'Remove-Conntrack'; Drop = 'net_admin'; Run = 'Remove-Conntrack -Protocol tcp -Confirm:$false' }
        @{ Command = 'Clear-Conntrack'; Drop = 'net_admin'; Run = 'Clear-Conntrack -Confirm:$false' }
        @{ Command = 'Watch-Conntrack'; Drop = 'net_admin'; Run = 'Watch-Conntrack -Duration 1' }
        @{ Command = 'Watch-AddressChange'; Drop = 'net_admin'; Run = 'Watch-AddressChange -IncludeConntrackImpact -Duration 1' }
        @{ Command = 'Watch-Packet'; Drop = 'net_raw'; Run = 'Watch-Packet -InterfaceName lo -Duration 1' }
        @{ Command = 'Test-ConntrackHealth'; Drop = 'net_admin'; Run = 'Test-ConntrackHealth' }
        @{ Command = 'Test-VipMigration'; Drop = 'net_admin'; Run = 'Test-VipMigration -Connections 1 -HoldTime 0' }
        @{ Command = 'Test-VipMigration'; Drop = 'sys_admin'; Run = 'Test-VipMigration -Connections 1 -HoldTime 0' }
        @{ Command = 'Export-Conntrack'; Drop = 'net_admin'; Run = 'Export-Conntrack -Path (Join-Path $env:CTT_DIR "need.conntrack")' }
        @{ Command = 'Import-Conntrack'; Drop = 'net_admin'; Run = 'Import-Conntrack -Path $env:CTT_IMPORT_FILE -Confirm:$false' }
        @{ Command = 'Get-ConntrackExpectation'; Drop = 'net_admin'; Run = 'Get-ConntrackExpectation' }
        @{ Command = 'New-ConntrackExpectation'; Drop = 'net_admin'; Run = '$m = Get-Conntrack | Select-Object -First 1; Remove-ThreadCapability 12; New-ConntrackExpectation -Master $m -Timeout 10 -Protocol tcp -SourceAddress 10.9.1.1 -DestinationAddress 10.9.1.2 -DestinationPort 2000 -Confirm:$false'; Thread = $true }
        @{ Command = 'Remove-ConntrackExpectation'; Drop = 'net_admin'; Run = 'Remove-ConntrackExpectation -All -Confirm:$false' }
        @{ Command = 'Export-ConntrackEvidence'; Drop = 'net_admin'; Run = 'Export-ConntrackEvidence -Path (Join-Path $env:CTT_DIR "need-bundle") -Duration 1' }
    )
    # Needing nothing: run with every capability dropped.
    $script:FreeCases = @(
        @{ Command = 'Read-PacketCapture'; Run = '@(Read-PacketCapture -Path $env:CTT_PCAP_FILE).Count' ; Expect = '1' }
        @{ Command = 'Find-SnatRemap'; Run = '@(Read-PacketCapture -Path $env:CTT_PCAP_FILE | Find-SnatRemap).Count'; Expect = '0' }
        @{ Command = 'Watch-AddressChange'; Run = '@(Watch-AddressChange -Duration 0.5).Count'; Expect = '0' }
        # The socket dump is open to everyone; the NAT view reads conntrack, which needs CAP_NET_ADMIN: without it the
        # sockets (made in BeforeAll: both ends of a TCP connection, a connected UDP socket) come with a warning.
        @{ Command = 'Get-NetTCPConnection'; Run = '$r = @(Get-NetTCPConnection -State Established -WarningVariable w -WarningAction SilentlyContinue); "$($r.Count)/$(@($w -match ''CAP_NET_ADMIN'').Count)"'; Expect = '2/1' }
        @{ Command = 'Get-NetUDPEndpoint'; Run = '$r = @(Get-NetUDPEndpoint -RemotePort 2223 -WarningVariable w -WarningAction SilentlyContinue); "$($r.Count)/$(@($w -match ''CAP_NET_ADMIN'').Count)"'; Expect = '1/1' }
        @{ Command = 'Get-NetTCPConnection'; Variant = ' -NoConntrack'; Run = '@(Get-NetTCPConnection -NoConntrack -LocalPort 2222 -State Listen -WarningAction Stop).Count'; Expect = '1' }
        # Without CAP_SYS_PTRACE only some processes' namespaces are readable; there is always at least our own.
        @{ Command = 'Get-NetworkNamespace'; Run = '@(Get-NetworkNamespace -WarningAction SilentlyContinue).Count -ge 1'; Expect = 'True' }
        # A bundle recorded as root in BeforeAll, with one flush of 30 entries in it.
        @{ Command = 'Import-ConntrackEvidence'; Run = '(Import-ConntrackEvidence -Path $env:CTT_BUNDLE).ConntrackEvents.Count -ge 30'; Expect = 'True' }
        @{ Command = 'Find-ConntrackFlush'; Run = '@((Import-ConntrackEvidence -Path $env:CTT_BUNDLE).ConntrackEvents | Find-ConntrackFlush -MinimumEntries 30).Count'; Expect = '1' }
    )
    foreach ($c in $script:FreeCases) { if (-not $c.ContainsKey('Variant')) { $c.Variant = '' } }
    # Entering another namespace (-NetworkNamespace) needs CAP_SYS_ADMIN: every cmdlet that has the parameter.
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    $extra = @{
        'New-Conntrack'     = '-Protocol tcp -SourceAddress 10.9.0.1 -DestinationAddress 10.9.0.2 -SourcePort 1000 -DestinationPort 80'
        'Remove-Conntrack'  = '-Protocol tcp -Confirm:$false'
        'Clear-Conntrack'   = '-Confirm:$false'
        'Watch-Conntrack'   = '-Duration 1'
        'Watch-AddressChange' = '-Duration 1'
        'Watch-Packet'      = '-InterfaceName lo -Duration 1'
        'Test-VipMigration' = '-InterfaceName lo -Address 192.168.99.1/32 -HoldTime 0 -Confirm:$false'
        'Export-Conntrack'  = '-Path (Join-Path $env:CTT_DIR "ns.conntrack")'
        'Import-Conntrack'  = '-Path $env:CTT_IMPORT_FILE -Confirm:$false'
        'Remove-ConntrackExpectation' = '-All -Confirm:$false'
        'Export-ConntrackEvidence' = '-Path (Join-Path $env:CTT_DIR "ns-bundle") -Duration 1'
    }
    $script:NamespaceCases = foreach ($c in Get-Command -Module ConntrackTools | Where-Object { $_.Parameters.ContainsKey('NetworkNamespace') }) {
        if ($c.Name -eq 'New-ConntrackExpectation') {
            # Its master entry is read with every capability first.
            @{ Command = $c.Name; Run = '$m = Get-Conntrack -NetworkNamespace $env:CTT_NS | Select-Object -First 1; Remove-ThreadCapability 21; New-ConntrackExpectation -NetworkNamespace $env:CTT_NS -Master $m -Timeout 10 -Protocol tcp -SourceAddress 10.9.1.1 -DestinationAddress 10.9.1.2 -DestinationPort 2000 -Confirm:$false'; Thread = $true }
        }
        elseif ($c.Name -eq 'Set-Conntrack') {
            # Its entries come from the pipeline: read them with every capability, then drop CAP_SYS_ADMIN (21).
            @{ Command = $c.Name; Run = '$e = Get-Conntrack -NetworkNamespace $env:CTT_NS | Select-Object -First 1; Remove-ThreadCapability 21; $e | Set-Conntrack -NetworkNamespace $env:CTT_NS -Mark 5'; Thread = $true }
        }
        else { @{ Command = $c.Name; Run = "$($c.Name) -NetworkNamespace `$env:CTT_NS $($extra[$c.Name])" } }
    }
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:Root = Test-IsRoot
    # The cases drop capabilities from root's set with setpriv: without root or setpriv they skip with the reason.
    $script:SkipReason = Get-MissingPrerequisite -Root -Because 'the cases drop capabilities that root has' -Command setpriv
    $script:ns = $null
    if ($script:Root) {
        $script:ns = New-TestNamespace -Tag 'pv'
        # One entry for Set-Conntrack to change.
        Invoke-Checked ip netns exec $ns conntrack -I -p tcp -s 10.9.1.1 -d 10.9.1.2 --sport 1 --dport 2 --state ESTABLISHED -t 300 | Out-Null
    }
    $env:CTT_PCAP_FILE = Join-Path $TestDrive 'one.pcap'
    $env:CTT_NS = $script:ns
    $env:CTT_DIR = $TestDrive
    # One line in conntrack's save format for Import-Conntrack (it fails before the kernel creates it).
    $env:CTT_IMPORT_FILE = Join-Path $TestDrive 'one.conntrack'
    Set-Content -Path $env:CTT_IMPORT_FILE -Value '-I -p tcp -s 10.9.2.1 -d 10.9.2.2 --sport 5 --dport 6 --state ESTABLISHED -t 300'
    $env:CTT_BUNDLE = Join-Path $TestDrive 'flush-bundle'
    $script:listener = $null
    if ($script:Root) {
        # Sockets for the socket cmdlets: a TCP listener and a UDP socket on loopback inside the namespace.
        Invoke-Checked ip -n $ns link set lo up | Out-Null
        $script:listener = Start-Traffic $ns @('pair', '127.0.0.1', '2222', '2223') -Ready
        # A bundle with a flush in it: 30 entries made and cleared while Export-ConntrackEvidence records.
        $module = $env:CONNTRACKTOOLS_MODULE
        $job = Start-ThreadJob -ArgumentList $module, $ns, $env:CTT_BUNDLE {
            param($module, $ns, $path)
            Import-Module $module
            Export-ConntrackEvidence -NetworkNamespace $ns -Path $path -Duration 4 -InterfaceName lo
        }
        Start-Sleep -Seconds 1.5
        foreach ($i in 1..30) {
            New-Conntrack -NetworkNamespace $ns -Protocol udp -SourceAddress 10.9.3.1 -DestinationAddress 10.9.3.2 -SourcePort (3000 + $i) -DestinationPort 53 -Timeout 300
        }
        Remove-Conntrack -NetworkNamespace $ns -Protocol udp -Confirm:$false
        $job | Wait-Job -Timeout 60 | Out-Null
        $job | Receive-Job | Out-Null
        $job | Remove-Job -Force
    }
    # A pcap file with one Ethernet/IPv4/TCP SYN (written here, so no tool and no capture is needed).
    $frame = [byte[]](@(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 8, 0) +
        @(0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2) +
        @(0x9c, 0x40, 0x22, 0xc3, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0))
    $file = [System.IO.MemoryStream]::new()
    $w = [System.IO.BinaryWriter]::new($file)
    $w.Write([uint32]2712847316); $w.Write([uint16]2); $w.Write([uint16]4); $w.Write([int32]0); $w.Write([uint32]0); $w.Write([uint32]65535); $w.Write([uint32]1)
    $w.Write([uint32]1700000000); $w.Write([uint32]0); $w.Write([uint32]$frame.Length); $w.Write([uint32]$frame.Length); $w.Write($frame)
    $w.Flush()
    [System.IO.File]::WriteAllBytes($env:CTT_PCAP_FILE, $file.ToArray())

    # Runs many cases in one child pwsh under setpriv (one start of pwsh per capability set, not one per case); returns
    # per case 'OK <output>' or 'ERROR <FullyQualifiedErrorId> <exception type>'.
    function Invoke-Unprivileged([string] $Bounding, [object[]] $Case, [switch] $InNamespace) {
        $pwsh = @(Get-PwshCommand)
        $lines = foreach ($c in $Case) {
            $body = $c.Run -replace "'", "''"
            "try { `$r = & ([scriptblock]::Create('$body')); 'CASE`t$($c.Key)`tOK`t' + (`$r -join ',') } catch { 'CASE`t$($c.Key)`tERROR`t' + `$_.FullyQualifiedErrorId + '`t' + `$_.Exception.GetType().FullName }"
        }
        $script = "Import-Module '$($env:CONNTRACKTOOLS_MODULE)'; Import-Module '$(Join-Path $PSScriptRoot 'Capabilities.psm1')'; `$ErrorActionPreference = 'Stop'`n" + ($lines -join "`n")
        $file = Join-Path $TestDrive ("cases-{0}.ps1" -f [guid]::NewGuid().ToString('N'))
        Set-Content -Path $file -Value $script
        $prefix = if ($InNamespace) { @('ip', 'netns', 'exec', $script:ns) } else { @() }
        $bound = if ($Bounding) { @('setpriv', '--bounding-set', $Bounding, '--') } else { @() }
        $all = $prefix + $bound + $pwsh + @('-NoProfile', '-NonInteractive', '-File', $file)
        $out = & $all[0] @($all | Select-Object -Skip 1) 2>&1
        $results = @{}
        foreach ($line in $out) {
            $f = "$line" -split "`t"
            if ($f[0] -eq 'CASE') { $results[$f[1]] = $f | Select-Object -Skip 2 }
        }
        foreach ($c in $Case) { if (-not $results.ContainsKey($c.Key)) { $results[$c.Key] = @('MISSING', ($out -join ' | ')) } }
        $results
    }
    function Add-Key($Cases, [string] $Kind) {
        foreach ($c in $Cases) { $k = $c.Clone(); $k.Key = "$Kind|$($c.Command)|$($c.Drop)|$($c.Variant)"; $k }
    }

    $script:Results = @{}
    if (-not $script:SkipReason) {
        $need = @(Add-Key $NeedCases 'need')
        foreach ($group in $need | Where-Object { -not $_.Thread } | Group-Object { $_.Drop }) {
            $script:Results += Invoke-Unprivileged -Bounding "-$($group.Name)" -Case $group.Group -InNamespace
        }
        # A case that drops a capability from its thread leaves that thread without it: one child pwsh per such case.
        foreach ($c in $need | Where-Object { $_.Thread }) { $script:Results += Invoke-Unprivileged -Bounding '' -Case @($c) -InNamespace }
        $nsCases = @(Add-Key $NamespaceCases 'ns')
        $script:Results += Invoke-Unprivileged -Bounding '-sys_admin' -Case @($nsCases | Where-Object { -not $_.Thread })
        foreach ($c in $nsCases | Where-Object { $_.Thread }) { $script:Results += Invoke-Unprivileged -Bounding '' -Case @($c) }
        $script:Results += Invoke-Unprivileged -Bounding '-all' -Case @(Add-Key $FreeCases 'free') -InNamespace
        $script:Results += Invoke-Unprivileged -Bounding '-all,+net_raw' -InNamespace -Case @(
            @{ Key = 'raw-only'; Run = '@(Watch-Packet -InterfaceName lo -Duration 0.5).Count' })
    }
    function Get-Result([string] $Key) { $script:Results[$Key] }
}

AfterAll {
    if ($script:listener) { if (-not $script:listener.HasExited) { $script:listener.Kill() }; $script:listener.Dispose() }
    Remove-TestNamespace $script:ns
    Remove-Item Env:CTT_PCAP_FILE, Env:CTT_NS, Env:CTT_DIR, Env:CTT_IMPORT_FILE, Env:CTT_BUNDLE -ErrorAction Ignore
}

Describe 'Each cmdlet without the capability it needs' -Tag 'Privileged' {
    It '<Command> without CAP_<Drop> is PermissionDenied' -ForEach $NeedCases {
        Assert-Prerequisite -Reason $script:SkipReason
        $out = Get-Result "need|$Command|$Drop|"
        $out[0] | Should -Be 'ERROR' -Because "it ran without CAP_$($Drop.ToUpper()): $($out -join ' | ')"
        $out[1] | Should -Be ("PermissionDenied,ConntrackTools.Commands.{0}Command" -f ($Command -replace '-', ''))
    }

    It '<Command> -NetworkNamespace without CAP_SYS_ADMIN is PermissionDenied' -ForEach $NamespaceCases {
        Assert-Prerequisite -Reason $script:SkipReason
        $out = Get-Result "ns|$Command||"
        $out[0] | Should -Be 'ERROR' -Because "it ran without CAP_SYS_ADMIN: $($out -join ' | ')"
        $out[1] | Should -Be ("PermissionDenied,ConntrackTools.Commands.{0}Command" -f ($Command -replace '-', ''))
    }

    It '<Command><Variant> needs no capability' -ForEach $FreeCases {
        Assert-Prerequisite -Reason $script:SkipReason
        $out = Get-Result "free|$Command||$Variant"
        $out[0] | Should -Be 'OK' -Because ($out -join ' | ')
        $out[1] | Should -Be $Expect
    }

    It 'Watch-Packet needs CAP_NET_RAW and nothing else' {
        Assert-Prerequisite -Reason $script:SkipReason
        $out = Get-Result 'raw-only'
        $out[0] | Should -Be 'OK' -Because ($out -join ' | ')
    }

    It 'covers every exported cmdlet' {
        $covered = @($NeedCases.Command) + @($FreeCases.Command) | Sort-Object -Unique
        $exported = @((Get-Command -Module ConntrackTools).Name) | Sort-Object -Unique
        Compare-Object $exported $covered | Should -BeNullOrEmpty
    }
}
