#Requires -Version 7.4
<#
    Packets as objects: Watch-Packet, Read-PacketCapture and Find-SnatRemap, as root in private ctt- namespaces.

    The incident is reproduced for real: long-lived flows from a client node that masquerades --random-fully lose
    their conntrack entries mid-stream (what the unfixed kernel did when a VIP was deleted); their next segment
    leaves from a new source port and the server resets it. A live Watch-Packet | Find-SnatRemap and its -OutFile
    read back must both report exactly those flows, and nothing for a flow that kept its entry.
#>

BeforeDiscovery {
    $families = @(@{ Family = 'IPv4' }, @{ Family = 'IPv6' })
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CaptureLab.psm1') -Force
    $missing = if (-not (Test-IsRoot)) { 'capturing and building network namespaces needs root' }
    elseif (-not (Test-Path /usr/bin/python3)) { 'the test traffic is made with /usr/bin/python3' }
    elseif (-not (Get-Command nft -ErrorAction Ignore)) { 'the masquerade rule is made with nft' }
}

Describe 'Watch-Packet | Find-SnatRemap on the incident (<Family>)' -ForEach $families {
    BeforeAll {
        if ($missing) { return }
        $lab = New-NatLab -Tag 'cap' -Router -Family $Family
        $pcap = Join-Path $TestDrive "ctt-$([guid]::NewGuid().ToString('N')).pcap"
        $server = Start-LabServer $lab

        # The capture starts first: flows are followed from their handshake. It runs like an operator's
        # 'Watch-Packet | Find-SnatRemap' and is stopped like Ctrl+C (Stop-Job calls StopProcessing).
        $capture = Start-CaptureJob -ArgumentList $lab, $pcap -ScriptBlock {
            param($Module, $Lab, $Pcap)
            Import-Module $Module
            Watch-Packet -NetworkNamespace $Lab.Router -InterfaceName $Lab.CaptureInterface -Filter "tcp port $($Lab.ServerPort)" -OutFile $Pcap -Verbose |
                Find-SnatRemap
        }

        $client = Start-LabClient $lab
        $localPorts = [int[]]((Invoke-ProcessCommand $client 'open 3') -split ' ')
        0..2 | ForEach-Object { Invoke-ProcessCommand $client "send $_" } | Out-Null
        $entries = @(Get-Conntrack -NetworkNamespace $lab.Client -Protocol tcp -DestinationPort $lab.ServerPort)
        $wirePort = @{}
        foreach ($e in $entries) { $wirePort[[int]$e.SourcePort] = [int]$e.TranslatedSourcePort }
        $kept = $localPorts[0]
        $lost = $localPorts[1..2]

        # What the unfixed kernel did on a VIP move: the masqueraded entries vanish while the flows are open.
        $entries | Where-Object SourcePort -In $lost | Remove-Conntrack -NetworkNamespace $lab.Client
        # The undisturbed flow sends first, so its segment is examined before the findings can appear.
        $sent = 0..2 | ForEach-Object { Invoke-ProcessCommand $client "send $_" }
        Wait-Until { $capture.Output.Count -ge 2 -or $capture.State -ne 'Running' } 'two findings from the live capture'
        $stateWhenFound = $capture.State
        Wait-Until { (Invoke-ProcessCommand $client 'state 1') -eq 'reset' -and (Invoke-ProcessCommand $client 'state 2') -eq 'reset' } 'the client to receive the resets'
        $clientStates = 0..2 | ForEach-Object { Invoke-ProcessCommand $client "state $_" }

        $socketsWhileCapturing = Get-PacketSocketCount $lab.Router
        Stop-Job $capture
        $socketsAfterStop = Get-PacketSocketCount $lab.Router
        $live = @(Receive-Job $capture)
        $packets = @(Read-PacketCapture $pcap)
        $fromFile = @(Read-PacketCapture $pcap | Find-SnatRemap)
    }

    AfterAll {
        if ($capture) { Remove-Job $capture -Force }
        Remove-NatLab $lab
        foreach ($p in $server, $client) { if ($p) { $p.Dispose() } }
        if ($pcap) { Remove-Item $pcap -ErrorAction Ignore }
    }

    BeforeEach {
        Assert-Prerequisite -Reason $missing
    }

    It 'reports exactly the flows whose conntrack entries were deleted, each reset by the server' {
        $live.OldSourcePort | Sort-Object | Should -Be ($lost | ForEach-Object { $wirePort[$_] } | Sort-Object)
        $live.ResetSeen | Should -Not -Contain $false
        $live.ResetTime | Should -Not -Contain $null
    }

    It 'writes each finding while the capture is still running' {
        $stateWhenFound | Should -Be 'Running'
    }

    It 'names a new source port that no flow had before the delete' {
        foreach ($f in $live) { $wirePort.Values | Should -Not -Contain $f.NewSourcePort }
    }

    It 'agrees with tcpdump reading the same capture: the segment from the new port and the RST answering it' {
        Assert-Prerequisite -Command tcpdump -CommandBecause 'to cross-check the capture'
        $lines = & tcpdump -r $pcap -nn -S 2>$null
        foreach ($f in $live) {
            $client = [regex]::Escape("$($f.ClientAddress).$($f.NewSourcePort)")
            $server = [regex]::Escape("$($f.ServerAddress).$($f.ServerPort)")
            @($lines -match "$client > ${server}: Flags \[P\.\], seq $($f.Sequence):").Count | Should -BeGreaterThan 0
            @($lines -match "$server > ${client}: Flags \[R\]").Count | Should -BeGreaterThan 0
        }
    }

    It 'carries the evidence: the handshake of the old port, the remapped segment, and the RST' {
        foreach ($f in $live) {
            $f.ClientAddress | Should -BeExactly ([ipaddress]$lab.ClientAddress).ToString()
            $f.ServerAddress | Should -BeExactly ([ipaddress]$lab.ServerAddress).ToString()
            $f.ServerPort | Should -Be $lab.ServerPort
            $f.Packets[0].TcpFlags | Should -Be ([ConntrackTools.TcpFlags]::Syn)
            $f.Packets[0].SourcePort | Should -Be $f.OldSourcePort
            $remapped = $f.Packets | Where-Object SourcePort -EQ $f.NewSourcePort
            $remapped.Sequence | Should -Be $f.Sequence
            $remapped.PayloadLength | Should -Be 1
            $f.Packets[-1].TcpFlags.HasFlag([ConntrackTools.TcpFlags]::Rst) | Should -BeTrue
            $f.Packets[-1].DestinationPort | Should -Be $f.NewSourcePort
        }
    }

    It 'reports nothing for the flow that kept its entry, although it sent data after the delete' {
        $keptWirePort = $wirePort[$kept]
        @($packets | Where-Object { $_.SourcePort -eq $keptWirePort -and $_.PayloadLength -gt 0 }).Count | Should -Be 2
        $live.OldSourcePort | Should -Not -Contain $keptWirePort
    }

    It 'matches what the client saw: connection reset on exactly the disturbed flows' {
        $sent | Should -Be @('sent', 'sent', 'sent')
        $clientStates | Should -Be @('open', 'reset', 'reset')
    }

    It 'closes the capture device when stopped like Ctrl+C' {
        $socketsWhileCapturing | Should -Be 1
        $capture.State | Should -Be 'Stopped'
        $socketsAfterStop | Should -Be 0
    }

    It 'finds the same remaps in its -OutFile read back with Read-PacketCapture' {
        $key = { '{0}>{1} seq {2} reset {3}' -f $_.OldSourcePort, $_.NewSourcePort, $_.Sequence, $_.ResetSeen }
        $fromFile | ForEach-Object $key | Sort-Object | Should -Be ($live | ForEach-Object $key | Sort-Object)
    }

    It 'writes an -OutFile that tcpdump reads' {
        Assert-Prerequisite -Command tcpdump -CommandBecause 'to cross-check the file'
        $lines = @(& tcpdump -r $pcap -nn 2>$null)
        $LASTEXITCODE | Should -Be 0
        $lines.Count | Should -Be $packets.Count
    }
}

Describe 'Watch-Packet and Read-PacketCapture between two namespaces' {
    BeforeAll {
        if ($missing) { return }
        $a = New-TestNamespace 'pa'
        $b = New-TestNamespace 'pb'
        Invoke-Checked ip -n $a link add a0 type veth peer name b0 netns $b | Out-Null
        Invoke-Checked ip -n $a addr add 10.77.0.1/24 dev a0 | Out-Null
        Invoke-Checked ip -n $b addr add 10.77.0.2/24 dev b0 | Out-Null
        Invoke-Checked ip -n $a link set a0 up | Out-Null
        Invoke-Checked ip -n $b link set b0 up | Out-Null
        # Steady traffic to capture: a datagram to 10.77.0.1:9 every 20 ms.
        $sender = Start-Traffic $b @('send', '10.77.0.1', '9', '--count', '0', '--interval', '0.02', '--payload', 'ping')
        $dir = Join-Path $TestDrive "ctt-$([guid]::NewGuid().ToString('N'))"
        New-Item -ItemType Directory $dir | Out-Null
        $file = Join-Path $dir 'udp.pcap'
        $captured = @(Watch-Packet -NetworkNamespace $a -InterfaceName a0 -Filter 'udp port 9' -Count 10 -OutFile $file)
    }

    AfterAll {
        Remove-TestNamespace $a, $b
        if ($sender) { $sender.Dispose() }
        if ($dir) { Remove-Item $dir -Recurse -Force -ErrorAction Ignore }
    }

    BeforeEach {
        Assert-Prerequisite -Reason $missing
    }

    It '-Count stops after that many packets, captured in the namespace given' {
        $captured.Count | Should -Be 10
        $captured | ForEach-Object {
            $_.Interface | Should -Be 'a0'
            $_.Protocol | Should -Be 'udp'
            $_.SourceAddress | Should -BeExactly '10.77.0.2'
            $_.DestinationPort | Should -Be 9
            $_.PayloadLength | Should -Be 4
        }
    }

    It '-Duration takes a number of seconds and ends the capture' {
        $p = @(Watch-Packet -NetworkNamespace $a -InterfaceName a0 -Filter 'udp port 9' -Duration 0.5)
        $p.Count | Should -BeGreaterThan 0
    }

    It 'Read-PacketCapture gives back what Watch-Packet saw' {
        $read = @(Read-PacketCapture $file)
        $read | ForEach-Object { '{0:o} {1} {2}' -f $_.Timestamp, $_.SourcePort, $_.Length } |
            Should -Be ($captured | ForEach-Object { '{0:o} {1} {2}' -f $_.Timestamp, $_.SourcePort, $_.Length })
        @($read | Where-Object { $null -ne $_.Interface }).Count | Should -Be 0 -Because 'a pcap file does not record the interface'

    }

    It 'shows packets like tcpdump by default' {
        $text = Read-PacketCapture $file | Select-Object -First 1 | Out-String
        $text | Should -Match '10\.77\.0\.2:\d+ > 10\.77\.0\.1:9: UDP, length 4'
    }

    It 'skips frames that are not IP, but saves them to -OutFile' {
        $arpFile = Join-Path $dir 'arp.pcap'
        $job = Start-CaptureJob -ArgumentList $a, $arpFile -ScriptBlock {
            param($Module, $Namespace, $Path)
            Import-Module $Module
            Watch-Packet -NetworkNamespace $Namespace -InterfaceName a0 -Filter 'arp or udp port 7' -OutFile $Path -Verbose
        }
        try {
            # An empty neighbour cache makes the next datagram start with an ARP exchange.
            Invoke-Checked ip -n $b neigh flush all | Out-Null
            Invoke-Traffic $b send 10.77.0.1 7 | Out-Null
            Wait-Until { $job.Output.Count -ge 1 -or $job.State -ne 'Running' } 'the datagram to port 7'
        }
        finally {
            Stop-Job $job
        }
        $packets = @(Receive-Job $job)
        Remove-Job $job
        $packets.Protocol | Should -Be @('udp')
        $packets.DestinationPort | Should -Be @(7)
        $saved = @(& tcpdump -r $arpFile -nn 2>$null)
        @($saved -match 'ARP').Count | Should -BeGreaterThan 0
        @(Read-PacketCapture $arpFile).Count | Should -Be ($saved.Count - @($saved -match 'ARP').Count)
    }

    It 'warns at the end when libpcap had to drop packets' {
        # A flood the pipeline cannot take: on the first packet the pipeline stops reading until the flooder has sent
        # another 200,000 datagrams, far more than the capture ring and the reader's queue (16,384 packets) hold.
        $flooder = Start-Traffic $b @('flood', '10.77.0.1', '5')
        try {
            $blocked = $false
            Watch-Packet -NetworkNamespace $a -InterfaceName a0 -Filter 'udp port 5' -Duration 1 -WarningVariable warnings -WarningAction SilentlyContinue |
                ForEach-Object { if (-not $blocked) { $blocked = $true; Invoke-ProcessCommand $flooder 'flood' -TimeoutSeconds 60 | Should -Be 'flooded' } }
        }
        finally {
            $flooder.Kill()
            $flooder.Dispose()
        }
        $warnings.Count | Should -Be 1
        "$($warnings[0])" | Should -Match 'libpcap reports [1-9]\d* packets dropped because the capture buffer was full'
    }

    It 'reads a capture cut short up to the damage, with a warning' {
        $bytes = [System.IO.File]::ReadAllBytes($file)
        $cut = Join-Path $dir 'cut.pcap'
        [System.IO.File]::WriteAllBytes($cut, $bytes[0..($bytes.Length - 6)])
        $read = @(Read-PacketCapture $cut -WarningVariable warnings -WarningAction SilentlyContinue)
        $read.Count | Should -Be 9
        $warnings.Count | Should -Be 1
        "$($warnings[0])" | Should -Match 'damaged after 9 frames'
    }

    It 'reads every file of a wildcard, and files piped from Get-ChildItem' {
        Copy-Item $file (Join-Path $dir 'udp-copy.pcap')
        @(Read-PacketCapture (Join-Path $dir 'udp*.pcap')).Count | Should -Be 20
        @(Get-ChildItem $dir -Filter 'udp*.pcap' | Read-PacketCapture).Count | Should -Be 20
    }

    It 'applies a BPF -Filter while reading' {
        @(Read-PacketCapture $file -Filter 'udp port 9').Count | Should -Be 10
        @(Read-PacketCapture $file -Filter 'tcp').Count | Should -Be 0
    }

    It 'reports a missing file as CaptureFileNotFound' {
        { Read-PacketCapture (Join-Path $dir 'none.pcap') -ErrorAction Stop } |
            Should -Throw -ErrorId 'CaptureFileNotFound,ConntrackTools.Commands.ReadPacketCaptureCommand'
    }

    It 'reports a file that is not a capture as InvalidCaptureFile (InvalidData)' {
        $text = Join-Path $dir 'notes.pcap'
        Set-Content $text 'this is not a capture'
        { Read-PacketCapture $text -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidCaptureFile,ConntrackTools.Commands.ReadPacketCaptureCommand'
        $err = $null
        Read-PacketCapture $text -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'reports an interface the namespace does not have as InterfaceNotFound' {
        { Watch-Packet -NetworkNamespace $a -InterfaceName eth0 -Count 1 } | Should -Throw -ErrorId 'InterfaceNotFound,ConntrackTools.Commands.WatchPacketCommand'
    }

    It 'reports a filter libpcap cannot compile as InvalidFilter' {
        { Watch-Packet -NetworkNamespace $a -InterfaceName a0 -Filter 'udp port' -Count 1 } | Should -Throw -ErrorId 'InvalidFilter,ConntrackTools.Commands.WatchPacketCommand'
        { Read-PacketCapture $file -Filter 'udp port' } | Should -Throw -ErrorId 'InvalidFilter,ConntrackTools.Commands.ReadPacketCaptureCommand'
    }

    It 'reports a network namespace that does not exist as NetworkNamespaceNotFound' {
        { Watch-Packet -NetworkNamespace 'ctt-none-000000' -InterfaceName a0 -Count 1 } |
            Should -Throw -ErrorId 'NetworkNamespaceNotFound,ConntrackTools.Commands.WatchPacketCommand'
    }

    It 'reports an -OutFile that cannot be created as CannotWriteCaptureFile' {
        { Watch-Packet -NetworkNamespace $a -InterfaceName a0 -Count 1 -OutFile (Join-Path $dir 'no/such/dir.pcap') } |
            Should -Throw -ErrorId 'CannotWriteCaptureFile,ConntrackTools.Commands.WatchPacketCommand'
    }

    It 'rejects a -Duration that is not positive' {
        { Watch-Packet -NetworkNamespace $a -InterfaceName a0 -Duration 0 } | Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.WatchPacketCommand'
    }
}

Describe 'Find-SnatRemap parameters' {
    It 'rejects an -IdleTimeout that is not positive' {
        { @() | Find-SnatRemap -IdleTimeout 0 } | Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.FindSnatRemapCommand'
    }

    It 'rejects a negative -ResetTimeout' {
        { @() | Find-SnatRemap -ResetTimeout -1 } | Should -Throw -ErrorId 'InvalidArgument,ConntrackTools.Commands.FindSnatRemapCommand'
    }
}
