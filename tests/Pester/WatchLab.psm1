<#
.SYNOPSIS
    Helpers for testing the Watch-* cmdlets: run a watcher in a background runspace while the test acts, wait
    for what it reports (never for a fixed time), stop it like Ctrl+C, and look at the netlink sockets of a
    namespace. Waits have generous limits that only guard against a hung suite; they are not timing assertions.
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')   # Invoke-Checked

function Start-Watcher {
    <# Runs a cmdlet of the module under test (with -Verbose) in a runspace of its own; returns a handle. #>
    param(
        [Parameter(Mandatory)] [string] $Command,
        [hashtable] $Parameters = @{}
    )
    # The module comes with the session state, so the pipeline is this one command (a multi-statement batch would
    # keep running on a thread-pool thread after Stop() and fail there once the runspace is disposed).
    $iss = [initialsessionstate]::CreateDefault2()
    $iss.ImportPSModule([string[]] @($env:CONNTRACKTOOLS_MODULE))
    $ps = [powershell]::Create($iss)
    $null = $ps.AddCommand($Command).AddParameters($Parameters).AddParameter('Verbose', $true)
    # No pipeline input: an input collection left open would keep the first command waiting for it.
    $noInput = [System.Management.Automation.PSDataCollection[psobject]]::new()
    $noInput.Complete()
    $output = [System.Management.Automation.PSDataCollection[psobject]]::new()
    $async = $ps.BeginInvoke($noInput, $output)
    [pscustomobject]@{ PowerShell = $ps; Async = $async; Output = $output; Command = $Command }
}

function Wait-Watcher {
    <# Polls until the condition (given the watcher) holds; throws when the watcher ended or the guard expired. #>
    param(
        [Parameter(Mandatory)] $Watcher,
        [Parameter(Mandatory)] [scriptblock] $Until,
        [string] $What = 'the condition',
        [int] $GuardSeconds = 30
    )
    $deadline = [datetime]::UtcNow.AddSeconds($GuardSeconds)
    while (-not (& $Until $Watcher)) {
        if ($Watcher.Async.IsCompleted) {
            throw "$($Watcher.Command) ended before $What`: $(Get-WatcherProblem $Watcher)"
        }
        if ([datetime]::UtcNow -gt $deadline) { throw "Gave up waiting for $What after $GuardSeconds s (guard against a hung test)." }
        Start-Sleep -Milliseconds 50
    }
}

function Get-WatcherOutput {
    <#
        What a running watcher has written so far. Read by index: enumerating the live collection would block until
        the watcher ends.
    #>
    param([Parameter(Mandatory)] $Watcher)
    $out = $Watcher.Output
    for ($i = 0; $i -lt $out.Count; $i++) { $out[$i] }
}

function Wait-WatcherReady {
    <# Waits for the verbose line a watcher writes once it is subscribed (and, with -Pattern, any later step). #>
    param([Parameter(Mandatory)] $Watcher, [string] $Pattern = '^Listening')
    Wait-Watcher $Watcher -What "verbose '$Pattern'" -Until {
        param($w) [bool]($w.PowerShell.Streams.Verbose | Where-Object Message -Match $Pattern)
    }
}

function Complete-Watcher {
    <# Waits for a watcher that stops by itself (-Count, -Duration) and returns its output. #>
    param([Parameter(Mandatory)] $Watcher, [int] $GuardSeconds = 120)
    if (-not $Watcher.Async.AsyncWaitHandle.WaitOne([timespan]::FromSeconds($GuardSeconds))) {
        throw "$($Watcher.Command) did not stop within $GuardSeconds s (guard against a hung test)."
    }
    $null = $Watcher.PowerShell.EndInvoke($Watcher.Async)
    if ($Watcher.PowerShell.HadErrors) { throw "$($Watcher.Command) failed: $(Get-WatcherProblem $Watcher)" }
    , @($Watcher.Output)
}

function Stop-Watcher {
    <# Stops a running watcher the way Ctrl+C does (StopProcessing) and waits until it has stopped. #>
    param([Parameter(Mandatory)] $Watcher, [int] $GuardSeconds = 30)
    $stop = $Watcher.PowerShell.BeginStop($null, $null)
    if (-not $stop.AsyncWaitHandle.WaitOne([timespan]::FromSeconds($GuardSeconds))) {
        throw "$($Watcher.Command) did not stop within $GuardSeconds s of Stop()."
    }
    $Watcher.PowerShell.EndStop($stop)
}

function Remove-Watcher {
    <# Cleanup that never throws: stops the watcher if it still runs and frees its runspace. #>
    param($Watcher)
    foreach ($w in @($Watcher)) {
        if ($null -eq $w) { continue }
        try { if (-not $w.Async.IsCompleted) { $w.PowerShell.Stop() } } catch { }
        $w.PowerShell.Dispose()
    }
}

function Get-WatcherProblem {
    param([Parameter(Mandatory)] $Watcher)
    $errors = @($Watcher.PowerShell.Streams.Error | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" })
    if ($Watcher.PowerShell.InvocationStateInfo.Reason) { $errors += $Watcher.PowerShell.InvocationStateInfo.Reason.Message }
    if ($errors) { $errors -join '; ' } else { "state $($Watcher.PowerShell.InvocationStateInfo.State), no error" }
}

function Get-NetlinkSubscriber {
    <# Netlink sockets of a namespace that joined multicast groups (/proc/net/netlink read inside it). #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [int] $Protocol)
    & ip netns exec $Namespace cat /proc/net/netlink | Select-Object -Skip 1 | ForEach-Object {
        $f = -split $_
        [pscustomobject]@{ Protocol = [int]$f[1]; PortId = [uint32]$f[2]; Groups = [Convert]::ToUInt32($f[3], 16); Drops = [int64]$f[8] }
    } | Where-Object { $_.Protocol -eq $Protocol -and $_.Groups -ne 0 }
}

function Add-VethPair {
    <# A veth pair kept inside one namespace (the dummy link type is not available here), both ends up. #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [string] $Peer)
    Invoke-Checked ip -n $Namespace link add $Name type veth peer name $Peer | Out-Null
    Invoke-Checked ip -n $Namespace link set $Name up | Out-Null
    Invoke-Checked ip -n $Namespace link set $Peer up | Out-Null
}

function Set-ConntrackEventSetting {
    <# net.netfilter.nf_conntrack_events of one namespace (it is per namespace). #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [int] $Value)
    Invoke-Checked ip netns exec $Namespace sysctl -qw "net.netfilter.nf_conntrack_events=$Value" | Out-Null
}

function Invoke-ConntrackBatch {
    <# Feeds 'conntrack -R' a batch of -I / -D lines inside a namespace (one process for many entries). #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string[]] $Line, [Parameter(Mandatory)] [string] $Scratch)
    $file = Join-Path $Scratch ("ct-{0}.txt" -f [guid]::NewGuid().ToString('N'))
    Set-Content -Path $file -Value $Line
    try { Invoke-Checked ip netns exec $Namespace conntrack -R $file | Out-Null }
    finally { Remove-Item $file -ErrorAction Ignore }
}

Export-ModuleMember -Function Start-Watcher, Wait-Watcher, Get-WatcherOutput, Wait-WatcherReady, Complete-Watcher, Stop-Watcher, Remove-Watcher,
    Get-NetlinkSubscriber, Add-VethPair, Set-ConntrackEventSetting, Invoke-ConntrackBatch
