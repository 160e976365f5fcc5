<#
.SYNOPSIS
    Helpers for privileged Pester tests: private network namespaces named ctt-*, traffic inside them,
    cleanup that runs even when a test fails, and the one way a test skips when root or a program is missing
    (Get-MissingPrerequisite, Assert-Prerequisite). Nothing here touches the host's own namespace.
#>
Set-StrictMode -Version 3.0

# The namespaces and the NAT lab are built with ip and nft by tools/NamespaceLab.psm1 (the demo uses it too);
# its functions are part of this module's surface, as they always were.
Import-Module (Join-Path $PSScriptRoot '../../tools/NamespaceLab.psm1') -Force

# The package that brings each program the tests run, named in a skip reason.
$script:CommandPackage = @{
    conntrack = 'conntrack-tools'; nft = 'nftables'; iptables = 'iptables'; ip = 'iproute2'; ss = 'iproute2'
    unshare = 'util-linux'; nsenter = 'util-linux'; setpriv = 'util-linux'; sshd = 'openssh-server'; 'ssh-keyscan' = 'openssh-client'
    tcpdump = 'tcpdump'; tshark = 'tshark'; python3 = 'python3'
}

function Get-MissingPrerequisite {
    <#
        Why tests cannot run here, as one line for Set-ItResult -Skipped -Because (Assert-Prerequisite), or $null
        when nothing is missing: 'needs root: <-Because>' when -Root and not root, and 'needs <program (package)>,
        ... <-CommandBecause>' for each -Command not installed; both joined with '; '. A program counts as installed
        when it is on PATH or in /usr/sbin or /sbin (root's PATH has them; a normal user's often has not, and must not
        be told to install what is there). Computed once, in a file's BeforeAll: $script:SkipReason = Get-MissingPrerequisite ...
    #>
    [CmdletBinding()]
    param(
        # The tests need root; -Because says what for.
        [switch] $Root,
        [string] $Because = 'the tests create network namespaces',
        # Programs the tests run; -CommandBecause is appended to their list (e.g. 'as the reference').
        [string[]] $Command = @(),
        [string] $CommandBecause
    )
    $reasons = [System.Collections.Generic.List[string]]::new()
    if ($Root -and -not (Test-IsRoot)) { $reasons.Add("needs root: $Because") }
    $missing = @(foreach ($c in $Command) {
            $found = (Get-Command -Name $c -CommandType Application -ErrorAction Ignore) -or (Test-Path -LiteralPath "/usr/sbin/$c") -or (Test-Path -LiteralPath "/sbin/$c")
            if ($found) { continue }
            $package = $script:CommandPackage[$c]
            if ($package -and $package -ne $c) { "$c ($package)" } else { $c }
        })
    if ($missing.Count) {
        $list = if ($missing.Count -eq 1) { $missing[0] } else { '{0} and {1}' -f ($missing[0..($missing.Count - 2)] -join ', '), $missing[-1] }
        $reasons.Add(("needs $list $CommandBecause").TrimEnd())
    }
    if ($reasons.Count) { $reasons -join '; ' } else { $null }
}

function Assert-Prerequisite {
    <#
        In a BeforeEach or an It: marks the test skipped with the reason (Set-ItResult -Skipped -Because) when one is
        missing, and does nothing otherwise. -Reason takes what Get-MissingPrerequisite returned in the file's
        BeforeAll; the other parameters are Get-MissingPrerequisite's, for one test's own needs. Set-ItResult throws
        Pester's skip, so nothing after this call runs in that test. The usual place is the one BeforeEach of each
        top-level Describe: Pester 5.7.1 refuses a BeforeEach at the top of a file, and a second BeforeEach in one
        block replaces the first (an existing one calls this first). Nested BeforeAll/AfterAll blocks, which run even
        when every test skips, return early when $script:SkipReason is set.
    #>
    [CmdletBinding(DefaultParameterSetName = 'Reason')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Reason')] [AllowNull()] [AllowEmptyString()] [string] $Reason,
        [Parameter(ParameterSetName = 'Check')] [switch] $Root,
        [Parameter(ParameterSetName = 'Check')] [string] $Because = 'the tests create network namespaces',
        [Parameter(ParameterSetName = 'Check')] [string[]] $Command = @(),
        [Parameter(ParameterSetName = 'Check')] [string] $CommandBecause
    )
    if ($PSCmdlet.ParameterSetName -eq 'Check') {
        $Reason = Get-MissingPrerequisite -Root:$Root -Because $Because -Command $Command -CommandBecause $CommandBecause
    }
    if ($Reason) { Set-ItResult -Skipped -Because $Reason }
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
        $o = { param($k) if ($orig.Contains($k)) { $orig[$k] } else { '' } }
        $r = { param($k) if ($reply.Contains($k)) { $reply[$k] } else { '' } }
        [pscustomobject]@{
            Protocol = $tokens[0]
            Key      = '{0} {1}:{2} -> {3}:{4} | {5}:{6} -> {7}:{8} | zone={9}' -f $tokens[0], (& $o src), (& $o sport), (& $o dst), (& $o dport),
                (& $r src), (& $r sport), (& $r dst), (& $r dport), ($(if ($kv.Contains('zone')) { $kv.zone } else { '0' }))
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

function Wait-Until {
    <# Polls -Condition until it is true; throws with -Because after -TimeoutSeconds. For events, not for timing. #>
    param([Parameter(Mandatory)] [scriptblock] $Condition, [Parameter(Mandatory)] [string] $Because, [int] $TimeoutSeconds = 20)
    $deadline = [datetime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([datetime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting for: $Because" }
        Start-Sleep -Milliseconds 50
    }
}

function Get-PwshCommand {
    <# The command line that starts this same pwsh (a dotnet tool runs as 'dotnet pwsh.dll'). #>
    $self = (Get-Process -Id $PID).Path
    if ([IO.Path]::GetFileName($self) -eq 'dotnet') { @($self, (Join-Path $PSHOME 'pwsh.dll')) } else { @($self) }
}

function Invoke-LabTraffic {
    <#
        Makes real flows through the lab (tools/traffic.py): for each port, a one-shot echo server in the server
        namespace and one message from the client namespace with its answer. Both processes end by themselves; the
        conntrack entries stay (TIME_WAIT/CLOSE for tcp, UDP until timeout).
    #>
    param([Parameter(Mandatory)] $Lab, [ValidateSet('tcp', 'udp')] [string] $Protocol = 'tcp', [int[]] $Port = @(8899), [switch] $IPv6)
    # The service address itself is bound: a UDP answer from another source address would not match the entry.
    $target = if ($IPv6) { $Lab.ServerAddress6 } else { $Lab.ServerAddress }
    $udp = @(if ($Protocol -eq 'udp') { '--udp' })
    $ports = $Port -join ','
    $srv = Start-Traffic $Lab.Server (@('serve', $target, $ports, '--once') + $udp) -Ready
    try {
        Invoke-Traffic $Lab.Client ping $target $ports @udp | Out-Null
        if (-not $srv.WaitForExit(10000)) { throw 'lab echo server did not finish' }
    }
    finally {
        if (-not $srv.HasExited) { $srv.Kill() }
        $srv.Dispose()
    }
}

Export-ModuleMember -Function *
