<#
.SYNOPSIS
    Helpers for privileged Pester tests: private network namespaces named ctt-*, traffic inside them,
    and cleanup that runs even when a test fails. Nothing here touches the host's own namespace.
#>
Set-StrictMode -Version 3.0

function Test-IsRoot { (& id -u) -eq '0' }

function Invoke-Checked {
    # Runs a native command; throws with its stderr when it fails.
    $file, $rest = $args
    $output = & $file @rest 2>&1
    if ($LASTEXITCODE -ne 0) { throw "'$file $($rest -join ' ')' failed ($LASTEXITCODE): $($output -join "`n")" }
    $output | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }
}

function New-TestNamespace {
    <# Creates a namespace ctt-<tag>-<random> with loopback up; returns its name. #>
    param([string] $Tag = 't')
    $name = 'ctt-{0}-{1}' -f $Tag, ([guid]::NewGuid().ToString('N').Substring(0, 6))
    Invoke-Checked ip netns add $name | Out-Null
    Invoke-Checked ip -n $name link set lo up | Out-Null
    $name
}

function Remove-TestNamespace {
    <# Flushes and deletes namespaces, and stops processes started in them; never throws. #>
    param([string[]] $Name)
    foreach ($n in $Name) {
        if (-not $n -or -not $n.StartsWith('ctt-')) { continue }
        if (-not (Test-Path "/var/run/netns/$n")) { continue }
        $pids = & ip netns pids $n 2>$null
        foreach ($p in $pids) { if ($p) { & kill -9 $p 2>$null } }
        & ip netns exec $n conntrack -F 2>$null | Out-Null
        & ip netns del $n 2>$null
    }
}

function Invoke-InNamespace {
    <# Runs a native command inside a namespace and returns its output. #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory, ValueFromRemainingArguments)] [string[]] $Command)
    Invoke-Checked ip netns exec $Namespace @Command
}

function Get-ConntrackText {
    <# 'conntrack -L' of a namespace, as lines (the reference our cmdlets are compared with). #>
    param([Parameter(Mandatory)] [string] $Namespace, [string[]] $Options = @())
    @(& ip netns exec $Namespace conntrack -L @Options 2>$null | Where-Object { $_ -match '^\S+\s+\d+' })
}

function ConvertFrom-ConntrackLine {
    <# Parses one 'conntrack -L' line into the fields we compare: protocol, original and reply tuples, mark, zone. #>
    param([Parameter(Mandatory, ValueFromPipeline)] [string] $Line)
    process {
        $tokens = $Line -split '\s+'
        $kv = [ordered]@{}
        $orig = [ordered]@{}; $reply = [ordered]@{}; $current = $orig
        foreach ($t in $tokens) {
            if ($t -notmatch '^([a-z_-]+)=(.*)$') { continue }
            $k = $Matches[1]; $v = $Matches[2]
            if ($k -eq 'src' -and $current.Contains('src')) { $current = $reply }
            if ($k -in 'src', 'dst', 'sport', 'dport', 'type', 'code', 'id') { $current[$k] = $v } else { $kv[$k] = $v }
        }
        [pscustomobject]@{
            Protocol = $tokens[0]
            Key      = '{0} {1}:{2} -> {3}:{4} | {5}:{6} -> {7}:{8} | zone={9}' -f $tokens[0], $orig.src, $orig.sport, $orig.dst, $orig.dport,
                $reply.src, $reply.sport, $reply.dst, $reply.dport, ($(if ($kv.Contains('zone')) { $kv.zone } else { '0' }))
            Mark     = [uint32]$(if ($kv.Contains('mark')) { $kv.mark } else { 0 })
        }
    }
}

function Get-EntryKey {
    <# The same key for a ConntrackEntry, so both sides compare as strings. #>
    param([Parameter(Mandatory, ValueFromPipeline)] $Entry)
    process {
        $o = $Entry.Original; $r = $Entry.Reply
        '{0} {1}:{2} -> {3}:{4} | {5}:{6} -> {7}:{8} | zone={9}' -f $Entry.Protocol, $o.SourceAddress, $o.SourcePort, $o.DestinationAddress, $o.DestinationPort,
            $r.SourceAddress, $r.SourcePort, $r.DestinationAddress, $r.DestinationPort, $Entry.Zone
    }
}

Export-ModuleMember -Function *
