# Compares Read-PacketCapture with tshark, field by field, on the same capture files.
# The same field list is used to record golden data (tests/ConntrackTools.Tests/Captures/*.tshark.tsv) and for the
# differential test over a folder of captures (CaptureDifferential.Tests.ps1).

# tshark's fields, in the order of the TSV columns; the first occurrence of each (the outermost header).
$script:TsharkFields = @(
    'frame.number', 'frame.len', 'frame.cap_len', 'frame.time_epoch',
    'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst',
    'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.window_size_value', 'tcp.len',
    'udp.srcport', 'udp.dstport'
)

function Get-TsharkField {
    <# The tshark field list, for recording golden data by hand. #>
    $script:TsharkFields
}

function Invoke-Tshark {
    <# Runs tshark over one file and returns one hashtable per frame, keyed by frame number. #>
    param([Parameter(Mandatory)][string]$Path)
    # Without reassembly: each frame's own headers (a later IP fragment has no ports of its own).
    $arguments = @('-n', '-r', $Path, '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f')
    foreach ($f in $script:TsharkFields) { $arguments += @('-e', $f) }
    $lines = & tshark @arguments 2>$null
    ConvertFrom-TsharkTsv -Line $lines
}

function ConvertFrom-TsharkTsv {
    param([AllowEmptyCollection()][AllowNull()][string[]]$Line)
    $frames = @{}
    foreach ($l in $Line) {
        if ([string]::IsNullOrWhiteSpace($l)) { continue }
        $values = $l -split "`t"
        $row = @{}
        for ($i = 0; $i -lt $script:TsharkFields.Count; $i++) {
            $row[$script:TsharkFields[$i]] = if ($i -lt $values.Count) { $values[$i] } else { '' }
        }
        $frames[[long]$row['frame.number']] = $row
    }
    $frames
}

function Format-Epoch {
    <# A DateTime as seconds since the epoch with 7 decimals (DateTime's 100 ns resolution). #>
    param([datetime]$Time)
    $ticks = $Time.ToUniversalTime().Ticks - [datetime]::UnixEpoch.Ticks
    '{0}.{1:D7}' -f [long][math]::DivRem($ticks, 10000000L).Item1, ($ticks % 10000000L)
}

function Compare-PacketWithTshark {
    <#
    Compares our packets with tshark's rows for the same frames. Returns the mismatches as objects (File, Frame, Field,
    Ours, Tshark). Compared: for every TCP and UDP packet we emit, addresses, ports, TCP flags, sequence, ack, window and
    payload length, the wire and captured lengths and the timestamp (to 100 ns).
    #>
    param(
        [Parameter(Mandatory)][string]$File,
        [Parameter(Mandatory)][AllowEmptyCollection()][object[]]$Packet,
        [Parameter(Mandatory)][hashtable]$Tshark
    )
    foreach ($p in $Packet) {
        if ($p.Protocol -notin 'tcp', 'udp') { continue }
        $row = $Tshark[[long]$p.FrameNumber]
        if ($null -eq $row) {
            [pscustomobject]@{ File = $File; Frame = $p.FrameNumber; Field = 'frame'; Ours = "$($p.Protocol) packet"; Tshark = '(no such frame)' }
            continue
        }
        $v6 = "$($p.AddressFamily)" -eq 'IPv6'
        $expected = [ordered]@{
            Length          = $row['frame.len']
            CapturedLength  = $row['frame.cap_len']
            Timestamp       = if ($row['frame.time_epoch'] -match '^(\d+)\.(\d{1,7})') { '{0}.{1}' -f $Matches[1], $Matches[2].PadRight(7, '0') } else { $row['frame.time_epoch'] }
            SourceAddress   = if ($v6) { $row['ipv6.src'] } else { $row['ip.src'] }
            DestinationAddress = if ($v6) { $row['ipv6.dst'] } else { $row['ip.dst'] }
        }
        if ($p.Protocol -eq 'tcp') {
            $expected.SourcePort = $row['tcp.srcport']
            $expected.DestinationPort = $row['tcp.dstport']
            $expected.TcpFlags = if ($row['tcp.flags']) { [string]([Convert]::ToInt32($row['tcp.flags'], 16) -band 0xff) } else { '' }
            $expected.Sequence = $row['tcp.seq_raw']
            $expected.Acknowledgment = $row['tcp.ack_raw']
            $expected.Window = $row['tcp.window_size_value']
            $expected.PayloadLength = $row['tcp.len']
        }
        else {
            $expected.SourcePort = $row['udp.srcport']
            $expected.DestinationPort = $row['udp.dstport']
        }
        $ours = @{
            Length = "$($p.Length)"; CapturedLength = "$($p.CapturedLength)"; Timestamp = Format-Epoch $p.Timestamp
            SourceAddress = "$($p.SourceAddress)"; DestinationAddress = "$($p.DestinationAddress)"
            SourcePort = "$($p.SourcePort)"; DestinationPort = "$($p.DestinationPort)"
            TcpFlags = if ($null -ne $p.TcpFlags) { [string][int]$p.TcpFlags } else { '' }
            Sequence = "$($p.Sequence)"; Acknowledgment = "$($p.Acknowledgment)"; Window = "$($p.Window)"; PayloadLength = "$($p.PayloadLength)"
        }
        foreach ($field in $expected.Keys) {
            $theirs = $expected[$field]
            # tshark leaves a field empty where it stopped dissecting (a header cut short or bogus): nothing to compare.
            if ([string]::IsNullOrEmpty($theirs)) { continue }
            if ($ours[$field] -ne $theirs) {
                [pscustomobject]@{ File = $File; Frame = $p.FrameNumber; Field = $field; Ours = $ours[$field]; Tshark = $theirs }
            }
        }
    }
}

function Compare-CaptureFolder {
    <#
    Reads every capture file under -Path with Read-PacketCapture and with tshark and compares them. Returns one summary
    object: Files, Packets (TCP/UDP packets compared), Mismatches (the list), Errors (files Read-PacketCapture refused,
    with the error id), Warnings (count).
    #>
    param([Parameter(Mandatory)][string]$Path)
    $files = Get-ChildItem -LiteralPath $Path -File | Where-Object Name -Match '\.(pcap|pcapng|cap)\d*$' | Sort-Object Name
    $mismatches = [System.Collections.Generic.List[object]]::new()
    $errors = [System.Collections.Generic.List[object]]::new()
    $packets = 0L
    $warnings = 0
    foreach ($f in $files) {
        $errs = $null; $warns = $null
        $ours = @(Read-PacketCapture -LiteralPath $f.FullName -ErrorVariable errs -ErrorAction SilentlyContinue -WarningVariable warns -WarningAction SilentlyContinue)
        foreach ($e in $errs) { $errors.Add([pscustomobject]@{ File = $f.Name; ErrorId = $e.FullyQualifiedErrorId; Category = "$($e.CategoryInfo.Category)"; Message = $e.Exception.Message }) }
        $warnings += @($warns).Count
        $compared = @($ours | Where-Object { $_.Protocol -in 'tcp', 'udp' })
        if ($compared.Count -eq 0) { continue }
        $packets += $compared.Count
        $tshark = Invoke-Tshark -Path $f.FullName
        foreach ($m in Compare-PacketWithTshark -File $f.Name -Packet $compared -Tshark $tshark) { $mismatches.Add($m) }
    }
    [pscustomobject]@{ Files = $files.Count; Packets = $packets; Mismatches = $mismatches; Errors = $errors; Warnings = $warnings }
}

Export-ModuleMember -Function Get-TsharkField, Invoke-Tshark, ConvertFrom-TsharkTsv, Compare-PacketWithTshark, Compare-CaptureFolder, Format-Epoch
