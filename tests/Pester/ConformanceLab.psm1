<#
.SYNOPSIS
    Conformance with conntrack-tools' own test suite (tests/conntrack/testsuite/* in its repository: conntrack
    arguments with the expected OK or BAD, run in order on one table). Each case of ours is a short run of those
    steps, translated into our cmdlets. The harness runs conntrack on a twin namespace and our cmdlets on our
    namespace, step by step, and after every step compares: conntrack's outcome with the suite's expectation, ours
    with the same expectation, the two tables (both read with 'conntrack -L', an independent view), and for
    listing steps the entries listed by each side.
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')

function New-ConformancePair {
    <# Two empty namespaces: Ours (our cmdlets) and Theirs (conntrack). #>
    param([Parameter(Mandatory)] [string] $Tag)
    [pscustomobject]@{ Ours = (New-TestNamespace "$Tag-o"); Theirs = (New-TestNamespace "$Tag-c") }
}

function Remove-ConformancePair {
    param($Pair)
    if ($Pair) { Remove-TestNamespace @($Pair.Ours, $Pair.Theirs) }
}

function Reset-ConformancePair {
    <# Empties both tables (between cases). #>
    param([Parameter(Mandatory)] $Pair)
    foreach ($n in $Pair.Ours, $Pair.Theirs) { & ip netns exec $n conntrack -F 2>$null | Out-Null }
}

function Get-ConformanceTable {
    <# The table as conntrack -L prints it, without the parts that move (timeout, use), sorted. #>
    param([Parameter(Mandatory)] [string] $Namespace)
    @(& ip netns exec $Namespace conntrack -L 2>$null | Where-Object { $_ -match '^\S+\s+\d+' } | ForEach-Object {
            $t = $_ -split '\s+' | Where-Object { $_ -and $_ -notmatch '^use=' }
            # tokens: protocol name, number, timeout, then the rest
            (@($t[0], $t[1]) + @($t | Select-Object -Skip 3)) -join ' '
        } | Sort-Object)
}

function Get-IdentityFromLine {
    <# protocol number + original tuple + zone of one 'conntrack -L' line: what names an entry. #>
    param([string] $Line)
    $t = $Line -split '\s+'
    $kv = [ordered]@{}
    foreach ($tok in $t) {
        if ($tok -notmatch '^([a-z-]+)=(.*)$') { continue }
        if ($kv.Contains($Matches[1])) { if ($Matches[1] -eq 'src') { break } else { continue } }
        $kv[$Matches[1]] = $Matches[2]
    }
    $zone = if ($Line -match '\bzone=(\d+)') { $Matches[1] } else { '0' }
    $get = { param($k) if ($kv.Contains($k)) { $kv[$k] } else { '' } }
    '{0} {1} {2} {3} {4} {5} {6} {7} zone={8}' -f $t[1], (& $get src), (& $get dst), (& $get sport), (& $get dport),
        (& $get type), (& $get code), (& $get id), $zone
}

function Get-IdentityFromEntry {
    param($Entry)
    $o = $Entry.Original
    '{0} {1} {2} {3} {4} {5} {6} {7} zone={8}' -f $o.ProtocolNumber, $o.SourceAddress, $o.DestinationAddress, $o.SourcePort, $o.DestinationPort,
        $o.IcmpType, $o.IcmpCode, $o.IcmpId, $Entry.Zone
}

function Invoke-Theirs {
    <# Runs one conntrack step (argument text, or a scriptblock given the namespace); returns OK/BAD and listed lines. #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] $Step)
    $lines = @()
    if ($Step.Ct -is [scriptblock]) {
        $lines = @(& $Step.Ct $Namespace 2>$null)
        $rc = $LASTEXITCODE
    }
    else {
        $argv = @($Step.Ct -split '\s+' | Where-Object { $_ })
        if ($Step.ContainsKey('Stdin')) { $lines = @($Step.Stdin | & ip netns exec $Namespace conntrack @argv 2>$null) }
        else { $lines = @(& ip netns exec $Namespace conntrack @argv 2>$null) }
        $rc = $LASTEXITCODE
    }
    [pscustomobject]@{ Outcome = $(if ($rc -eq 0) { 'OK' } else { 'BAD' }); Lines = @($lines | Where-Object { $_ -match '^\S+\s+\d+\s' }) }
}

function Invoke-Ours {
    <# Runs our translation of a step with every error terminating; returns OK/BAD, the output and the error. #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] $Step)
    $ErrorActionPreference = 'Stop'
    try {
        $out = @(& $Step.Ps $Namespace)
        [pscustomobject]@{ Outcome = 'OK'; Output = $out; Error = $null }
    }
    catch {
        [pscustomobject]@{ Outcome = 'BAD'; Output = @(); Error = $_ }
    }
}

function Invoke-ConformanceCase {
    <#
        Runs the steps of one case on both namespaces (tables emptied first) and returns one line per problem;
        an empty result means our cmdlets agreed with the suite and with conntrack at every step.
    #>
    param([Parameter(Mandatory)] $Pair, [Parameter(Mandatory)] [object[]] $Steps)
    Reset-ConformancePair $Pair
    $problems = [System.Collections.Generic.List[string]]::new()
    $i = 0
    foreach ($step in $Steps) {
        $i++
        $what = "step $i ($($step.Ct))"
        $theirs = Invoke-Theirs -Namespace $Pair.Theirs -Step $step
        $ours = Invoke-Ours -Namespace $Pair.Ours -Step $step
        $expect = $step.Expect
        $oursExpect = if ($step.ContainsKey('OursExpect')) { $step.OursExpect } else { $expect }
        if ($expect -and $theirs.Outcome -ne $expect) { $problems.Add("$what : conntrack gave $($theirs.Outcome), the suite expects $expect") }
        if ($oursExpect -and $ours.Outcome -ne $oursExpect) {
            $problems.Add("$what : ours gave $($ours.Outcome), expected $oursExpect$(if ($ours.Error) { ": $($ours.Error.FullyQualifiedErrorId) $($ours.Error.Exception.Message)" })")
        }
        if ($step.ContainsKey('ErrorId') -and $ours.Error -and $ours.Error.FullyQualifiedErrorId -notlike "$($step.ErrorId),*") {
            $problems.Add("$what : error id $($ours.Error.FullyQualifiedErrorId), expected $($step.ErrorId)")
        }
        if ($step.ContainsKey('List') -and $step.List -and $ours.Outcome -eq 'OK') {
            $mine = @($ours.Output | Where-Object { $_ -is [ConntrackTools.ConntrackEntry] } | ForEach-Object { Get-IdentityFromEntry $_ } | Sort-Object)
            $ref = @($theirs.Lines | ForEach-Object { Get-IdentityFromLine $_ } | Sort-Object)
            # Where conntrack itself is wrong on this kernel (a step says why), the step names the entries instead.
            if ($step.ContainsKey('Listed')) { $ref = @($step.Listed | Sort-Object) }
            if (($mine -join "`n") -ne ($ref -join "`n")) { $problems.Add("$what : listed [$($mine -join '; ')], conntrack listed [$($ref -join '; ')]") }
        }
        if ($step.ContainsKey('CompareTables') -and -not $step.CompareTables) { continue }
        # A listing changes no table: compare them after the steps that can.
        if ($step.ContainsKey('List') -and $step.List -and $ours.Outcome -eq $theirs.Outcome) { continue }
        $a = Get-ConformanceTable $Pair.Ours
        $b = Get-ConformanceTable $Pair.Theirs
        if (($a -join "`n") -ne ($b -join "`n")) { $problems.Add("$what : tables differ: ours [$($a -join '; ')], conntrack's [$($b -join '; ')]") }
    }
    , $problems.ToArray()
}

Export-ModuleMember -Function New-ConformancePair, Remove-ConformancePair, Reset-ConformancePair, Invoke-ConformanceCase, Get-ConformanceTable
