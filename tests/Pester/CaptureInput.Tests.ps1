#Requires -Version 7.4
<#
    Read-PacketCapture's input and Watch-Packet's -OutFile and NFLOG, end to end: several files with a bad one among
    them, warnings that say what was read, directories, FIFOs, standard input, Ctrl+C, -OutFile's file safety, and
    `Watch-Packet -InterfaceName nflog:N` in a private ctt- namespace. The captures are our own recordings
    (tests/ConntrackTools.Tests/Captures, made by make-captures.py).
#>

BeforeDiscovery {
    $warningCases = @(
        @{ File = 'malformed.pcap'; Packets = 2; Pattern = '4 of 6 frames could not be decoded .* the first is frame 2' }
        @{ File = 'time-2038-2106.pcap'; Packets = 3; Pattern = '1 with an impossible timestamp.* the first is frame 3' }
        @{ File = 'truncated.pcap'; Packets = 3; Pattern = 'damaged after 3 frames \(it is cut short inside frame 4.*the 3 IP packets before the damage were read' }
        @{ File = 'record-4gb.pcap'; Packets = 5; Pattern = 'damaged after 5 frames \(frame 6 claims 4294967295 captured bytes.*the 5 IP packets before the damage were read' }
        @{ File = 'unsupported-usb.pcap'; Packets = 0; Pattern = 'yielded no IP packet: its link type \(USB_LINUX_MMAPPED\) is not supported' }
        @{ File = 'arp-only.pcap'; Packets = 0; Pattern = 'yielded no IP packet: none of its frames is an IP packet' }
        @{ File = 'macsec.pcap'; Packets = 2; Pattern = $null }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $captures = Join-Path $PSScriptRoot '../ConntrackTools.Tests/Captures'
    $dir = Join-Path ([IO.Path]::GetTempPath()) "ctt-input-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    New-Item -ItemType Directory $dir | Out-Null
    $good = Join-Path $captures 'ethernet.pcap'          # 18 IP packets
    $other = Join-Path $captures 'linux-sll2.pcap'       # 18 IP packets
    $pwsh = Get-PwshCommand
}

AfterAll {
    if ($dir) { Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction Ignore }
}

Describe 'Read-PacketCapture over several files' {
    It 'keeps reading after a file that cannot be read: a non-terminating error with our id, category and the path' {
        $bad = Join-Path $dir 'bad.pcap'
        Set-Content -LiteralPath $bad 'not a capture'
        $errs = $null
        $count = (Read-PacketCapture $good, $bad, $other -ErrorVariable errs -ErrorAction SilentlyContinue | Measure-Object).Count
        $count | Should -Be 36
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'InvalidCaptureFile,ConntrackTools.Commands.ReadPacketCaptureCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $errs[0].TargetObject | Should -Be $bad
    }

    It 'reads wildcards, paths piped by value, and files piped from Get-ChildItem' {
        @(Read-PacketCapture (Join-Path $captures 'raw-ipv*.pcap')).Count | Should -Be 18
        @($good, $other | Read-PacketCapture).Count | Should -Be 36
        @(Get-ChildItem $captures -Filter 'raw-ipv*.pcap' | Read-PacketCapture).Count | Should -Be 18
    }

    It 'says "is a directory" for a directory, not "not found"' {
        $errs = $null
        Read-PacketCapture -LiteralPath $dir -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -Be 'InvalidCaptureFile,ConntrackTools.Commands.ReadPacketCaptureCommand'
        $errs[0].Exception.Message | Should -Match 'it is a directory'
    }

    It 'refuses a device with a clear error' {
        { Read-PacketCapture -LiteralPath /dev/zero -ErrorAction Stop } | Should -Throw '*character device*'
    }

    It '<File>: <Packets> packets, and a warning that says what was read' -ForEach $warningCases {
        $warnings = $null
        $read = @(Read-PacketCapture (Join-Path $captures $File) -WarningVariable warnings -WarningAction SilentlyContinue)
        $read.Count | Should -Be $Packets
        if ($Pattern) {
            $warnings.Count | Should -Be 1
            "$($warnings[0])" | Should -Match $Pattern
        }
        else { $warnings.Count | Should -Be 0 }
    }

    It '-Decapsulate reports the pods'' flows inside GRE, VXLAN and Geneve' {
        $inner = @(Read-PacketCapture (Join-Path $captures 'tunnels.pcap') -Decapsulate)
        $inner.Encapsulation | Should -Be @('gre', 'gre', 'vxlan', 'geneve')
        $inner.SourceAddress | Select-Object -Unique | Should -Be '192.168.11.7'
    }
}

Describe 'Read-PacketCapture from a FIFO and standard input' {
    It 'reads a FIFO a writer fills later' {
        $fifo = Join-Path $dir 'live.fifo'
        & mkfifo $fifo
        # The writer opens the FIFO only after the reader is waiting on it.
        $script = Join-Path $dir 'writer.sh'
        Set-Content -LiteralPath $script "sleep 1; cat '$good' > '$fifo'"
        $writer = Start-Process -FilePath /bin/sh -ArgumentList $script -PassThru
        try { @(Read-PacketCapture -LiteralPath $fifo).Count | Should -Be 18 }
        finally { $writer.WaitForExit(10000) | Out-Null; Remove-Item -LiteralPath $fifo }
    }

    It 'reads standard input given as -, as from tcpdump -w -' {
        $script = "Import-Module '$env:CONNTRACKTOOLS_MODULE'; (Read-PacketCapture - | Measure-Object).Count"
        $out = & /bin/sh -c "cat '$good' | $($pwsh -join ' ') -NoProfile -Command `"$script`""
        $out | Should -Be 18
    }

    It 'stops promptly on Ctrl+C while waiting on a FIFO no one writes to' {
        $fifo = Join-Path $dir 'quiet.fifo'
        & mkfifo $fifo
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$env:CONNTRACKTOOLS_MODULE'; Read-PacketCapture -LiteralPath '$fifo'")
            $handle = $ps.BeginInvoke()
            Start-Sleep -Milliseconds 700
            $ps.InvocationStateInfo.State | Should -Be 'Running'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()      # what Ctrl+C does: StopProcessing
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 2
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally { $ps.Dispose(); Remove-Item -LiteralPath $fifo }
    }
}

Describe 'Watch-Packet -OutFile and NFLOG' {
    BeforeAll {
        $missing = if (-not (Test-IsRoot)) { 'capturing needs root' }
        elseif (-not (Get-Command nft -ErrorAction Ignore)) { 'the NFLOG rule is made with nft' }
        elseif (-not (Test-Path /usr/bin/python3)) { 'the test traffic is made with /usr/bin/python3' }
        if ($missing) { return }
        $ns = New-TestNamespace -Tag 'outf'
        # Every UDP datagram to port 9999 inside the namespace is logged to NFLOG group 7.
        "table inet cttlog {`n chain out {`n  type filter hook output priority 0;`n  udp dport 9999 log group 7`n }`n}`n" |
            & ip netns exec $ns nft -f -
        function Start-Sender {
            Start-Traffic $ns @('send', '127.0.0.1', '9999', '--count', '40', '--interval', '0.1', '--payload', 'ctt')
        }
    }
    AfterAll { if ($ns) { Remove-TestNamespace $ns } }
    BeforeEach { Assert-Prerequisite -Reason $missing }

    It 'captures NFLOG group N as netfilter sees it: Watch-Packet -InterfaceName nflog:N' {
        $sender = Start-Sender
        try { $packets = @(Watch-Packet -NetworkNamespace $ns -InterfaceName nflog:7 -Count 3 -Duration 10) }
        finally { $sender.Kill(); $sender.Dispose() }
        $packets.Count | Should -Be 3
        $packets | ForEach-Object { "$($_.Protocol) $($_.DestinationAddress):$($_.DestinationPort) $($_.PayloadLength)" } | Select-Object -Unique |
            Should -Be 'udp 127.0.0.1:9999 3'
    }

    It 'creates -OutFile with mode 0600 and refuses to overwrite it without -Force' {
        $out = Join-Path $dir 'out.pcap'
        $sender = Start-Sender
        try { Watch-Packet -NetworkNamespace $ns -InterfaceName lo -Filter 'udp port 9999' -Count 2 -Duration 10 -OutFile $out | Out-Null }
        finally { $sender.Kill(); $sender.Dispose() }
        [int](Get-Item $out).UnixFileMode | Should -Be 384   # 0600
        @(Read-PacketCapture $out).Count | Should -BeGreaterOrEqual 2
        $before = (Get-Item $out).Length
        { Watch-Packet -NetworkNamespace $ns -InterfaceName lo -Count 1 -Duration 1 -OutFile $out } |
            Should -Throw -ErrorId 'CaptureFileExists,ConntrackTools.Commands.WatchPacketCommand'
        (Get-Item $out).Length | Should -Be $before
    }

    It 'overwrites with -Force, narrowing the mode to 0600' {
        $out = Join-Path $dir 'force.pcap'
        Set-Content -LiteralPath $out 'old content'
        & chmod 0644 $out
        Watch-Packet -NetworkNamespace $ns -InterfaceName lo -Duration 0.3 -OutFile $out -Force | Out-Null
        [int](Get-Item $out).UnixFileMode | Should -Be 384   # 0600
        @(Read-PacketCapture $out -ErrorAction Stop).Count | Should -Be 0
    }

    It 'never writes through a symbolic link planted at the path, even with -Force' {
        $target = Join-Path $dir 'victim.txt'
        Set-Content -LiteralPath $target 'keep me'
        $link = Join-Path $dir 'planted.pcap'
        New-Item -ItemType SymbolicLink -Path $link -Target $target | Out-Null
        foreach ($force in $false, $true) {
            { Watch-Packet -NetworkNamespace $ns -InterfaceName lo -Duration 0.3 -OutFile $link -Force:$force } |
                Should -Throw -ErrorId 'CannotWriteCaptureFile,ConntrackTools.Commands.WatchPacketCommand'
        }
        Get-Content -LiteralPath $target | Should -Be 'keep me'
    }

    It 'reports a path that cannot be written (/proc/version) as an error, not silence' {
        { Watch-Packet -NetworkNamespace $ns -InterfaceName lo -Duration 0.3 -OutFile /proc/version -Force } |
            Should -Throw -ErrorId 'CannotWriteCaptureFile,ConntrackTools.Commands.WatchPacketCommand'
        { Watch-Packet -NetworkNamespace $ns -InterfaceName lo -Duration 0.3 -OutFile /proc/version } |
            Should -Throw -ErrorId 'CaptureFileExists,ConntrackTools.Commands.WatchPacketCommand'
    }
}
