#Requires -Version 7.4
<#
    Every example of every help page (docs/<Cmdlet>.md, the ```powershell blocks under ## EXAMPLES) runs, and fails
    this test when it stops working. How the examples stay what a user types and still run safely here:
    - Each example runs as written, in a runspace of its own with the module (and Pester, for `Should`) imported,
      inside one private namespace ctt-doc-*: $PSDefaultParameterValues gives every cmdlet that talks to the kernel
      -NetworkNamespace <that namespace> (Test-VipMigration only when the example names -InterfaceName: its sandbox
      makes its own namespaces). Nothing runs in the host's namespace; an explicit namespace in the text wins.
    - Values of a particular machine are given a local meaning, listed per page in $Pages below: `ctt-lab` and the
      PID `4242` become the test namespace and the PID of a process in it (`ctt-a`/`ctt-b`: it and a second one),
      /var/tmp/captures a folder of pcapng files, /run/ct.save and /tmp/table.save files in this test's folder,
      "node B" of Import-Conntrack the second namespace, and a `conntrack` run of an example reads the test
      namespace (ip netns exec). That substitution is the only change made to an example's text.
    - $ConfirmPreference is 'None' (as a script run with -Confirm:$false answers), and Watch-* get -Duration 2 by
      default, so examples that watch until Ctrl+C end by themselves. An example whose own -Duration is longer is
      stopped the way Ctrl+C stops it after 10 s; it passes when nothing failed until then (what it would have done
      after its watch, such as Export-Csv, is then not exercised).
    - The state an example reads is prepared with independent tools: conntrack -I entries (a masqueraded tcp flow to
      10.232.3.28:8899, udp to 10.96.0.10:53 from 10.244.1.5, a marked SYN_SENT, tcp 1.1.1.1:10 -> 2.2.2.2:20; empty
      for New-Conntrack's page, whose examples make them), interfaces br-mgmt and eth0 (veth pairs), and pcap
      files captured with tcpdump from a TCP exchange on port 8899 in the namespace (pcapng made by editcap), the
      table as ./flows.json (Export-Conntrack -Format Json) and ./vip-move.zip, an Export-ConntrackEvidence
      recording of a VIP added to and deleted from br-mgmt followed by a deletion of 60 entries.
    Output goes through Out-String -Width 120, so the default views are exercised too. Example blocks that are
    fragments of a Pester file (an `It` without its Describe) are listed in $Fragments with the reason.
#>

BeforeDiscovery {
    $docs = Join-Path $PSScriptRoot '../../docs'
    $script:Examples = foreach ($page in Get-ChildItem $docs -Filter '*-*.md' | Sort-Object Name) {
        $lines = Get-Content $page.FullName
        $inExamples = $false; $title = $null; $block = $null; $n = 0
        foreach ($line in $lines) {
            if ($line -match '^## ') { $inExamples = $line -eq '## EXAMPLES' }
            if (-not $inExamples) { continue }
            if ($line -match '^### (.+)$') { $title = $Matches[1] }
            elseif ($null -eq $block -and $line -eq '```powershell') { $block = [System.Collections.Generic.List[string]]::new() }
            elseif ($null -ne $block -and $line -eq '```') {
                $n++
                @{ Page = $page.BaseName; Title = "$title"; Index = $n; Code = ($block -join "`n") }
                $block = $null
            }
            elseif ($null -ne $block) { $block.Add($line) }
        }
    }
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:Skip = $null
    foreach ($tool in 'conntrack', 'tcpdump', 'editcap', 'python3') {
        if (-not (Get-Command $tool -ErrorAction Ignore)) { $script:Skip = "$tool (used to prepare the examples' state) is not installed" }
    }
    if (-not (Test-IsRoot)) { $script:Skip = 'the examples talk to the kernel: root is needed' }

    # Example blocks that cannot run on their own, and why.
    $script:Fragments = @{
        'Test-ConntrackHealth#3' = 'an It block of a Pester file; examples/NodeHealth.Tests.ps1 is its runnable form (Examples.Tests.ps1 runs it)'
        'Export-ConntrackEvidence#4' = 'reaches other nodes over SSH remoting; Fleet.Tests.ps1 runs the same commands from a controller namespace to node namespaces'
    }
    $script:Fragments['Test-ConntrackHealth#4'] = 'an It block of a Pester file; examples/NodeHealth.Tests.ps1 is its runnable form (Examples.Tests.ps1 runs it)'
    $script:Fragments['Read-PacketCapture#4'] = 'a shell pipeline from a live tcpdump into a second pwsh with the module installed; CaptureInput.Tests.ps1 feeds Read-PacketCapture - a capture on standard input the same way'

    if ($script:Skip) { return }
    $script:ns = New-TestNamespace -Tag 'doc'
    $script:ns2 = New-TestNamespace -Tag 'doc2'   # the second namespace of examples that copy between two
    Invoke-InNamespace $ns sysctl -qw net.netfilter.nf_conntrack_events=1 | Out-Null
    foreach ($pair in @('br-mgmt', 'eth0')) {
        Invoke-Checked ip -n $ns link add $pair type veth peer name "$pair-p" | Out-Null
        Invoke-Checked ip -n $ns link set $pair up | Out-Null
        Invoke-Checked ip -n $ns link set "$pair-p" up | Out-Null
    }
    Invoke-Checked ip -n $ns addr add 192.168.11.7/24 dev br-mgmt | Out-Null
    # A process living in the namespace, for the examples that name a PID.
    $info = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in 'netns', 'exec', $ns, 'sleep', 'infinity') { $info.ArgumentList.Add($a) }
    $script:sleeper = [System.Diagnostics.Process]::Start($info)
    Wait-Until { (& ip netns pids $ns) -contains "$($script:sleeper.Id)" } 'the sleeper to enter the namespace'

    function Reset-Table {
        # The entries the pages talk about, made with conntrack -I (not with the module under test).
        & ip netns exec $script:ns conntrack -F 2>$null | Out-Null
        Invoke-InNamespace $script:ns conntrack -I -p tcp -s 192.168.11.7 -d 10.232.3.28 --sport 33862 --dport 8899 `
            --reply-port-dst 31445 --reply-port-src 8899 --reply-src 10.232.3.28 --reply-dst 192.168.11.7 --state ESTABLISHED -t 300 -u SEEN_REPLY,ASSURED | Out-Null
        Invoke-InNamespace $script:ns conntrack -I -p udp -s 10.244.1.5 -d 10.96.0.10 --sport 5353 --dport 53 -t 60 | Out-Null
        Invoke-InNamespace $script:ns conntrack -I -p tcp -s 10.244.0.9 -d 10.232.3.28 --sport 40000 --dport 8899 --state SYN_SENT -t 60 -m 0x4000 | Out-Null
        Invoke-InNamespace $script:ns conntrack -I -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 --state ESTABLISHED -t 120 | Out-Null
        & ip netns exec $script:ns2 conntrack -F 2>$null | Out-Null
    }

    # Pcap files with a TCP exchange on port 8899, captured by tcpdump on lo inside the namespace.
    $script:files = (New-Item -ItemType Directory -Path (Join-Path TestDrive: 'files') -Force).FullName
    $pcap = Join-Path $script:files 'incident.pcap'
    $tcpdump = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in 'netns', 'exec', $ns, 'tcpdump', '-i', 'lo', '-U', '-w', $pcap, 'tcp port 8899') { $tcpdump.ArgumentList.Add($a) }
    $tcpdump.RedirectStandardError = $true
    $capture = [System.Diagnostics.Process]::Start($tcpdump)
    try {
        $null = $capture.StandardError.ReadLineAsync().Wait(5000)   # 'listening on lo ...'
        Invoke-Traffic $ns exchange 127.0.0.1 8899 | Out-Null
        Wait-Until { (Test-Path $pcap) -and (Get-Item $pcap).Length -gt 200 } 'tcpdump to write the exchange'
    }
    finally { $capture.Kill(); $capture.WaitForExit(); $capture.Dispose() }
    Copy-Item $pcap (Join-Path $script:files 'day.pcap')
    $script:captures = (New-Item -ItemType Directory -Path (Join-Path TestDrive: 'captures') -Force).FullName
    Invoke-Checked editcap -F pcapng $pcap (Join-Path $script:captures 'one.pcapng') | Out-Null
    Invoke-Checked editcap -F pcapng $pcap (Join-Path $script:captures 'two.pcapng') | Out-Null

    # Import-Conntrack's ./flows.json: the namespace's table in the module's JSON format.
    Reset-Table
    Export-Conntrack -NetworkNamespace $ns -Path (Join-Path $script:files 'flows.json') -Format Json
    # The bundle ./vip-move.zip of Import-ConntrackEvidence and Find-ConntrackFlush: recorded while a VIP is added to
    # and deleted from br-mgmt and 60 entries are deleted at once right after (made and deleted with conntrack).
    $bundle = Join-Path $script:files 'vip-move.zip'
    $job = Start-ThreadJob -ArgumentList $env:CONNTRACKTOOLS_MODULE, $ns, $bundle {
        param($module, $ns, $path)
        Import-Module $module
        Export-ConntrackEvidence -NetworkNamespace $ns -Path $path -Duration 8 -InterfaceName br-mgmt
    }
    try {
        Start-Sleep -Seconds 3
        foreach ($i in 1..60) {
            Invoke-InNamespace $ns conntrack -I -p udp -s 192.168.11.7 -d 10.96.0.99 --sport (20000 + $i) --dport 53 -t 120 | Out-Null
        }
        Invoke-Checked ip -n $ns addr add 192.168.11.100/32 dev br-mgmt | Out-Null
        Invoke-Checked ip -n $ns addr del 192.168.11.100/32 dev br-mgmt | Out-Null
        Invoke-InNamespace $ns conntrack -D -p udp -d 10.96.0.99 | Out-Null
        $job | Wait-Job -Timeout 60 | Receive-Job | Out-Null
    }
    finally { $job | Remove-Job -Force }
    if (-not (Test-Path $bundle)) { throw "Export-ConntrackEvidence wrote no bundle for the examples to read" }

    $script:Replace = [ordered]@{
        # Node B of Import-Conntrack's first example is the second namespace; /run and /tmp are this test's folder.
        'Import-Conntrack -Path /run/ct.save' = "Import-Conntrack -NetworkNamespace $($script:ns2) -Path /run/ct.save"
        '/run/ct.save'              = (Join-Path $script:files 'ct.save')
        # conntrack itself reads this node's table, which here is the test namespace's. Its summary line goes to
        # stderr, which a hosted runspace (unlike a terminal) records as an error: it is dropped here.
        'conntrack -L -o save > '   = "ip netns exec $ns conntrack -L -o save 2>`$null > "
        '/tmp/table.save'           = (Join-Path $script:files 'table.save')
        '-NetworkNamespace ctt-lab' = "-NetworkNamespace $ns"
        '-NetworkNamespace ctt-a'   = "-NetworkNamespace $ns"
        '-NetworkNamespace ctt-b'   = "-NetworkNamespace $($script:ns2)"
        '-NetworkNamespace 4242'    = "-NetworkNamespace $($script:sleeper.Id)"
        '-NetworkNamespace cni-1b2c3d4e' = "-NetworkNamespace $ns"
        '/var/tmp/captures'         = $script:captures
    }
    # Every cmdlet that talks to the kernel (it has -NetworkNamespace) runs in the test namespace; the sandbox of
    # Test-VipMigration makes its own. Read from the module, so a new cmdlet can never run in the host's namespace.
    $script:KernelCommands = @(Get-Command -Module ConntrackTools -CommandType Cmdlet |
        Where-Object { $_.Parameters.ContainsKey('NetworkNamespace') -and $_.Name -ne 'Test-VipMigration' } |
        ForEach-Object -MemberName Name)
    if ($script:KernelCommands.Count -lt 10) { throw "The module's cmdlets were not found: is ConntrackTools imported?" }

    function Invoke-Example([string] $Code, [string] $WorkingDirectory) {
        $iss = [initialsessionstate]::CreateDefault2()
        $iss.ImportPSModule([string[]] @($env:CONNTRACKTOOLS_MODULE, $env:CONNTRACKTOOLS_PESTER))
        $ps = [powershell]::Create($iss)
        $defaults = @{}
        # Examples over every namespace, or that pipe Get-NetworkNamespace's objects in, choose their namespaces
        # themselves (they only read): a default namespace would contradict them.
        if ($Code -notmatch '-AllNetworkNamespaces|Get-NetworkNamespace') {
            foreach ($c in $script:KernelCommands) { $defaults["${c}:NetworkNamespace"] = $script:ns }
        }
        if ($Code -match '-InterfaceName') { $defaults['Test-VipMigration:NetworkNamespace'] = $script:ns }
        $defaults['Watch-*:Duration'] = 2
        $null = $ps.AddScript('param($d, $where) $global:PSDefaultParameterValues = $d; $global:ConfirmPreference = ''None''; Set-Location -LiteralPath $where').
            AddArgument($defaults).AddArgument($WorkingDirectory)
        $null = $ps.Invoke(); $ps.Commands.Clear()
        $null = $ps.AddScript("& { $Code } | Out-String -Width 120")
        $async = $ps.BeginInvoke()
        $stopped = $false
        # Watch-* end after 2 s unless they name a longer -Duration; anything else has a minute.
        $guard = if ($Code -match 'Watch-') { 10 } else { 60 }
        if (-not $async.AsyncWaitHandle.WaitOne([timespan]::FromSeconds($guard))) {
            # A watch with a long -Duration of its own: stop it as Ctrl+C does.
            if ($Code -notmatch 'Watch-') { $ps.Stop(); throw "the example did not finish within $guard s" }
            $ps.Stop(); $stopped = $true
        }
        $text = if (-not $stopped) { try { $ps.EndInvoke($async) } catch { throw "the example failed: $($_.Exception.InnerException.Message ?? $_.Exception.Message)" } }
        $errors = @($ps.Streams.Error | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" })
        $ps.Dispose()
        [pscustomobject]@{ Text = "$text"; Errors = $errors; Stopped = $stopped }
    }
}

AfterAll {
    if ($script:sleeper) { if (-not $script:sleeper.HasExited) { $script:sleeper.Kill() }; $script:sleeper.Dispose() }
    Remove-TestNamespace $script:ns, $script:ns2
}

Describe '<Page> example <Index>: <Title>' -Tag 'Privileged', 'Slow' -ForEach $Examples {
    It 'runs as written, without an error' {
        Assert-Prerequisite -Reason $script:Skip
        $key = "$Page#$Index"
        Assert-Prerequisite -Reason $script:Fragments[$key]
        # An example that talks to other machines would send packets from the host's namespace: never run one here.
        if ($Code -match '-HostName|PSSession|-ToSession|-FromSession|\bssh\b') {
            throw "$key reaches other nodes; list it in `$Fragments with the test that runs it between namespaces."
        }
        Reset-Table
        # New-Conntrack's examples create the entries the other pages read: they start from an empty table.
        if ($Page -eq 'New-Conntrack') { & ip netns exec $script:ns conntrack -F 2>$null | Out-Null }
        $where = (New-Item -ItemType Directory -Path (Join-Path TestDrive: "run-$Page-$Index") -Force).FullName
        Copy-Item (Join-Path $script:files '*.pcap') $where
        # The files an example reads, only where it reads them (an example that writes ./vip-move.zip must not find one).
        if ($Code -match 'Import-Conntrack ') { Copy-Item (Join-Path $script:files 'flows.json') $where }
        if ($Code -match 'Import-ConntrackEvidence') { Copy-Item (Join-Path $script:files 'vip-move.zip') $where }
        $text = $Code
        foreach ($k in $script:Replace.Keys) { $text = $text.Replace($k, $script:Replace[$k]) }
        $r = Invoke-Example -Code $text -WorkingDirectory $where
        $r.Errors | Should -BeNullOrEmpty -Because "the example must work as the page shows it:`n$text"
    }
}

Describe 'The examples test' {
    It 'found the examples of every help page' -TestCases @(@{ Count = @($Examples).Count; Pages = @($Examples.Page | Sort-Object -Unique).Count }) {
        $Pages | Should -Be (Get-ChildItem (Join-Path $PSScriptRoot '../../docs') -Filter '*-*.md').Count
        $Count | Should -BeGreaterThan 40
    }
}
