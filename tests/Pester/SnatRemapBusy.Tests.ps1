#Requires -Version 7.4
<#
    Find-SnatRemap under NAT port pressure (issue 11, item 8), on one busy capture made in private ctt- namespaces:
    a client node masquerades toward the server through a pool of only 32 ports (`masquerade to :40000-40031
    fully-random`), thousands of short connections reuse those ports seconds after each other, the link loses and
    reorders packets (tc netem, or an nft drop rule without it), and one long-lived flow loses its conntrack entry
    mid-stream, so its next segment leaves from a pool port a connection closed shortly before. Exactly that flow is
    a finding; the benign traffic on reused ports (new handshakes, TIME_WAIT reuse, retransmissions) stays silent.
    All traffic stays inside the test namespaces.
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CaptureLab.psm1') -Force
    $missing = if (-not (Test-IsRoot)) { 'building namespaces and capturing needs root' }
    elseif (-not (Test-Path /usr/bin/python3)) { 'the traffic is made with /usr/bin/python3' }
    elseif (-not (Get-Command nft -ErrorAction Ignore)) { 'the masquerade rule is made with nft' }
    if ($missing) { return }

    $lab = New-NatLab -Tag 'busy' -MasqueradePorts '40000-40031'
    $client = $lab.Client; $server = $lab.Server; $up = $lab.Uplink; $down = $lab.ServerDevice
    $pcap = Join-Path ([IO.Path]::GetTempPath()) "ctt-busy-$($client.Substring($client.Length - 6)).pcap"
    # Ports come back to the pool a second after a close (conntrack's TIME_WAIT timeout of this namespace only), so a
    # flow that loses its entry is given a port a connection used a moment before. (With the default 120 s every pool
    # port stays taken by a TIME_WAIT entry, only the flow's own port is free, and it gets that back: no remap at all.)
    Invoke-InNamespace $client sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 | Out-Null
    # Loss and reordering on the client's uplink, after NAT and after the capture point on the server's side.
    $impairment = 'tc netem loss 1% delay 1ms reorder 3%'
    & ip netns exec $client tc qdisc add dev $up root netem loss 1% delay 1ms reorder 3% 50% 2>$null
    $script:slowClass = $false
    if ($LASTEXITCODE -ne 0) {
        # No netem in this kernel (CONFIG_NET_SCH_NETEM): loss from nft, reordering from HTB. 2% of the segments get
        # skb priority 1:20, a slow HTB class (512 kbit/s), and leave after segments sent after them.
        $impairment = 'nft drop of 1% at random'
        Invoke-InNamespace $client nft ("add table ip cttloss; add chain ip cttloss out { type filter hook output priority 0; }; " +
            "add rule ip cttloss out ip daddr 10.232.3.0/24 numgen random mod 100 < 1 drop") | Out-Null
        & ip netns exec $client tc qdisc add dev $up root handle 1: htb default 10 2>$null
        if ($LASTEXITCODE -eq 0) {
            Invoke-InNamespace $client tc class add dev $up parent 1: classid 1:10 htb rate 10gbit 2>&1 | Out-Null
            Invoke-InNamespace $client tc class add dev $up parent 1: classid 1:20 htb rate 512kbit ceil 512kbit 2>&1 | Out-Null
            Invoke-InNamespace $client nft 'add rule ip cttloss out ip daddr 10.232.3.0/24 meta priority set numgen random mod 100 map { 0-1 : 1:20, 2-99 : 1:10 }' | Out-Null
            $impairment += '; 2% of segments through a slow HTB class (reordering)'
            $script:slowClass = $true
        }
    }

    # Echo server: answers each read with the same bytes, closes when the peer does.
    $serverProcess = Start-Traffic $server @('serve', '10.232.3.28', '8899', '--mode', 'echo') -Ready

    # The capture runs on the server's side of the link (what the server sees, after NAT).
    $capture = Start-CaptureJob -ArgumentList $server, $down, $pcap -ScriptBlock {
        param($Module, $Namespace, $Interface, $Pcap)
        Import-Module $Module
        Watch-Packet -NetworkNamespace $Namespace -InterfaceName $Interface -Filter 'tcp port 8899' -OutFile $Pcap -Verbose | Out-Null
    }
    # The client: one long-lived flow (opened once the capture runs, so it is followed from its handshake), then many
    # short connections in 16 threads ('burst N'), and data on the long flow ('push 0').
    $clientProcess = Start-Traffic $client @('client', '10.232.3.28', '8899', '--hello')
    $longPort = [int](Invoke-ProcessCommand $clientProcess 'open 1')
    $longEntry = Get-Conntrack -NetworkNamespace $client -Protocol tcp -SourcePort $longPort
    $oldWirePort = [int]$longEntry.TranslatedSourcePort

    $shortDone = [int](Invoke-ProcessCommand $clientProcess 'burst 1600' -TimeoutSeconds 120)
    $beforeDelete = Invoke-ProcessCommand $clientProcess 'push 0' -TimeoutSeconds 10
    Start-Sleep -Seconds 2   # the burst's TIME_WAIT entries expire: the pool has free, recently used ports again
    # What the unfixed kernel did on a VIP move: the flow's entry vanishes mid-stream.
    # fully-random picks among the free pool ports, the flow's own among them: one time in 32 it gets its old port
    # back and nothing changes on the wire. Then the entry is deleted again (at most 4 more times, so all five stay
    # on the old port once in 33 million), until the remap this test is about has happened.
    $gone = $longEntry
    for ($again = 0; ; $again++) {
        $gone | Remove-Conntrack -NetworkNamespace $client
        $afterDelete = Invoke-ProcessCommand $clientProcess 'push 0' -TimeoutSeconds 10
        $newEntry = Get-Conntrack -NetworkNamespace $client -Protocol tcp -SourcePort $longPort
        if ($again -ge 4 -or -not $newEntry -or [int]$newEntry.TranslatedSourcePort -ne $oldWirePort) { break }
        Write-Host "    the flow got its old pool port $oldWirePort back; deleting its entry again"
        $gone = $newEntry
    }
    $shortDone += [int](Invoke-ProcessCommand $clientProcess 'burst 1600' -TimeoutSeconds 120)
    Start-Sleep -Milliseconds 500
    Stop-Job $capture

    $packets = @(Read-PacketCapture $pcap)
    $findings = @($packets | Find-SnatRemap)
    $handshakePorts = @($packets | Where-Object { $_.DestinationPort -eq 8899 -and $_.TcpFlags -eq [ConntrackTools.TcpFlags]::Syn } | ForEach-Object SourcePort)
    # Reordering as the server saw it: a client segment (of a connection the capture saw open) that ends below the
    # highest sequence number already seen in its connection, and is not a copy of one seen before (a retransmission).
    $highest = @{}; $seen = [System.Collections.Generic.HashSet[string]]::new(); $script:outOfOrder = 0
    $syn = [ConntrackTools.TcpFlags]::Syn; $fin = [ConntrackTools.TcpFlags]::Fin
    foreach ($p in $packets) {
        if ($p.DestinationPort -ne 8899 -or $null -eq $p.Sequence) { continue }
        $flow = "$($p.SourcePort)"
        $seq = [uint64]$p.Sequence
        $end = $seq + $p.PayloadLength + $(if ($p.TcpFlags.HasFlag($syn) -or $p.TcpFlags.HasFlag($fin)) { 1 } else { 0 })
        if ($p.TcpFlags -eq $syn) { $highest[$flow] = $end; continue }   # a new connection on this port
        $new = $seen.Add("$flow/$seq/$($p.PayloadLength)/$($p.TcpFlags)")
        if (-not $highest.ContainsKey($flow)) { continue }
        if ($new -and $end -lt $highest[$flow]) { $script:outOfOrder++ }
        if ($end -gt $highest[$flow]) { $highest[$flow] = $end }
    }
    $script:slowPackets = if ($slowClass) {
        $stats = (& ip netns exec $client tc -s class show dev $up classid 1:20) -join ' '
        if ($stats -match 'Sent \d+ bytes (\d+) pkt') { [int]$Matches[1] } else { 0 }
    }
}

AfterAll {
    if ($capture) { Remove-Job $capture -Force -ErrorAction Ignore }
    foreach ($p in $clientProcess, $serverProcess) { if ($p) { try { $p.Kill() } catch { }; $p.Dispose() } }
    if ($lab) { Remove-NatLab $lab }
    if ($pcap) { Remove-Item -LiteralPath $pcap -ErrorAction Ignore }
}

Describe 'Find-SnatRemap on a busy capture through a 32-port masquerade pool' {
    BeforeEach { Assert-Prerequisite -Reason $missing }

    It 'is busy: thousands of connections through the pool, with loss and reordering' {
        Write-Host "    impairment: $impairment; short connections completed: $shortDone; packets: $($packets.Count); handshakes: $($handshakePorts.Count) on $(@($handshakePorts | Select-Object -Unique).Count) ports"
        Write-Host "    segments through the slow class: $slowPackets; client data segments out of order at the server: $outOfOrder"
        $shortDone | Should -BeGreaterThan 2000
        if ($slowClass) { $slowPackets | Should -BeGreaterThan 0 -Because 'the HTB class delays some segments' }
        $outOfOrder | Should -BeGreaterThan 0 -Because 'the capture must hold reordered segments for the test to mean anything'
        @($handshakePorts | Select-Object -Unique | Where-Object { $_ -lt 40000 -or $_ -gt 40031 }).Count | Should -Be 0
    }

    It 'reports exactly the flow whose conntrack entry was deleted, from its old wire port to a new one' {
        $beforeDelete | Should -Be 'echo'
        $findings.Count | Should -Be 1
        $findings[0].OldSourcePort | Should -Be $oldWirePort
        $findings[0].NewSourcePort | Should -Not -Be $oldWirePort
        $findings[0].ServerPort | Should -Be 8899
    }

    It 'names the new port the masquerade chose, one of the pool that earlier connections used' {
        if ($newEntry) { $findings[0].NewSourcePort | Should -Be ([int]$newEntry.TranslatedSourcePort) }
        $findings[0].NewSourcePort | Should -BeIn (40000..40031)
        $findings[0].NewSourcePort | Should -BeIn $handshakePorts
    }

    It 'matches what the client saw: its flow was reset, or the server''s TIME_WAIT answered with an ACK' {
        Write-Host "    client after the delete: $afterDelete; ResetSeen: $($findings[0].ResetSeen)"
        if ($findings[0].ResetSeen) { $afterDelete | Should -BeIn 'ConnectionResetError', 'closed' }
        else { $findings[0].Packets[-1].TcpFlags.HasFlag([ConntrackTools.TcpFlags]::Ack) | Should -BeTrue }
    }
}
